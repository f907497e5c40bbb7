// Server start-up and shutdown.
#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/home.h"
#include "common/seal.h"
#include "compute/local/local_target.h"
#include "net/http_server.h"
#include "scheduler/scheduler.h"
#include "scheduler/sweep_controller.h"
#include "server/api.h"
#include "server/log_store.h"
#include "server/studio.h"
#include "server/targets.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace ferry::server {

Status RunServer(const ServerOptions& o) {
  const std::string& home = o.home;
  FERRY_RETURN_IF_ERROR(MakeDirs(home));
  ::chmod(home.c_str(), 0700);
  std::string lock_path = HomePath(home, "server.lock");
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return ErrnoStatus("cannot open", lock_path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    auto info = ReadServerInfo(home);
    return Status::AlreadyExists(
        "a server is already running for workspace " + home +
        (info.ok() ? " at " + info->url + " (pid " + std::to_string(info->pid) + ")" : "") +
        "; stop it with 'ferry server stop'");
  }
  FERRY_ASSIGN_OR_RETURN(std::string token, EnsureSecretFile(HomePath(home, "token")));
  FERRY_ASSIGN_OR_RETURN(std::string secret, EnsureSecretFile(HomePath(home, "secret")));
  store::SqliteStoreOptions so_store;
  so_store.sync_every_commit = o.sync_every_commit;
  FERRY_ASSIGN_OR_RETURN(auto store,
                         store::OpenSqliteMetadataStore(HomePath(home, "ferry.db"), so_store));
  FERRY_ASSIGN_OR_RETURN(auto blobs, store::OpenFsBlobStore(HomePath(home, "blobs")));
  LogStore logs(HomePath(home, "runs"));
  const Clock& clock = DefaultClock();

  compute::LocalTargetOptions lo;
  lo.ferry_executable = JoinPath(ExecutableDir(), "ferry");
  lo.home = home;
  lo.max_concurrent_runs = o.local_max_concurrent;
  auto local = compute::MakeLocalTarget(lo);
  FERRY_RETURN_IF_ERROR(store->EnsureTarget({"local", "local", "{}", clock.Now()}));

  std::atomic<net::HttpServer*> http_ptr{nullptr};
  std::atomic<uint64_t> run_changes{0};
  // A run's changes are also announced on the workspace channel (Studio's run lists).
  auto notify = [&http_ptr, &run_changes](const std::string& channel) {
    const bool run = channel.rfind("run:", 0) == 0;
    if (run) ++run_changes;
    if (auto* h = http_ptr.load()) {
      h->Notify(channel);
      if (run) h->Notify(kRunsChannel);
    }
  };
  scheduler::SchedulerOptions so;
  so.token_for = [&secret](const std::string& id) { return RunToken(secret, id); };
  so.on_change = [&notify](const std::string& id) { notify(RunChannel(id)); };
  scheduler::Scheduler sched(store.get(), &clock, so);
  sched.AddTarget(local.get());
  scheduler::SweepController sweeps(store.get(), &sched, &clock, so.on_change);
  sched.SetBeforeCycle([&sweeps] { sweeps.Step(); });

  std::atomic<bool> stop{false};
  ApiDeps deps;
  deps.store = store.get();
  deps.blobs = blobs.get();
  deps.logs = &logs;
  deps.scheduler = &sched;
  FERRY_ASSIGN_OR_RETURN(Sealer sealer, Sealer::Open(HomePath(home, "seal.key")));
  std::atomic<int> http_port{0};
  TargetManagerDeps td;
  td.store = store.get();
  td.scheduler = &sched;
  td.clock = &clock;
  td.sealer = &sealer;
  td.home = home;
  td.ferry_executable = lo.ferry_executable;
  td.python_package_dir = FindPythonPackageDir();
  td.server_port = [&http_port] { return http_port.load(); };
  td.server_bind = o.bind_address;
  net::HttpServer* http_for_targets = nullptr;
  td.add_listener = [&http_for_targets](const std::string& address) -> Result<int> {
    if (!http_for_targets) return Status::Unavailable("the server is not listening yet");
    return http_for_targets->AddListener(address, 0);
  };
  TargetManager targets(td);
  deps.targets = &targets;
  deps.clock = &clock;
  UserDirectory users(store.get());
  FERRY_RETURN_IF_ERROR(users.Reload().WithContext("reading the workspace's users"));
  deps.users = &users;
  deps.workspace_token = token;
  deps.mlflow_artifact_root = o.default_artifact_root;
  if (!deps.mlflow_artifact_root.empty() &&
      deps.mlflow_artifact_root.find(':') == std::string::npos) {
    // A local path, as MLflow takes it: absolute, as a file URI.
    deps.mlflow_artifact_root = "file://" + AbsolutePath(deps.mlflow_artifact_root);
  }
  while (deps.mlflow_artifact_root.size() > 1 && deps.mlflow_artifact_root.back() == '/')
    deps.mlflow_artifact_root.pop_back();
  deps.run_secret = secret;
  deps.notify = notify;
  deps.shutdown = [&stop] { stop = true; };
  StudioFiles studio(StudioFiles::FindDir());
  deps.studio = &studio;
  deps.run_changes = &run_changes;
  Api api(std::move(deps));

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  net::HttpServerOptions ho;
  ho.bind_address = o.bind_address;
  ho.port = o.port;
  ho.threads = o.http_threads;
  ho.workers = o.http_workers;
  ho.bulk_workers = o.http_bulk_workers;
  ho.admit = [&api](net::HttpRequest& head) { return api.Admit(head); };
  ho.handler = [&api](net::HttpRequest& r) { return api.Handle(r); };
  FERRY_ASSIGN_OR_RETURN(auto http, net::HttpServer::Start(ho));
  http_ptr = http.get();
  http_for_targets = http.get();
  http_port = http->port();
  targets.LoadAll();
  std::string host =
      o.bind_address.find(':') != std::string::npos ? "[" + o.bind_address + "]" : o.bind_address;
  std::string url = "http://" + host + ":" + std::to_string(http->port());
  nlohmann::json info = {
      {"url", url}, {"pid", static_cast<int>(::getpid())}, {"port", http->port()}};
  FERRY_RETURN_IF_ERROR(WriteFileAtomic(HomePath(home, "server.json"), info.dump() + "\n", 0600));
  if (o.bind_address != "127.0.0.1" && o.bind_address != "::1" && o.bind_address != "localhost") {
    spdlog::warn("listening on {} (not loopback): every request needs the workspace token",
                 o.bind_address);
  }
  std::printf("ferry server listening on %s (workspace %s)\n", url.c_str(), home.c_str());
  if (studio.dir().empty())
    spdlog::info("Studio is not installed (build web/ with make); the API is served");
  std::fflush(stdout);
  sched.Start();

  while (!stop) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = ::sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  spdlog::info("ferry server stopping");
  // Only remove server.json if it is still ours.
  auto current = ReadServerInfo(home);
  if (current.ok() && current->pid == ::getpid()) ::unlink(HomePath(home, "server.json").c_str());
  sched.Stop();
  if (auto all = store->ListTargets(); all.ok()) {
    for (auto& t : *all) {
      if (t.name != "local") sched.RemoveTarget(t.name);  // stops their monitors and tunnels
    }
  }
  http_ptr = nullptr;
  http_for_targets = nullptr;
  http->Stop();
  return Status::Ok();
}

}  // namespace ferry::server
