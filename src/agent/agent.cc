// The agent (see agent.h): the steps of one run, in order. What each step uses lives in its
// own file: plan.h (the plan), spool.h (shipping logs and metrics), supervisor.h (the script's
// process), artifacts.h (outputs), server_api.h (every call to the server).
#include "agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "agent/artifacts.h"
#include "agent/container.h"
#include "agent/environment.h"
#include "agent/plan.h"
#include "agent/ranks.h"
#include "agent/run_data.h"
#include "agent/script_env.h"
#include "agent/server_api.h"
#include "agent/snapshot.h"
#include "agent/spool.h"
#include "agent/stop_signal.h"
#include "agent/supervisor.h"
#include "agent/workdir.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/home.h"
#include "common/subprocess.h"
#include "model/manifest.h"
#include "model/run.h"
#include "model/run_options.h"
#include "store/blob_store.h"

extern char** environ;

namespace ferry::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// FERRY_WORKDIR_POOL: finished working copies kept per node for reuse (default 2; 0: none).
int WorkdirPoolCapacity() {
  const char* v = std::getenv("FERRY_WORKDIR_POOL");
  if (!v || !*v) return 2;
  return std::max(0, std::atoi(v));
}

// FERRY_KEEP_WORK_DIRS=1 keeps working copies for debugging.
bool KeepWorkDirs() {
  const char* keep = std::getenv("FERRY_KEEP_WORK_DIRS");
  return keep && std::string(keep) == "1";
}

bool Preemptible() {
  const char* p = std::getenv("FERRY_PREEMPTIBLE");
  return p && std::string(p) == "1";
}

class Agent {
 public:
  Agent(const AgentOptions& o, ServerApi* server, ScriptRunner* runner)
      : o_(o),
        server_(*server),
        runner_(*runner),
        work_(JoinPath(o.home, "work/" + o.run_id + RankSuffix(o.rank))),
        agent_dir_(JoinPath(o.home, "work/" + o.run_id + RankSuffix(o.rank) + ".agent")),
        capture_path_(JoinPath(agent_dir_, "std_log.txt")),
        metrics_path_(JoinPath(agent_dir_, "metrics.jsonl")),
        workcopy_record_(JoinPath(agent_dir_, "workcopy.record")),
        info_path_(JoinPath(agent_dir_, "info.txt")),
        pool_(JoinPath(o.home, "work/.reuse"), WorkdirPoolCapacity()),
        spool_({.capture_path = capture_path_,
                .metrics_path = metrics_path_,
                .base_path = JoinPath(agent_dir_, "spool.base"),
                .rank = o.rank},
               server, [this](const std::string& m) { AgentNote(m); }),
        snapshot_({.home = o.home, .blob_cache = o.blob_cache}, server,
                  [this](const std::string& m) { AgentNote(m); }) {}

  // The steps: each returns the agent's exit code when the run ended (or cannot go on) in it.
  int Run() {
    if (auto done = Start()) return *done;
    if (auto done = PrepareWorkingCopy()) return *done;
    if (auto done = PrepareRuntime()) return *done;
    SpawnOptions so;
    if (auto done = BuildCommand(&so)) return *done;
    if (o_.rank > 0) return RunWorker(so);
    return RunLeader(so);
  }

 private:
  // The plan; a run the cluster started again is Preparing again.
  std::optional<int> Start() {
    auto fetched = server_.GetPlan(o_.rank, std::chrono::minutes(10));
    if (!fetched.ok()) {
      std::fprintf(stderr, "ferry agent: cannot get the plan of run %s: %s\n", o_.run_id.c_str(),
                   fetched.status().ToString().c_str());
      return 2;
    }
    auto parsed = ParsePlan(*fetched, o_.rank);
    if (!parsed.ok()) {
      // A server this agent does not understand: say why, and end the run instead of leaving
      // it Preparing until the scheduler finds the agent gone.
      std::fprintf(stderr, "ferry agent: run %s: %s\n", o_.run_id.c_str(),
                   parsed.status().ToString().c_str());
      if (o_.rank == 0) {
        (void)server_.PostStatus(json{{"status", "Failed"},
                                      {"reason", "the agent cannot use the run's plan"},
                                      {"error", parsed.status().message()}});
      }
      return 2;
    }
    plan_ = std::move(parsed).value();
    // A requeued run (its node was lost) continues its log and metrics after the earlier
    // attempt's; the plan gives this rank's bases.
    spool_.SetBases(plan_.log_size, plan_.next_metric_seq);
    if (o_.rank > 0) (void)RemoveAll(JoinPath(agent_dir_, kRankDoneFile));  // an earlier attempt's
    if (StopRequested() || plan_.cancel_requested) {
      return Finish("Canceled", "canceled before the script started", {});
    }
    if (o_.rank == 0 && plan_.status == "Queued") {
      // The cluster started the job again after taking it back (preemption, node failure).
      Status prep = server_.PostStatus(json{{"status", "Preparing"},
                                            {"reason", "started again by the cluster (attempt " +
                                                           std::to_string(plan_.attempt) + ")"}});
      if (!prep.ok()) {
        std::fprintf(stderr, "ferry agent: run %s cannot restart: %s\n", o_.run_id.c_str(),
                     prep.ToString().c_str());
        return 3;
      }
    }
    return std::nullopt;
  }

  // What an earlier attempt left unshipped, the snapshot in a fresh working copy, and this
  // attempt's spool files.
  std::optional<int> PrepareWorkingCopy() {
    spool_.Recover();
    Status st = MakeDirs(agent_dir_);
    if (st.ok()) {
      auto stats = snapshot_.Materialize(plan_.manifest_id, pool_, work_, workcopy_record_);
      if (stats.ok()) workdir_stats_ = *stats;
      st = stats.status();
    }
    if (StopRequested())
      return Finish("Canceled", "canceled while the working directory was prepared", {});
    if (!st.ok()) return Finish("Failed", "preparing the working directory failed", st.message());

    capture_.Reset(
        ::open(capture_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
    if (!capture_.valid()) {
      return Finish("Failed", "cannot create the log file",
                    ErrnoStatus("open", capture_path_, errno).message());
    }
    { UniqueFd m(::open(metrics_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)); }
    spool_.RecordBases();
    // How the run was prepared: not the script's output, so not in its log; uploaded with the
    // outputs as logs/ferry-agent.txt (on a remote host the agent's own log is out of reach).
    if (!snapshot_.note().empty()) Info(snapshot_.note());
    if (workdir_stats_.reused) {
      Info("working copy: reused one from this node (" + std::to_string(workdir_stats_.kept) +
           " files kept, " + std::to_string(workdir_stats_.written) + " written, " +
           std::to_string(workdir_stats_.removed) + " removed)");
    } else {
      Info("working copy: written (" + std::to_string(workdir_stats_.written) + " files)");
    }
    return std::nullopt;
  }

  // The run's options, its container image and its managed environment.
  std::optional<int> PrepareRuntime() {
    auto parsed = model::RunOptionsFromJson(plan_.run);
    if (!parsed.ok())
      return Finish("Failed", "the run's options are not valid", parsed.status().message());
    options_ = std::move(parsed).value();
    python_ = plan_.python;
    if (options_.docker.enabled) {
      auto c = PrepareContainer(options_.docker, o_.run_id, capture_.get());
      if (!c.ok()) {
        spool_.Drain();
        return Finish("Failed", "preparing the container failed", c.status().message());
      }
      container_ = std::move(c).value();
      container_->work_host = work_;
      container_->envs_host =
          JoinPath(o_.home, "envs/containers/" + container_->image_id.substr(0, 16));
      container_->metrics_host = metrics_path_;
      container_->python_pkg_host = FindPythonPackageDir();
      container_->gpus = plan_.gpu_ids;
      Status made = MakeDirs(container_->envs_host);
      if (!made.ok()) return Finish("Failed", "preparing the container failed", made.message());
    }
    if (!options_.environment.type.empty()) {
      // Managed environment: built (or reused) now, while the run is Preparing; its output
      // is the start of the run's log.
      auto env = PrepareEnvironment(python_, capture_.get());
      if (!env.ok()) {
        spool_.Drain();
        return Finish(
            "Failed", "building the environment failed",
            env.status().message() + "; last lines of the build log:\n" + TailOfCapture(20));
      }
      python_ = env->python;
      (void)WriteFileAtomic(JoinPath(agent_dir_, "freeze.txt"), env->freeze);
    }
    if (!options_.inputs.empty() || !options_.outputs.empty()) {
      auto data = PrepareRunData(options_, snapshot_,
                                 {.home = o_.home,
                                  .agent_dir = agent_dir_,
                                  .work = work_,
                                  .work_shown = container_ ? kContainerWork : work_},
                                 plan_.input_urls);
      if (StopRequested()) return Finish("Canceled", "canceled while its data was prepared", {});
      if (!data.ok())
        return Finish("Failed", "preparing the run's data failed", data.status().message());
      data_ = std::move(data).value();
      for (const auto& n : data_.notes) Info(n);
      if (container_) {
        container_->data_ro = data_.ro_mounts;
        container_->data_rw = data_.rw_mounts;
      }
    }
    return std::nullopt;
  }

  // The script's command line and environment.
  std::optional<int> BuildCommand(SpawnOptions* out) {
    SpawnOptions& so = *out;
    const std::vector<std::string> args = SubstituteDataArguments(plan_.arguments, data_);
    if (!options_.command.empty()) {
      // A CommandStep: its command line, with the run's arguments quoted after it, in a shell.
      std::string line = options_.command;
      for (const auto& a : args) {
        std::string quoted = "'";
        for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        line += " " + quoted + "'";
      }
      so.argv = {"/bin/sh", "-c", line};
    } else if (!options_.parallel.empty()) {
      // A ParallelRunStep: the driver runs the entry script's init()/run() over mini-batches
      // (python/ferry/_parallel_run.py); the step's arguments reach the entry script's argv.
      so.argv = {python_, "-m", "ferry._parallel_run", "--entry-script", plan_.script, "--"};
      so.argv.insert(so.argv.end(), args.begin(), args.end());
      so.env_set["FERRY_PARALLEL_CONFIG"] = options_.parallel;
    } else {
      so.argv = {python_, plan_.script};
      so.argv.insert(so.argv.end(), args.begin(), args.end());
    }
    so.cwd = work_;
    so.stdout_fd = capture_.get();
    so.stderr_fd = capture_.get();
    for (auto& [k, v] : options_.environment_variables) so.env_set[k] = v;
    if (options_.max_run_duration_seconds) max_duration_s_ = *options_.max_run_duration_seconds;
    for (const auto& [k, v] : data_.env) so.env_set[k] = v;
    so.env_set["FERRY_RUN_ID"] = o_.run_id;
    so.env_set["FERRY_ATTEMPT"] = std::to_string(plan_.attempt);
    // The checkpoint contract: a directory kept across attempts of this run (on a cluster it is
    // in the shared directory, so the next attempt finds it on any node).
    std::string ckpt = JoinPath(o_.home, "checkpoints/" + o_.run_id);
    if (MakeDirs(ckpt).ok()) so.env_set["FERRY_CHECKPOINT_DIR"] = ckpt;
    so.env_set["FERRY_RESUME_ATTEMPT"] = std::to_string(plan_.attempt);
    so.env_set["FERRY_EXPERIMENT"] = plan_.experiment;
    so.env_set["FERRY_METRICS_FILE"] = metrics_path_;
    // An unmodified script's mlflow.log_* calls land in this run (Ferry's MLflow API), unless
    // the run configuration points MLflow elsewhere itself.
    if (std::string url = server_.Url();
        !url.empty() && !plan_.mlflow_token.empty() &&
        !options_.environment_variables.count("MLFLOW_TRACKING_URI")) {
      so.env_set["MLFLOW_TRACKING_URI"] = url;
      so.env_set["MLFLOW_RUN_ID"] = o_.run_id;
      so.env_set["MLFLOW_TRACKING_TOKEN"] = plan_.mlflow_token;
      so.env_unset.push_back("MLFLOW_EXPERIMENT_ID");  // the run's experiment is the run's
      so.env_unset.push_back("MLFLOW_EXPERIMENT_NAME");
    }
    so.env_set["PYTHONUNBUFFERED"] = "1";
    so.env_unset.push_back("FERRY_RUN_TOKEN");
    std::string pkg = FindPythonPackageDir();
    if (container_) {
      // The script's environment is exactly what the run asks for plus Ferry's variables;
      // nothing of the node's leaks in. Devices, not CUDA_VISIBLE_DEVICES, select GPUs.
      std::map<std::string, std::string> env = so.env_set;
      env["FERRY_METRICS_FILE"] = kContainerMetrics;
      if (!container_->python_pkg_host.empty()) env["PYTHONPATH"] = kContainerPython;
      std::vector<std::string> command(so.argv.begin(), so.argv.end());
      so.argv = ContainerRunArgv(*container_, env, command);
      so.env_set.clear();
    } else {
      // Of the node's environment only the allow-list (script_env.h) reaches the script: the
      // server's own secrets and settings stay with it. Ferry's variables and the run's win.
      so.env_set = ScriptEnvironment(environ, so.env_set, so.env_unset);
      so.env_unset.clear();
      so.inherit_env = false;
      if (!pkg.empty()) {
        auto pp = so.env_set.find("PYTHONPATH");  // the run configuration's, if it sets one
        so.env_set["PYTHONPATH"] =
            pp != so.env_set.end() && !pp->second.empty() ? pkg + ":" + pp->second : pkg;
      }
    }
    if (options_.node_count > 1 || options_.communicator != "None") {
      Status dist = AddDistributedEnv(options_, o_.rank, &so.env_set);
      if (!dist.ok())
        return Finish("Failed", "the distributed launch could not be set up", dist.message());
    }
    so.die_with_parent = true;  // see ScriptRunner
    return std::nullopt;
  }

  ScriptGuard Guard() {
    ScriptGuard g;
    g.agent_dir = agent_dir_;
    if (container_) g.cleanup_argv = RemoveContainerArgv(*container_);
    g.note = [this](const std::string& m) { AgentNote(m); };
    return g;
  }

  Supervisor::Options SupervisorOptions() const {
    Supervisor::Options s;
    s.cancel_grace_s = o_.cancel_grace_s;
    s.max_duration_s = max_duration_s_;
    s.container = container_ ? &*container_ : nullptr;
    s.gpu_ids = plan_.gpu_ids;
    s.metrics_path = metrics_path_;
    return s;
  }

  // Rank 0: the script, its statuses, its outputs.
  int RunLeader(const SpawnOptions& so) {
    // The script is started, then Running reported while its interpreter starts up (tens of
    // milliseconds, against one round trip): the two overlap instead of adding up. A run the
    // server will not let run (canceled meanwhile) has its script stopped at once.
    auto child = runner_.Start(so, Guard());
    if (!child.ok())
      return Finish("Failed", "the script could not be started", child.status().message());
    Supervisor supervisor(SupervisorOptions(), &server_, &spool_,
                          [this](const std::string& m) { AgentNote(m); });
    Status running =
        server_.PostStatus(json{{"status", "Running"}, {"reason", "starting " + plan_.script}});
    if (!running.ok()) {
      supervisor.Stop(**child, SIGKILL);
      (*child)->Wait();
      (*child)->Unguard();
      if (container_) RemoveContainer(*container_);
      std::fprintf(stderr, "ferry agent: run %s cannot start: %s\n", o_.run_id.c_str(),
                   running.ToString().c_str());
      return 3;
    }
    int wait_status = supervisor.Supervise(**child);
    (*child)->Unguard();
    canceled_ = supervisor.canceled();
    timed_out_ = supervisor.timed_out();
    if (container_ && (canceled_ || timed_out_ || ExitCodeFromWaitStatus(wait_status) >= 125)) {
      RemoveContainer(*container_);  // the engine client may have died before its container
    }
    capture_.Reset();
    return Conclude(ExitCodeFromWaitStatus(wait_status));
  }

  // After the script ended: the last of the spool, the other ranks, the outputs and the final
  // status.
  int Conclude(int code) {
    server_.SetInterruptible(false);
    spool_.Drain();
    // The script's last lines, before notes about its outputs follow them in the log.
    const std::string tail = code != 0 ? TailOfCapture(20) : "";
    // The other ranks' ends: a rank that failed fails the run (Slurm then stops the others,
    // this one included, with a signal), and their last log bytes are shipped before the
    // final status is reported.
    std::string failed_rank = WaitForRanks(o_.home, o_.run_id, o_.rank, plan_.attempt, options_,
                                           [this](const std::string& m) { Info(m); });
    if (!failed_rank.empty() && !spool_.cancel_requested()) {
      (void)server_.PostStatus(json{{"status", "Finalizing"}, {"reason", failed_rank}});
      Status up = Upload(CollectArtifacts(work_, AgentFilesOf(), Note()), nullptr);
      spool_.Drain();  // notes about skipped outputs
      return Finish("Failed", failed_rank,
                    failed_rank + (up.ok() ? "" : "; collecting outputs failed: " + up.message()),
                    code);
    }
    if (canceled_ && !spool_.cancel_requested() && Preemptible() &&
        !CancelRequestedOnServer(server_)) {
      // Stopped by the cluster, not by a user: the job is being requeued and this run will be
      // started again; no final status (the scheduler shows it Preempted, then Queued).
      Info("stopped by the cluster (preempted or requeued); the script exited with code " +
           std::to_string(code));
      if (!KeepWorkDirs()) (void)pool_.Release(work_, workcopy_record_);
      return 0;
    }
    std::string why = canceled_ ? "canceled; script stopped with code " + std::to_string(code)
                                : "script exited with code " + std::to_string(code);
    auto files = CollectArtifacts(work_, AgentFilesOf(), Note());
    if (SmallOutputs(files)) {
      final_ = FinalReport{};  // not emplace(): clang 14 rejects it (nested struct with NSDMI)
      final_->finalizing_reason = why;
    } else {
      Status fin = server_.PostStatus(json{{"status", "Finalizing"}, {"reason", why}});
      if (!fin.ok()) {
        std::fprintf(stderr, "ferry agent: %s\n", fin.ToString().c_str());
        return 3;
      }
    }
    std::string upload_error;
    Status up = Upload(files, final_ ? &final_->artifacts : nullptr);
    if (!up.ok()) {
      upload_error = "collecting outputs failed: " + up.message();
      if (final_) final_->artifacts = json::array();  // nothing half-registered
    }
    spool_.Drain();  // notes about skipped outputs
    if (timed_out_) {
      std::string limit =
          "exceeded maxRunDurationSeconds (" + std::to_string(max_duration_s_) + " s)";
      return Finish(
          "Failed", limit,
          limit + "; the script was stopped" + (upload_error.empty() ? "" : "; " + upload_error),
          code);
    }
    if (canceled_) {
      return Finish(
          "Canceled",
          spool_.cancel_requested() ? "canceled by the user" : "the agent received a stop signal",
          upload_error, code);
    }
    if (code == 0 && upload_error.empty())
      return Finish("Completed", "script exited with code 0", "", code);
    std::string error = code != 0 ? "script exited with code " + std::to_string(code) +
                                        "; last lines of its output:\n" + tail
                                  : upload_error;
    return Finish(
        "Failed",
        code != 0 ? "script exited with code " + std::to_string(code) : "collecting outputs failed",
        error, code);
  }

  // Reports the final status (with Finalizing and the artifacts, after a quick finish) and
  // frees the working copy.
  int Finish(const std::string& status, const std::string& reason, const std::string& error,
             std::optional<int> exit_code = std::nullopt) {
    json body = {{"status", status}, {"reason", reason}};
    if (!error.empty()) body["error"] = error;
    if (exit_code) body["exit_code"] = *exit_code;
    if (final_) {
      // Running -> Finalizing -> status, with the artifacts, in one transaction.
      body["finalizing_reason"] = final_->finalizing_reason;
      if (!final_->artifacts.empty()) body["artifacts"] = final_->artifacts;
    }
    Status r = server_.PostStatus(body);
    if (!r.ok()) {
      std::fprintf(stderr, "ferry agent: reporting %s for run %s: %s\n", status.c_str(),
                   o_.run_id.c_str(), r.ToString().c_str());
      return 3;
    }
    // Everything the run produced is on the server now: free the working copy (a snapshot
    // can be large, and every run gets its own), kept for the next run on this node when the
    // pool has room (see workdir.h).
    if (!KeepWorkDirs()) {
      Status rm = pool_.Release(work_, workcopy_record_);
      if (!rm.ok()) std::fprintf(stderr, "ferry agent: %s\n", rm.ToString().c_str());
    }
    return 0;
  }

  // A worker node of a multi-node run: its rank's script, logs and metrics; no statuses
  // (the leader reports them) and no outputs. Its exit code is the script's, so Slurm ends
  // the job's other tasks when one rank fails (srun --kill-on-bad-exit).
  int RunWorker(const SpawnOptions& so) {
    auto child = runner_.Start(so, Guard());
    if (!child.ok()) {
      std::string why = "rank " + std::to_string(o_.rank) +
                        ": the script could not be started: " + child.status().message();
      AgentNote(why);
      spool_.Drain();
      WriteRankDone(agent_dir_, plan_.attempt, 127, why);
      return 127;
    }
    Supervisor supervisor(SupervisorOptions(), &server_, &spool_,
                          [this](const std::string& m) { AgentNote(m); });
    int wait_status = supervisor.Supervise(**child);
    (*child)->Unguard();
    canceled_ = supervisor.canceled();
    capture_.Reset();
    server_.SetInterruptible(false);
    spool_.Drain();
    int code = ExitCodeFromWaitStatus(wait_status);
    WriteRankDone(agent_dir_, plan_.attempt, canceled_ ? 0 : code,
                  code != 0 && !canceled_ ? TailOfCapture(20) : "");
    if (!KeepWorkDirs()) (void)pool_.Release(work_, workcopy_record_);
    return code;
  }

  Result<Environment> PrepareEnvironment(const std::string& python, int log_fd) {
    const model::EnvironmentSpec& spec = options_.environment;
    EnvironmentRequest er;
    er.base_python = python;
    er.type = spec.type;
    er.work_dir = work_;
    er.cache_dir = JoinPath(o_.home, "envs");
    er.log_fd = log_fd;
    if (container_) {
      er.exec = ContainerBuildExec(*container_);
      er.cache_dir = container_->envs_host;
    }
    if (!spec.file.empty()) {
      er.spec_path = JoinPath(work_, spec.file);
      er.spec_name = spec.file;
      er.spec_in_work = spec.file;
    } else {
      // A registered environment: its text travels in the run's options.
      er.spec_path =
          JoinPath(agent_dir_, spec.type == "conda" ? "environment.yml" : "requirements.txt");
      er.spec_name = "environment " + spec.name +
                     (spec.version > 0 ? ":" + std::to_string(spec.version) : std::string());
      FERRY_RETURN_IF_ERROR(WriteFileAtomic(er.spec_path, spec.content));
    }
    return EnsureEnvironment(er);
  }

  // Stores the artifacts: in the workspace's blob store when this node shares it, else on the
  // server.
  Status Upload(const std::vector<ArtifactFile>& files, json* manifest_out) {
    return UploadArtifacts(files, work_, server_, snapshot_.shared_blobs(), Note(), manifest_out);
  }

  AgentFiles AgentFilesOf() const {
    return {capture_path_, JoinPath(agent_dir_, "freeze.txt"), info_path_};
  }

  NoteFn Note() {
    return [this](const std::string& m) { AgentNote(m); };
  }

  // A fact about how the run was prepared: the agent's log and logs/ferry-agent.txt.
  void Info(const std::string& msg) {
    std::fprintf(stderr, "ferry agent: %s\n", msg.c_str());
    UniqueFd fd(
        ::open(info_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.valid()) (void)WriteAll(fd.get(), msg + "\n", info_path_);
  }

  // A note from the agent itself, in the run's log.
  void AgentNote(const std::string& msg) {
    std::string line = "[ferry agent] " + msg + "\n";
    if (capture_.valid()) {
      (void)WriteAll(capture_.get(), line, capture_path_);
    } else {
      UniqueFd fd(
          ::open(capture_path_.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (fd.valid()) (void)WriteAll(fd.get(), line, capture_path_);
    }
  }

  std::string TailOfCapture(int lines) {
    auto text = ReadFileTail(capture_path_, 16384);
    return text.ok() ? std::string(LastLines(*text, lines)) : std::string();
  }

  AgentOptions o_;
  ServerApi& server_;
  ScriptRunner& runner_;
  std::string work_, agent_dir_, capture_path_, metrics_path_;
  std::string workcopy_record_;
  std::string info_path_;
  WorkdirPool pool_;
  Spool spool_;
  Plan plan_;
  UniqueFd capture_;  // the script's stdout and stderr (and the agent's notes), until it ends
  Snapshot snapshot_;
  // A quick finish: Finalizing and the artifacts go with the final status (see SmallOutputs).
  struct FinalReport {
    std::string finalizing_reason;
    json artifacts = json::array();
  };
  std::optional<FinalReport> final_;
  WorkdirStats workdir_stats_;
  bool canceled_ = false, timed_out_ = false;
  int64_t max_duration_s_ = 0;
  model::RunOptions options_;
  RunData data_;
  std::string python_;
  std::optional<ContainerRun> container_;
};

}  // namespace

int LaunchDetachedAgent(const AgentOptions& options, const std::string& executable) {
  std::string token;
  char c;
  while (::read(0, &c, 1) == 1 && c != '\n') token += c;
  if (token.empty()) {
    std::fprintf(stderr, "ferry agent --detach: no run token on stdin\n");
    return 2;
  }
  std::string agent_dir = JoinPath(options.home, "work/" + options.run_id + ".agent");
  Status made = MakeDirs(agent_dir);
  if (!made.ok()) {
    std::fprintf(stderr, "ferry agent --detach: %s\n", made.ToString().c_str());
    return 2;
  }
  std::string log_path = JoinPath(agent_dir, "agent.log");
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.valid()) {
    std::fprintf(stderr, "ferry agent --detach: cannot create %s\n", log_path.c_str());
    return 2;
  }
  SpawnOptions so;
  so.argv = {executable, "--home", options.home, "agent", "--run-id", options.run_id};
  if (options.blob_cache) so.argv.push_back("--blob-cache");
  so.env_set["FERRY_RUN_TOKEN"] = token;
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  auto pid = SpawnDetached(so);
  if (!pid.ok()) {
    std::fprintf(stderr, "ferry agent --detach: %s\n", pid.status().ToString().c_str());
    return 2;
  }
  auto start = ProcessStartTime(*pid);
  auto boot = ReadFile("/proc/sys/kernel/random/boot_id");
  std::string boot_id = boot.ok() ? std::string(boot->substr(0, boot->find('\n'))) : "";
  std::printf(
      "%s\n",
      json{{"pid", *pid}, {"start_time", std::to_string(start.value_or(0))}, {"boot_id", boot_id}}
          .dump()
          .c_str());
  return 0;
}

int RunAgentWith(const AgentOptions& options, ServerApi* server, ScriptRunner* runner) {
  Agent agent(options, server, runner);
  return agent.Run();
}

int RunAgent(const AgentOptions& options) {
  if (!InstallStopSignals()) return 2;
  auto server = NewHttpServerApi(options.home, options.run_id, options.token);
  auto runner = NewProcessScriptRunner();
  return RunAgentWith(options, server.get(), runner.get());
}

}  // namespace ferry::agent
