// `ferry server` (foreground), `ferry server stop`, and the internal `ferry agent`.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/agent.h"
#include "cli/context.h"
#include "cli/verbs.h"
#include "common/crypto.h"
#include "common/fork_server.h"
#include "common/fs.h"
#include "common/home.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "server/server.h"

namespace ferry::cli {

void RegisterServer(CLI::App& app, Context& ctx, int* exit_code) {
  auto* server = app.add_subcommand("server", "Run the workspace server in the foreground");
  auto opts = std::make_shared<server::ServerOptions>();
  server->add_option("--port", opts->port, "TCP port; 0 picks a free one (written to server.json)");
  server->add_option("--bind", opts->bind_address, "Address to listen on (default 127.0.0.1)");
  server->add_option("--max-concurrent-runs", opts->local_max_concurrent,
                     "Runs at once on the local target (default: number of cores)");
  server->add_option(
      "--default-artifact-root", opts->default_artifact_root,
      "MLflow clients' experiments without an artifact_location keep artifacts here (a path or URI "
      "their clients reach themselves, as with mlflow server); default: Ferry's store");
  server->add_flag(
      "--sync-every-commit", opts->sync_every_commit,
      "fsync every logged metric, parameter and tag before answering (default: within 1 s; "
      "run lifecycle changes are always synced at once)");
  auto log = std::make_shared<LogOptions>();
  server->add_option("--log-level", log->level,
                     "debug, info, warn or error (default: $FERRY_LOG_LEVEL, else info)");
  server->add_option(
      "--log-format", log->format,
      "text, or json: one JSON object per line (default: $FERRY_LOG_FORMAT, else text)");
  server->callback([&ctx, opts, log, exit_code, server] {
    if (server->get_subcommands().empty()) {
      opts->home = ctx.home;
      auto settings = ResolveLogSettings(*log);
      if (!settings.ok()) {
        *exit_code = ReportUsageError(settings.status());
        return;
      }
      opts->log = *settings;
      Status st = server::RunServer(*opts);
      *exit_code = st.ok() ? kExitOk : ReportError(st);
    }
  });
  auto* stop =
      server->add_subcommand("stop", "Stop the workspace server cleanly (runs keep going)");
  stop->callback([&ctx, exit_code] {
    auto info = ReadServerInfo(ctx.home);
    if (!info.ok()) {
      std::printf("no server is running for %s\n", ctx.home.c_str());
      return;
    }
    auto start = ProcessStartTime(info->pid);
    if (!start || ::kill(info->pid, SIGTERM) != 0) {
      std::printf("no server is running for %s (stale server.json removed)\n", ctx.home.c_str());
      ::unlink((ctx.home + "/server.json").c_str());
      return;
    }
    for (int i = 0; i < 300 && ProcessAlive(info->pid, *start); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (ProcessAlive(info->pid, *start)) {
      *exit_code = ReportError(Status::Unavailable("server pid " + std::to_string(info->pid) +
                                                   " did not stop within 6 s"));
      return;
    }
    std::printf("stopped the server at %s\n", info->url.c_str());
  });

  auto* studio = app.add_subcommand(
      "studio", "Print the link that opens Ferry Studio (the web UI), signed in");
  studio->callback([&ctx, exit_code] {
    Status st = ctx.Connect();  // starts the workspace's server when none is running
    if (!st.ok()) {
      *exit_code = ReportError(st);
      return;
    }
    auto info = ReadServerInfo(ctx.home);
    const char* env_token = std::getenv("FERRY_TOKEN");
    auto token = env_token && *env_token ? Result<std::string>(std::string(env_token))
                                         : ReadSecretFile(HomePath(ctx.home, "token"));
    if (!info.ok() || !token.ok()) {
      *exit_code = ReportError(!info.ok() ? info.status() : token.status());
      return;
    }
    // The token rides in the fragment: browsers never send it to the server or in a Referer.
    std::string link = info->url + "/#token=" + *token;
    if (ctx.json_output()) {
      PrintJson({{"url", info->url}, {"link", link}});
      return;
    }
    std::printf("Ferry Studio: %s\n(the link holds your token; do not share it)\n", link.c_str());
  });

  // Started by the local target: forks agents on request (common/fork_server.h).
  auto* forks =
      app.add_subcommand("fork-server", "Internal: fork agents for the local target (reads stdin)");
  forks->group("");
  forks->callback([exit_code] {
    (void)Sha256Hex("");  // OpenSSL set up once here, not in every agent
    *exit_code = ServeForks(0, Main);
  });

  auto* agent = app.add_subcommand(
      "agent", "Internal: run one run on this node (started by a target driver)");
  agent->group("");  // hidden from help
  auto aopts = std::make_shared<agent::AgentOptions>();
  agent->add_option("--run-id", aopts->run_id)->required();
  agent->add_option("--cancel-grace", aopts->cancel_grace_s, "Seconds between SIGTERM and SIGKILL");
  agent->add_flag("--blob-cache", aopts->blob_cache,
                  "The home's blobs/ is this node's cache (remote hosts)");
  auto detach = std::make_shared<bool>(false);
  agent->add_flag("--detach", *detach,
                  "Read the run token from stdin, start the agent as a daemon, print its pid");
  agent->callback([&ctx, aopts, detach, exit_code] {
    aopts->home = ctx.home;
    const char* rank = std::getenv("FERRY_RANK");
    if ((!rank || !*rank) && std::getenv("SLURM_JOB_ID")) rank = std::getenv("SLURM_PROCID");
    if (rank && *rank) aopts->rank = std::atoi(rank);
    if (*detach) {
      aopts->home = AbsolutePath(aopts->home);  // the daemon does not keep this shell's directory
      *exit_code = agent::LaunchDetachedAgent(*aopts, JoinPath(ExecutableDir(), "ferry"));
      return;
    }
    const char* token = std::getenv("FERRY_RUN_TOKEN");
    std::string from_file;
    if ((!token || !*token) && std::getenv("FERRY_RUN_TOKEN_FILE")) {
      // Cluster jobs: the token is in a 0600 file in the shared directory, not in the job's
      // environment or on a command line that squeue/ps would show.
      auto t = ReadSecretFile(std::getenv("FERRY_RUN_TOKEN_FILE"));
      if (t.ok()) from_file = *t;
      token = from_file.c_str();
    }
    if (!token || !*token) {
      *exit_code = ReportError(Status::InvalidArgument(
          "FERRY_RUN_TOKEN is not set; the agent is started by the server"));
      return;
    }
    aopts->token = token;
    ::unsetenv("FERRY_RUN_TOKEN");
    ::unsetenv("FERRY_RUN_TOKEN_FILE");
    *exit_code = agent::RunAgent(*aopts);
  });
}

}  // namespace ferry::cli
