// Agent implementation (see agent.h).
#include "agent/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "agent/container.h"
#include "agent/environment.h"
#include "agent/script_env.h"
#include "agent/system_metrics.h"
#include "agent/workdir.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/home.h"
#include "common/subprocess.h"
#include "common/utf8.h"
#include "model/manifest.h"
#include "model/run.h"
#include "model/run_options.h"
#include "net/http_client.h"
#include "store/blob_store.h"

extern char** environ;

namespace ferry::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_term = 0;

void OnSignal(int sig) {
  if (sig == SIGTERM || sig == SIGINT) g_term = 1;
  int saved = errno;
  char c = static_cast<char>(sig);
  (void)!::write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

// JSON for the wire: a script's bytes (its output in an error, a tag) may be anything; invalid
// UTF-8 becomes U+FFFD instead of an exception that would end the agent.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Talks to the server, re-reading server.json after connection failures (the server may
// have restarted on another port) and retrying transient failures with backoff.
class ServerConn {
 public:
  ServerConn(std::string home, std::string run_id, std::string token)
      : home_(std::move(home)), run_id_(std::move(run_id)), token_(std::move(token)) {}

  // Sends one request, retrying transport failures and 5xx answers with backoff until
  // `patience` has passed (or the agent is stopping, or the home is gone). Returns the
  // first answer below 500.
  Result<net::HttpResponse> Send(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::chrono::seconds patience, int timeout_ms) {
    auto deadline = Clock::now() + patience;
    int backoff_ms = 20;
    for (;;) {
      Status st = Connect();
      if (st.ok()) {
        auto r = headers.empty() ? client_->Request(method, path, body, content_type, timeout_ms)
                                 : client_->RequestWithHeaders(method, path, headers, timeout_ms);
        if (r.ok() && r->status < 500) return r;
        st = r.ok() ? Status::Unavailable("server answered " + std::to_string(r->status)) : r.status();
        client_.reset();
      }
      if (Clock::now() >= deadline) return st;
      if (g_term && stop_on_term_) return Status::Unavailable("stopping");
      // A deleted workspace will never answer again: stop instead of retrying forever.
      if (!PathExists(home_)) return Status::Unavailable("the workspace home " + home_ + " no longer exists");
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 2000);
    }
  }

  // The server's URL as this node reaches it ("" when unknown).
  std::string Url() const {
    auto info = ReadServerInfo(home_);
    return info.ok() ? info->url : "";
  }

  // A JSON API call (see Send): the parsed JSON of a 2xx answer, or the server's error.
  Result<json> Call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json",
                    std::chrono::seconds patience = std::chrono::hours(24 * 365)) {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r, Send(method, path, body, content_type, {}, patience, 60000));
    json j = json::parse(r.body, nullptr, false);
    if (r.status < 300) return j.is_discarded() ? json::object() : j;
    last_error_body_ = j;
    return net::StatusFromResponse(r);
  }

  // The bytes of a blob; the run token reads blobs with X-Ferry-Run.
  Result<std::string> GetBlob(const std::string& hash) {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r, Send("GET", "/api/v1/blobs/" + hash, "", "", {{"X-Ferry-Run", run_id_}},
                                                     std::chrono::minutes(10), 300000));
    if (r.status != 200) return net::StatusFromResponse(r).WithContext("blob " + hash);
    return std::move(r.body);
  }

  // Many blobs in one request: records "<hash> <length>\n<bytes>" in the answer.
  Result<std::string> FetchBlobs(const std::vector<std::string>& hashes) {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                           Send("POST", RunPath("blobs/fetch"), Dump(json{{"hashes", hashes}}),
                                "application/json", {}, std::chrono::minutes(10), 300000));
    if (r.status != 200) return net::StatusFromResponse(r).WithContext("fetching blobs");
    return std::move(r.body);
  }

  std::string RunPath(const std::string& sub) const { return "/api/v1/runs/" + run_id_ + "/" + sub; }
  const json& last_error_body() const { return last_error_body_; }
  void set_stop_on_term(bool v) { stop_on_term_ = v; }

 private:
  Status Connect() {
    if (client_) return Status::Ok();
    auto info = ReadServerInfo(home_);
    if (!info.ok()) return Status::Unavailable("no server is running for " + home_);
    auto c = net::HttpClient::Create(info->url, token_);
    if (!c.ok()) return c.status();
    client_ = std::move(c).value();
    return Status::Ok();
  }

  std::string home_, run_id_, token_;
  std::unique_ptr<net::HttpClient> client_;
  json last_error_body_;
  bool stop_on_term_ = false;
};


// FERRY_WORKDIR_POOL: finished working copies kept per node for reuse (default 2; 0: none).
int WorkdirPoolCapacity() {
  const char* v = std::getenv("FERRY_WORKDIR_POOL");
  if (!v || !*v) return 2;
  return std::max(0, std::atoi(v));
}

// The ranks of a distributed run share the home (a cluster's shared directory): each has its
// own working copy and spool.
std::string RankSuffix(int rank) { return rank == 0 ? "" : ".rank" + std::to_string(rank); }

// A worker rank's last word, for the leader: written to its agent directory once its logs and
// metrics are on the server.
constexpr const char* kRankDone = "rank.done";

class Agent {
 public:
  explicit Agent(const AgentOptions& o)
      : o_(o), conn_(o.home, o.run_id, o.token),
        work_(JoinPath(o.home, "work/" + o.run_id + RankSuffix(o.rank))),
        agent_dir_(JoinPath(o.home, "work/" + o.run_id + RankSuffix(o.rank) + ".agent")),
        capture_path_(JoinPath(agent_dir_, "std_log.txt")),
        metrics_path_(JoinPath(agent_dir_, "metrics.jsonl")),
        workcopy_record_(JoinPath(agent_dir_, "workcopy.record")),
        info_path_(JoinPath(agent_dir_, "info.txt")),
        pool_(JoinPath(o.home, "work/.reuse"), WorkdirPoolCapacity()) {}

  int Run() {
    auto plan = conn_.Call("GET", conn_.RunPath("plan" + RankQuery('?')), "", "application/json",
                           std::chrono::minutes(10));
    if (!plan.ok()) {
      std::fprintf(stderr, "ferry agent: cannot get the plan of run %s: %s\n", o_.run_id.c_str(),
                   plan.status().ToString().c_str());
      return 2;
    }
    const json& run = (*plan)["run"];
    experiment_ = run.value("experiment", "");
    // A requeued run (its node was lost) continues its log and metrics after the earlier
    // attempt's. Each rank has its own log stream and its own range of metric sequence numbers
    // (rank << 40: the rank can be read back from them); the plan gives this rank's.
    log_base_ = (*plan).value("log_size", uint64_t{0});
    seq_base_ = (*plan).value("next_metric_seq", static_cast<int64_t>(o_.rank) << 40);
    attempt_ = run.value("attempt", 1);
    plan_mlflow_token_ = (*plan).value("mlflow_token", std::string());
    if (o_.rank > 0) (void)RemoveAll(JoinPath(agent_dir_, kRankDone));  // an earlier attempt's
    if (g_term || run.value("cancel_requested", false)) return Finish("Canceled", "canceled before the script started", {});
    if (o_.rank == 0 && run.value("status", "") == "Queued") {
      // The cluster started the job again after taking it back (preemption, node failure).
      auto prep =
          conn_.Call("POST", conn_.RunPath("status"),
                     Dump(json{{"status", "Preparing"},
                               {"reason", "started again by the cluster (attempt " +
                                              std::to_string(run.value("attempt", 1)) + ")"}}));
      if (!prep.ok()) {
        std::fprintf(stderr, "ferry agent: run %s cannot restart: %s\n", o_.run_id.c_str(), prep.status().ToString().c_str());
        return 3;
      }
    }

    RecoverSpool();
    Status st = Materialize((*plan)["manifest_id"].get<std::string>());
    if (g_term) return Finish("Canceled", "canceled while the working directory was prepared", {});
    if (!st.ok()) return Finish("Failed", "preparing the working directory failed", st.message());

    UniqueFd capture(::open(capture_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
    if (!capture.valid()) return Finish("Failed", "cannot create the log file", ErrnoStatus("open", capture_path_, errno).message());
    {
      UniqueFd m(::open(metrics_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    }
    RecordSpoolBases();
    capture_fd_ = capture.get();
    // How the run was prepared: not the script's output, so not in its log; uploaded with the
    // outputs as logs/ferry-agent.txt (on a remote host the agent's own log is out of reach).
    if (!snapshot_note_.empty()) Info(snapshot_note_);
    if (workdir_stats_.reused) {
      Info("working copy: reused one from this node (" + std::to_string(workdir_stats_.kept) + " files kept, " +
           std::to_string(workdir_stats_.written) + " written, " + std::to_string(workdir_stats_.removed) + " removed)");
    } else {
      Info("working copy: written (" + std::to_string(workdir_stats_.written) + " files)");
    }

    auto parsed = model::RunOptionsFromJson(run);
    if (!parsed.ok()) return Finish("Failed", "the run's options are not valid", parsed.status().message());
    options_ = std::move(parsed).value();
    if (run.contains("gpu_ids") && run["gpu_ids"].is_array()) {
      for (auto& g : run["gpu_ids"]) gpu_ids_.push_back(g.get<int>());
    }
    std::string python = run.value("python", "python3");
    if (options_.docker.enabled) {
      auto c = PrepareContainer(options_.docker, o_.run_id, capture.get());
      if (!c.ok()) {
        Drain();
        return Finish("Failed", "preparing the container failed", c.status().message());
      }
      container_ = std::move(c).value();
      container_->work_host = work_;
      container_->envs_host = JoinPath(o_.home, "envs/containers/" + container_->image_id.substr(0, 16));
      container_->metrics_host = metrics_path_;
      container_->python_pkg_host = FindPythonPackageDir();
      container_->gpus = gpu_ids_;
      Status made = MakeDirs(container_->envs_host);
      if (!made.ok()) return Finish("Failed", "preparing the container failed", made.message());
    }
    if (!options_.environment.type.empty()) {
      // Managed environment: built (or reused) now, while the run is Preparing; its output
      // is the start of the run's log.
      auto env = PrepareEnvironment(python, capture.get());
      if (!env.ok()) {
        Drain();
        return Finish("Failed", "building the environment failed",
                      env.status().message() + "; last lines of the build log:\n" + TailOfCapture(20));
      }
      python = env->python;
      (void)WriteFileAtomic(JoinPath(agent_dir_, "freeze.txt"), env->freeze);
    }

    SpawnOptions so;
    so.argv.push_back(python);
    so.argv.push_back(run.value("script", ""));
    for (auto& a : run["arguments"]) so.argv.push_back(a.get<std::string>());
    so.cwd = work_;
    so.stdout_fd = capture.get();
    so.stderr_fd = capture.get();
    for (auto& [k, v] : options_.environment_variables) so.env_set[k] = v;
    if (options_.max_run_duration_seconds) max_duration_s_ = *options_.max_run_duration_seconds;
    so.env_set["FERRY_RUN_ID"] = o_.run_id;
    so.env_set["FERRY_ATTEMPT"] = std::to_string(run.value("attempt", 1));
    // The checkpoint contract: a directory kept across attempts of this run (on a cluster it is
    // in the shared directory, so the next attempt finds it on any node).
    std::string ckpt = JoinPath(o_.home, "checkpoints/" + o_.run_id);
    if (MakeDirs(ckpt).ok()) so.env_set["FERRY_CHECKPOINT_DIR"] = ckpt;
    so.env_set["FERRY_RESUME_ATTEMPT"] = std::to_string(run.value("attempt", 1));
    so.env_set["FERRY_EXPERIMENT"] = experiment_;
    so.env_set["FERRY_METRICS_FILE"] = metrics_path_;
    // An unmodified script's mlflow.log_* calls land in this run (Ferry's MLflow API), unless
    // the run configuration points MLflow elsewhere itself.
    if (std::string url = conn_.Url();
        !url.empty() && !plan_mlflow_token_.empty() && !options_.environment_variables.count("MLFLOW_TRACKING_URI")) {
      so.env_set["MLFLOW_TRACKING_URI"] = url;
      so.env_set["MLFLOW_RUN_ID"] = o_.run_id;
      so.env_set["MLFLOW_TRACKING_TOKEN"] = plan_mlflow_token_;
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
      Status dist = AddDistributedEnv(&so.env_set);
      if (!dist.ok()) return Finish("Failed", "the distributed launch could not be set up", dist.message());
    }
    so.die_with_parent = true;  // see GuardScript
    if (o_.rank > 0) return RunWorker(so, capture);
    // The script is started, then Running reported while its interpreter starts up (tens of
    // milliseconds, against one round trip): the two overlap instead of adding up. A run the
    // server will not let run (canceled meanwhile) has its script stopped at once.
    auto child = Subprocess::Spawn(so);
    if (!child.ok()) return Finish("Failed", "the script could not be started", child.status().message());
    GuardScript(child->pid());
    auto running = conn_.Call(
        "POST", conn_.RunPath("status"),
        Dump(json{{"status", "Running"}, {"reason", "starting " + run.value("script", "")}}));
    if (!running.ok()) {
      StopScript(*child, SIGKILL);
      child->Wait();
      UnguardScript(child->pid());
      if (container_) RemoveContainer(*container_);
      std::fprintf(stderr, "ferry agent: run %s cannot start: %s\n", o_.run_id.c_str(), running.status().ToString().c_str());
      return 3;
    }
    int wait_status = Supervise(*child);
    UnguardScript(child->pid());
    if (container_ && (canceled_ || timed_out_ || ExitCodeFromWaitStatus(wait_status) >= 125)) {
      RemoveContainer(*container_);  // the engine client may have died before its container
    }
    capture.Reset();
    capture_fd_ = -1;
    int code = ExitCodeFromWaitStatus(wait_status);

    conn_.set_stop_on_term(false);
    Drain();
    // The script's last lines, before notes about its outputs follow them in the log.
    const std::string tail = code != 0 ? TailOfCapture(20) : "";
    // The other ranks' ends: a rank that failed fails the run (Slurm then stops the others,
    // this one included, with a signal), and their last log bytes are shipped before the
    // final status is reported.
    std::string failed_rank = WaitForRanks();
    if (!failed_rank.empty() && !cancel_requested_) {
      (void)conn_.Call("POST", conn_.RunPath("status"),
                       Dump(json{{"status", "Finalizing"}, {"reason", failed_rank}}));
      Status up = UploadArtifacts(ArtifactFiles());
      Drain();  // notes about skipped outputs
      return Finish("Failed", failed_rank, failed_rank + (up.ok() ? "" : "; collecting outputs failed: " + up.message()),
                    code);
    }
    if (canceled_ && !cancel_requested_ && Preemptible() && !CancelRequestedOnServer()) {
      // Stopped by the cluster, not by a user: the job is being requeued and this run will be
      // started again; no final status (the scheduler shows it Preempted, then Queued).
      Info("stopped by the cluster (preempted or requeued); the script exited with code " + std::to_string(code));
      const char* keep = std::getenv("FERRY_KEEP_WORK_DIRS");
      if (!(keep && std::string(keep) == "1")) (void)pool_.Release(work_, workcopy_record_);
      return 0;
    }
    std::string why = canceled_ ? "canceled; script stopped with code " + std::to_string(code)
                                : "script exited with code " + std::to_string(code);
    auto files = ArtifactFiles();
    if (SmallOutputs(files)) {
      final_ = FinalReport{};  // not emplace(): clang 14 rejects it (nested struct with NSDMI)
      final_->finalizing_reason = why;
    } else {
      auto fin = conn_.Call("POST", conn_.RunPath("status"),
                            Dump(json{{"status", "Finalizing"}, {"reason", why}}));
      if (!fin.ok()) {
        std::fprintf(stderr, "ferry agent: %s\n", fin.status().ToString().c_str());
        return 3;
      }
    }
    std::string upload_error;
    Status up = UploadArtifacts(files, final_ ? &final_->artifacts : nullptr);
    if (!up.ok()) {
      upload_error = "collecting outputs failed: " + up.message();
      if (final_) final_->artifacts = json::array();  // nothing half-registered
    }
    Drain();  // notes about skipped outputs
    if (timed_out_) {
      std::string why = "exceeded maxRunDurationSeconds (" + std::to_string(max_duration_s_) + " s)";
      return Finish("Failed", why, why + "; the script was stopped" + (upload_error.empty() ? "" : "; " + upload_error), code);
    }
    if (canceled_) {
      return Finish("Canceled", cancel_requested_ ? "canceled by the user" : "the agent received a stop signal",
                    upload_error, code);
    }
    if (code == 0 && upload_error.empty()) return Finish("Completed", "script exited with code 0", "", code);
    std::string error = code != 0 ? "script exited with code " + std::to_string(code) +
                                        "; last lines of its output:\n" + tail
                                  : upload_error;
    return Finish("Failed", code != 0 ? "script exited with code " + std::to_string(code) : "collecting outputs failed",
                  error, code);
  }

 private:
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
    auto r = conn_.Call("POST", conn_.RunPath("status"), Dump(body));
    if (!r.ok()) {
      std::fprintf(stderr, "ferry agent: reporting %s for run %s: %s\n", status.c_str(), o_.run_id.c_str(),
                   r.status().ToString().c_str());
      return 3;
    }
    // Everything the run produced is on the server now: free the working copy (a snapshot
    // can be large, and every run gets its own). FERRY_KEEP_WORK_DIRS=1 keeps it for debugging.
    const char* keep = std::getenv("FERRY_KEEP_WORK_DIRS");
    if (!(keep && std::string(keep) == "1")) {
      // Kept for the next run on this node when the pool has room (see workdir.h).
      Status rm = pool_.Release(work_, workcopy_record_);
      if (!rm.ok()) std::fprintf(stderr, "ferry agent: %s\n", rm.ToString().c_str());
    }
    return 0;
  }

  // An earlier attempt of this run that used the same home (a cluster's shared directory, or
  // this machine) may have died with log bytes and metric lines written but not shipped (its
  // node was lost). Ship them before this attempt's spool replaces them: the server takes
  // log bytes by offset and metric points by sequence number, so nothing is doubled.
  void RecoverSpool() {
    // spool.base: "log <bytes>\nmetrics <seq>\n", written whole (fsynced, renamed) right after
    // that attempt started its spool files afresh; anything else is not trusted.
    auto text = ReadFile(JoinPath(agent_dir_, "spool.base"));
    if (!text.ok()) return;
    unsigned long long prev_log = 0;
    long long prev_seq = 0;
    char end = 0;
    if (std::sscanf(text->c_str(), "log %llu\nmetrics %lld%c", &prev_log, &prev_seq, &end) != 3 || end != '\n') return;
    if (PathExists(capture_path_) && log_base_ >= prev_log) {
      auto tail = ReadAgentFile(capture_path_);
      if (tail.ok() && tail->size() > log_base_ - prev_log) {
        std::string rest = tail->substr(log_base_ - prev_log);
        auto r = conn_.Call("POST", conn_.RunPath("logs?offset=" + std::to_string(log_base_) + RankQuery('&')), rest,
                            "text/plain");
        if (r.ok()) log_base_ = (*r).value("size", log_base_ + rest.size());
      }
    }
    if (PathExists(metrics_path_)) {
      int64_t prev = prev_seq;
      const int64_t next_base = seq_base_;
      seq_base_ = prev;
      final_drain_ = true;
      while (ShipMetrics()) {
      }
      seq_base_ = std::max(next_base, prev + next_seq_);
      final_drain_ = false;
      next_seq_ = 0;
      metrics_offset_ = 0;
      partial_.clear();
    }
  }

  // This attempt's bases, for RecoverSpool of a later attempt (durable before the script
  // writes: a stale base with new output would misnumber it after a power loss).
  void RecordSpoolBases() {
    (void)WriteFileAtomic(JoinPath(agent_dir_, "spool.base"),
                          "log " + std::to_string(log_base_) + "\nmetrics " + std::to_string(seq_base_) + "\n");
  }

  // The script must not outlive this agent, however the agent ends (kill -9 included):
  // PR_SET_PDEATHSIG stops the script itself (SpawnOptions::die_with_parent), a watchdog its
  // whole process group (and its container), and the record in the agent directory lets
  // whoever finds this agent gone (the local and ssh targets) stop what is left and say so.
  void GuardScript(pid_t pgid) {
    const std::string stopped = JoinPath(agent_dir_, kScriptStoppedFile);
    (void)RemoveAll(stopped);  // an earlier attempt's
    GroupWatchdog::Options w;
    w.pgid = pgid;
    w.marker_path = stopped;
    if (container_) w.cleanup_argv = RemoveContainerArgv(*container_);
    auto dog = GroupWatchdog::Start(w);
    if (dog.ok()) {
      watchdog_ = std::move(dog).value();
    } else {
      AgentNote("the script will not be stopped if this agent is killed: " +
                dog.status().message());
    }
    (void)WriteFileReplace(JoinPath(agent_dir_, kScriptGroupFile),
                           FormatGroupRecord(pgid, ::getsid(0)));
  }

  // After the script exited: what it left running in its process group is stopped (as Slurm
  // ends a job step's processes: a forgotten worker must not hold a GPU after the run), and
  // the guard is lifted.
  void UnguardScript(pid_t pgid) {
    int left = KillGroupInSession(pgid, ::getsid(0));
    if (left > 0) {
      AgentNote("stopped " + std::to_string(left) +
                " process(es) that the script left running in its process group");
    }
    watchdog_.Dismiss();
    (void)RemoveAll(JoinPath(agent_dir_, kScriptGroupFile));
  }

  static bool Preemptible() {
    const char* p = std::getenv("FERRY_PREEMPTIBLE");
    return p && std::string(p) == "1";
  }

  // Whether a user asked to cancel the run (then a stop signal means Canceled).
  bool CancelRequestedOnServer() {
    auto plan = conn_.Call("GET", conn_.RunPath("plan"), "", "application/json", std::chrono::seconds(20));
    return plan.ok() && (*plan)["run"].value("cancel_requested", false);
  }

  // A worker node of a multi-node run: its rank's script, logs and metrics; no statuses
  // (the leader reports them) and no outputs. Its exit code is the script's, so Slurm ends
  // the job's other tasks when one rank fails (srun --kill-on-bad-exit).
  int RunWorker(SpawnOptions& so, UniqueFd& capture) {
    auto child = Subprocess::Spawn(so);
    if (!child.ok()) {
      std::string why = "rank " + std::to_string(o_.rank) + ": the script could not be started: " + child.status().message();
      AgentNote(why);
      Drain();
      RankDone(127, why);
      return 127;
    }
    GuardScript(child->pid());
    int wait_status = Supervise(*child);
    UnguardScript(child->pid());
    capture.Reset();
    capture_fd_ = -1;
    conn_.set_stop_on_term(false);
    Drain();
    int code = ExitCodeFromWaitStatus(wait_status);
    RankDone(canceled_ ? 0 : code, code != 0 && !canceled_ ? TailOfCapture(20) : "");
    const char* keep = std::getenv("FERRY_KEEP_WORK_DIRS");
    if (!(keep && std::string(keep) == "1")) (void)pool_.Release(work_, workcopy_record_);
    return code;
  }

  // A worker's end, for the leader (WaitForRanks): its exit code and the tail of its output.
  // A rank stopped by a signal from outside (cancel, preemption) reports 0: it did not fail.
  void RankDone(int code, const std::string& tail) {
    json done = {{"attempt", attempt_}, {"exit_code", code}, {"tail", tail}};
    (void)WriteFileAtomic(JoinPath(agent_dir_, kRankDone), Dump(done));
  }

  // The leader, after its own script ended: waits (bounded) for every other rank's end of
  // this attempt. Returns why the run failed when a rank failed, else "". A rank that never
  // reports (its node was lost) is waited for at most FERRY_RANK_WAIT_S (default 30) seconds.
  std::string WaitForRanks() {
    const int world = options_.node_count * std::max(1, options_.process_count_per_node);
    if (world <= 1 || o_.rank != 0) return "";
    auto set = options_.environment_variables.find("FERRY_RANK_WAIT_S");  // the run's, else the node's
    const char* w = set != options_.environment_variables.end() ? set->second.c_str() : std::getenv("FERRY_RANK_WAIT_S");
    const double limit = w && *w ? std::atof(w) : 30.0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
    std::set<int> waiting;
    for (int k = 1; k < world; ++k) waiting.insert(k);
    std::string failure;
    while (!waiting.empty()) {
      for (auto it = waiting.begin(); it != waiting.end();) {
        auto text = ReadFile(JoinPath(o_.home, "work/" + o_.run_id + RankSuffix(*it) + ".agent/" + kRankDone));
        json done = text.ok() ? json::parse(*text, nullptr, false) : json();
        if (!done.is_object() || done.value("attempt", 0) != attempt_) {
          ++it;
          continue;
        }
        int code = done.value("exit_code", 0);
        if (code != 0 && failure.empty()) {
          failure = "rank " + std::to_string(*it) + " exited with code " + std::to_string(code);
          std::string tail = done.value("tail", "");
          if (!tail.empty()) failure += "; last lines of its output (ferry run logs --rank " + std::to_string(*it) +
                                        "):\n" + tail;
        }
        it = waiting.erase(it);
      }
      if (waiting.empty() || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!waiting.empty()) {
      Info(std::to_string(waiting.size()) + " rank(s) did not report their end within " + std::to_string(int(limit)) +
           " s (first: rank " + std::to_string(*waiting.begin()) + "); their last log lines may be missing");
    }
    return failure;
  }

  std::string RankQuery(char sep) const {
    return o_.rank > 0 ? std::string(1, sep) + "rank=" + std::to_string(o_.rank) : "";
  }

  // torch.distributed's conventions (also what Horovod and Lightning read): every rank knows
  // the first node's address, a port, its rank and the world size.
  Status AddDistributedEnv(std::map<std::string, std::string>* env) {
    const int nodes = options_.node_count;
    const int per_node = std::max(1, options_.process_count_per_node);
    std::vector<std::string> hosts = {"127.0.0.1"};
    const char* nodelist = std::getenv("SLURM_JOB_NODELIST");
    if (nodelist && *nodelist) {
      auto r = RunCommand({"scontrol", "show", "hostnames", nodelist}, "", 30000);
      if (!r.ok() || r->exit_code != 0 || r->out.empty()) {
        return Status::Unavailable(std::string("cannot expand SLURM_JOB_NODELIST '") + nodelist + "' with scontrol");
      }
      hosts.clear();
      std::istringstream in(r->out);
      for (std::string h; std::getline(in, h);) {
        if (!h.empty()) hosts.push_back(h);
      }
    }
    const std::string& master = hosts[0];
    const char* job = std::getenv("SLURM_JOB_ID");
    int port = 20000 + (job ? std::atoi(job) % 10000 : 0);
    if (options_.communicator == "ParameterServer") {
      // TensorFlow's layout: node ranks [0, workers) are workers, the rest parameter servers.
      json cluster = {{"worker", json::array()}, {"ps", json::array()}};
      for (size_t i = 0; i < hosts.size(); ++i) {
        bool worker = static_cast<int>(i) < options_.worker_count;
        cluster[worker ? "worker" : "ps"].push_back(hosts[i] + ":" + std::to_string(port + 1));
      }
      bool worker = o_.rank < options_.worker_count;
      int index = worker ? o_.rank : o_.rank - options_.worker_count;
      (*env)["TF_CONFIG"] = Dump(json{
          {"cluster", cluster}, {"task", {{"type", worker ? "worker" : "ps"}, {"index", index}}}});
    }
    (*env)["MASTER_ADDR"] = master;
    (*env)["MASTER_PORT"] = std::to_string(port);
    // Inside a Slurm step the node and local ranks are Slurm's (block distribution: ranks
    // [n*P, (n+1)*P) on node n); elsewhere they follow from the rank the same way.
    const char* node_id = std::getenv("SLURM_NODEID");
    const char* local_id = std::getenv("SLURM_LOCALID");
    int node_rank = node_id && *node_id ? std::atoi(node_id) : o_.rank / per_node;
    int local_rank = local_id && *local_id ? std::atoi(local_id) : o_.rank % per_node;
    (*env)["WORLD_SIZE"] = std::to_string(nodes * per_node);
    (*env)["RANK"] = std::to_string(o_.rank);
    (*env)["NODE_RANK"] = std::to_string(node_rank);
    (*env)["GROUP_RANK"] = std::to_string(node_rank);
    (*env)["LOCAL_RANK"] = std::to_string(local_rank);
    (*env)["LOCAL_WORLD_SIZE"] = std::to_string(per_node);
    return Status::Ok();
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
      er.spec_path = JoinPath(agent_dir_, spec.type == "conda" ? "environment.yml" : "requirements.txt");
      er.spec_name = "environment " + spec.name + ":" + std::to_string(spec.version);
      FERRY_RETURN_IF_ERROR(WriteFileAtomic(er.spec_path, spec.content));
    }
    return EnsureEnvironment(er);
  }

  Status Materialize(const std::string& manifest_id) {
    FERRY_RETURN_IF_ERROR(MakeDirs(agent_dir_));
    FERRY_ASSIGN_OR_RETURN(std::string text, GetBlob(manifest_id));
    FERRY_ASSIGN_OR_RETURN(model::Manifest m, model::Manifest::Parse(text));
    if (o_.blob_cache && blobs_) FERRY_RETURN_IF_ERROR(FillCache(m));
    // Paths are validated (relative, no '..'), and the pool leaves only plain directories and
    // untouched files in a reused copy, so nothing can be written outside the working directory.
    FERRY_ASSIGN_OR_RETURN(workdir_stats_, pool_.Materialize(
                                               m, manifest_id, work_, workcopy_record_,
                                               [this](const std::string& h) { return GetBlob(h); },
                                               [] { return g_term != 0; }));
    if (blobs_ && o_.blob_cache && cached_blobs_ > 0) FERRY_RETURN_IF_ERROR(blobs_->Sync());
    if (o_.blob_cache) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.1f", cache_check_ms_);
      snapshot_note_ = "snapshot: " + std::to_string(m.entries.size()) + " files; fetched " +
                       std::to_string(cached_blobs_) + " blobs (" + std::to_string(fetched_bytes_) +
                       " bytes) from the server, the rest from this node's cache (cache check " + ms + " ms)";
    }
    return Status::Ok();
  }

  // A node with its own cache: what it lacks comes in batches (small blobs by the thousand,
  // large ones alone), each verified by the store as it is put.
  Status FillCache(const model::Manifest& m) {
    const auto t0 = Clock::now();
    std::vector<std::string> missing;
    std::unordered_set<std::string> seen;
    std::map<std::string, uint64_t> sizes;
    for (const auto& e : m.entries) {
      if (!seen.insert(e.hash).second) continue;
      if (!blobs_->Has(e.hash)) {
        missing.push_back(e.hash);
        sizes[e.hash] = e.size;
      }
    }
    size_t i = 0;
    while (i < missing.size()) {
      if (g_term) return Status::FailedPrecondition("stopped by a signal while preparing");
      std::vector<std::string> batch;
      uint64_t bytes = 0;
      while (i < missing.size() && batch.size() < 5000 && (batch.empty() || bytes + sizes[missing[i]] <= (32u << 20))) {
        bytes += sizes[missing[i]];
        batch.push_back(missing[i++]);
      }
      FERRY_ASSIGN_OR_RETURN(std::string body, conn_.FetchBlobs(batch));
      std::string_view rest(body);
      for (const auto& hash : batch) {
        size_t nl = rest.find('\n');
        if (nl == std::string_view::npos) return Status::Corruption("the server's blob batch ended early");
        std::string_view header = rest.substr(0, nl);
        size_t sp = header.find(' ');
        if (sp == std::string_view::npos || header.substr(0, sp) != hash) {
          return Status::Corruption("the server's blob batch is out of order at " + hash);
        }
        uint64_t len = std::strtoull(std::string(header.substr(sp + 1)).c_str(), nullptr, 10);
        if (rest.size() < nl + 1 + len) return Status::Corruption("the server's blob batch ended early");
        FERRY_RETURN_IF_ERROR(blobs_->Put(rest.substr(nl + 1, len), hash).status());
        ++cached_blobs_;
        fetched_bytes_ += static_cast<int64_t>(len);
        rest.remove_prefix(nl + 1 + len);
      }
    }
    if (!missing.empty()) FERRY_RETURN_IF_ERROR(blobs_->Sync());
    cache_check_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return Status::Ok();
  }

  // Local blob store when this node shares the workspace home, else over HTTP.
  Result<std::string> GetBlob(const std::string& hash) {
    if (!blobs_opened_) {
      blobs_opened_ = true;
      std::string dir = JoinPath(o_.home, "blobs");
      // FERRY_AGENT_BLOBS=http: use the API even where the home's blob store is visible
      // (e.g. a home on a shared file system that agents must not write to).
      const char* mode = std::getenv("FERRY_AGENT_BLOBS");
      bool http_only = mode && std::string(mode) == "http";
      if (!http_only && (o_.blob_cache || PathExists(dir))) {
        auto b = store::OpenFsBlobStore(dir);
        if (b.ok()) blobs_ = std::move(b).value();
        else if (o_.blob_cache) AgentNote("no blob cache on this node: " + b.status().message());
      }
    }
    if (blobs_) {
      auto r = blobs_->Get(hash);
      if (r.ok() || r.status().code() != StatusCode::kNotFound) return r;
    }
    // A node without the workspace's blob store fetches over HTTP and verifies the content;
    // a node with a cache keeps it for the next run.
    FERRY_ASSIGN_OR_RETURN(std::string content, conn_.GetBlob(hash));
    if (Sha256Hex(content) != hash) return Status::Corruption("blob " + hash + " arrived corrupted");
    if (blobs_ && o_.blob_cache) {
      auto put = blobs_->Put(content, hash);
      if (put.ok()) ++cached_blobs_;
      fetched_bytes_ += static_cast<int64_t>(content.size());
    }
    return content;
  }

  // Waits for the script, shipping logs and metrics and handling cancel. Returns the raw
  // wait status.
  int Supervise(Subprocess& child) {
    conn_.set_stop_on_term(true);
    std::optional<Clock::time_point> kill_at;
    auto last_ship = Clock::now() - std::chrono::seconds(10);
    const auto started = Clock::now();
    // A container's processes are not our children: follow its first process once it runs.
    SystemSampler sampler(container_ ? 0 : child.pid(), gpu_ids_);
    const double interval_s = SystemMetricsInterval();
    auto next_sample = Clock::now() + std::chrono::milliseconds(static_cast<int>(interval_s * 1000));
    for (;;) {
      if (auto st = child.TryWait()) {
        if (!canceled_ && !timed_out_ && WIFSIGNALED(*st)) {
          // Killed by a signal we did not send: a cluster that signals every process of the
          // job (scancel, preemption) may reach the script before this agent. Then it is a
          // stop from outside, not a failure of the script.
          for (int i = 0; i < 10 && !g_term; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
          if (g_term) canceled_ = true;
          else if (cancel_requested_ || CancelRequestedOnServer()) canceled_ = cancel_requested_ = true;
        }
        return *st;
      }
      if (interval_s > 0 && Clock::now() >= next_sample) {
        RecordSystemMetrics(sampler);
        next_sample = Clock::now() + std::chrono::milliseconds(static_cast<int>(interval_s * 1000));
      }
      if ((g_term || cancel_requested_) && !canceled_ && !timed_out_) {
        canceled_ = true;
        StopScript(child, SIGTERM);
        kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int>(o_.cancel_grace_s * 1000));
      }
      if (max_duration_s_ > 0 && !timed_out_ && !canceled_ &&
          Clock::now() - started >= std::chrono::seconds(max_duration_s_)) {
        timed_out_ = true;  // maxRunDurationSeconds: stopped like a cancel, reported as Failed
        AgentNote("the run exceeded maxRunDurationSeconds (" + std::to_string(max_duration_s_) + " s); stopping it");
        StopScript(child, SIGTERM);
        kill_at = Clock::now() + std::chrono::milliseconds(static_cast<int>(o_.cancel_grace_s * 1000));
      }
      if (kill_at && Clock::now() >= *kill_at) {
        StopScript(child, SIGKILL);
        kill_at.reset();
      }
      auto now = Clock::now();
      if (now - last_ship >= std::chrono::milliseconds(100)) {
        ShipOnce(now - last_ship >= std::chrono::seconds(1));
        last_ship = Clock::now();
      }
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r > 0) {
        char buf[64];
        while (::read(g_signal_pipe[0], buf, sizeof buf) > 0) {
        }
      }
    }
  }

  void StopScript(Subprocess& child, int sig) {
    if (container_) {
      SignalContainer(*container_, sig);
      if (sig != SIGKILL) return;
    }
    child.SignalGroup(sig);
  }

  // FERRY_SYSTEM_METRICS_INTERVAL: seconds between samples (default 10; 0 turns them off).
  static double SystemMetricsInterval() {
    const char* v = std::getenv("FERRY_SYSTEM_METRICS_INTERVAL");
    if (!v || !*v) return 10.0;
    char* end = nullptr;
    double d = std::strtod(v, &end);
    return end != v && d >= 0 ? std::max(d, d > 0 ? 0.05 : 0.0) : 10.0;
  }

  // Appends one sample to the metrics file, as the in-script library does (one O_APPEND
  // write per line), so it ships with the script's own metrics, in order, idempotently.
  void RecordSystemMetrics(SystemSampler& sampler) {
    if (container_ && !container_root_) {
      container_root_ = ContainerPid(*container_);
      if (!container_root_) return;
      sampler.set_root(container_root_);
    }
    std::string note;
    double now = Now();
    auto values = sampler.Sample(now, &note);
    if (!note.empty()) AgentNote(note);
    if (values.empty()) return;
    std::string lines;
    for (auto& [k, v] : values) {
      if (!std::isfinite(v)) continue;
      lines += json{{"k", k}, {"v", v}, {"s", system_step_}, {"t", now}}.dump() + "\n";
    }
    ++system_step_;
    UniqueFd fd(
        ::open(metrics_path_.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.valid()) (void)WriteAll(fd.get(), lines, metrics_path_);
  }

  // Ships what is new; heartbeat=true sends an empty log post so cancel requests are seen.
  void ShipOnce(bool heartbeat) {
    ShipLogs(heartbeat);
    ShipMetrics();
  }

  // Everything written so far, acknowledged, retrying until the server takes it. The
  // script has exited, so a last metrics line without its newline is complete too.
  void Drain() {
    final_drain_ = true;
    for (;;) {
      bool more_logs = ShipLogs(false);
      bool more_metrics = ShipMetrics();
      if (!more_logs && !more_metrics) return;
    }
  }

  // Returns true when more log data is waiting.
  bool ShipLogs(bool heartbeat) {
    // Never through a symlink the script put in the capture file's place.
    UniqueFd fd(::open(capture_path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size <= log_acked_ && !heartbeat) return false;
    std::string chunk;
    if (size > log_acked_) {
      uint64_t n = std::min<uint64_t>(size - log_acked_, 1 << 20);
      chunk.resize(n);
      ssize_t got = ::pread(fd.get(), chunk.data(), n, static_cast<off_t>(log_acked_));
      if (got <= 0) return false;
      chunk.resize(static_cast<size_t>(got));
    }
    // The server's log offset is this attempt's file offset plus what earlier attempts of the
    // run (before a requeue) left in it.
    auto r = conn_.Call("POST", conn_.RunPath("logs?offset=" + std::to_string(log_base_ + log_acked_) + RankQuery('&')), chunk,
                        "text/plain");
    if (r.ok()) {
      uint64_t server = (*r).value("size", log_base_ + log_acked_ + chunk.size());
      log_acked_ = server >= log_base_ ? server - log_base_ : 0;
      if ((*r).value("cancel_requested", false)) cancel_requested_ = true;
    } else if (r.status().code() == StatusCode::kFailedPrecondition && conn_.last_error_body().contains("error")) {
      // The server's log is shorter than we thought (a gap): resend from its size.
      uint64_t server = conn_.last_error_body()["error"].value("size", uint64_t{0});
      log_acked_ = server >= log_base_ ? server - log_base_ : 0;
    } else {
      return false;
    }
    return size > log_acked_;
  }

  // Parses new complete lines of the metrics file into pending points and sends them.
  // Returns true when more remains.
  bool ShipMetrics() {
    ReadNewMetricLines();
    if (!pending_tags_.empty()) {
      auto r = conn_.Call("POST", conn_.RunPath("tags"), Dump(json{{"tags", pending_tags_}}));
      if (r.ok() || r.status().code() != StatusCode::kUnavailable) pending_tags_.clear();
    }
    if (pending_.empty()) return false;
    const size_t kBatch = 20000;
    size_t n = std::min(kBatch, pending_.size());
    std::string body = "{\"points\":[";
    body.reserve(n * 80);
    char buf[160];
    for (size_t i = 0; i < n; ++i) {
      const auto& p = pending_[i];
      if (i) body.push_back(',');
      body += "{\"q\":" + std::to_string(p.seq) + ",\"k\":" + Dump(json(p.key)) + ",\"v\":";
      if (std::isnan(p.value)) body += "\"nan\"";
      else if (std::isinf(p.value)) body += p.value > 0 ? "\"inf\"" : "\"-inf\"";
      else {
        std::snprintf(buf, sizeof buf, "%.17g", p.value);
        body += buf;
      }
      std::snprintf(buf, sizeof buf, ",\"s\":%lld,\"t\":%.6f}", static_cast<long long>(p.step), p.time);
      body += buf;
    }
    body += "]}";
    auto r = conn_.Call("POST", conn_.RunPath("metrics"), body);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kUnavailable) return false;  // stopping; still spooled
      // A refusal (bad batch, run gone) will not change on a resend: drop it, say so.
      AgentNote("the server refused " + std::to_string(n) + " metric points: " + r.status().message());
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
      return !pending_.empty();
    }
    if ((*r).value("cancel_requested", false)) cancel_requested_ = true;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
    return !pending_.empty();
  }

  void ReadNewMetricLines() {
    // Only the regular file: not through a symlink (nor a pipe) the script put in its place.
    UniqueFd fd(::open(metrics_path_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(metrics_offset_ + partial_.size()));
      if (n <= 0) break;
      partial_.append(buf, static_cast<size_t>(n));
      if (partial_.size() > (64u << 20)) break;  // bound memory per pass
    }
    size_t start = 0;
    for (;;) {
      size_t nl = partial_.find('\n', start);
      if (nl == std::string::npos) break;
      ParseMetricLine(std::string_view(partial_).substr(start, nl - start));
      start = nl + 1;
    }
    if (final_drain_ && start < partial_.size()) {
      ParseMetricLine(std::string_view(partial_).substr(start));
      start = partial_.size();
    }
    metrics_offset_ += start;
    partial_.erase(0, start);
  }

  void ParseMetricLine(std::string_view line) {
    int64_t seq = seq_base_ + next_seq_++;
    if (line.empty()) return;
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      AgentNote("ignoring malformed metrics line " + std::to_string(next_seq_) + ": " + std::string(line.substr(0, 200)));
      return;
    }
    if (auto t = j.find("tags"); t != j.end() && t->is_object()) {
      for (auto& [k, v] : t->items()) pending_tags_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      return;
    }
    model::MetricPoint p;
    p.seq = seq;
    auto k = j.find("k");
    auto v = j.find("v");
    if (k == j.end() || !k->is_string() || v == j.end()) {
      AgentNote("ignoring metrics line " + std::to_string(next_seq_) + " without \"k\" and \"v\"");
      return;
    }
    p.key = k->get<std::string>();
    if (v->is_number()) p.value = v->get<double>();
    else if (v->is_string() && (*v == "nan" || *v == "inf" || *v == "-inf")) {
      std::string s = v->get<std::string>();
      p.value = s == "nan" ? std::nan("") : s == "inf" ? INFINITY : -INFINITY;
    } else {
      AgentNote("ignoring metric '" + p.key + "' with non-numeric value " + v->dump());
      return;
    }
    auto s = j.find("s");
    int64_t& counter = step_counters_[p.key];
    if (s != j.end() && s->is_number_integer()) {
      p.step = s->get<int64_t>();
      counter = std::max(counter, p.step + 1);
    } else {
      p.step = counter++;
    }
    auto t = j.find("t");
    p.time = t != j.end() && t->is_number() ? t->get<double>() : Now();
    pending_.push_back(std::move(p));
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
    if (capture_fd_ >= 0) {
      (void)WriteAll(capture_fd_, line, capture_path_);
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

  // A file the run leaves as an artifact.
  struct ArtifactFile {
    std::string path;   // the artifact path: EscapeBytes of `raw` (always valid UTF-8)
    std::string raw;    // its bytes relative to the working copy; "" for the agent's own files
    std::string local;  // an agent file's absolute path (raw == "")
    uint64_t size = 0;
  };

  // Directories deeper than this under outputs/ or logs/ are not collected (each level holds
  // a descriptor open while it is walked).
  static constexpr int kMaxCollectDepth = 128;

  // Regular files under the directory open at fd (raw path rel under the working copy). No
  // symlink is followed anywhere: entries are looked at with fstatat(AT_SYMLINK_NOFOLLOW) and
  // directories opened O_NOFOLLOW relative to their parent, so what a script leaves (a symlink
  // to /etc, a directory swapped for one meanwhile) cannot reach outside the working copy.
  // What is skipped, and why, goes to the run's log.
  void CollectDir(int fd, const std::string& rel, int depth, std::vector<ArtifactFile>* out) {
    int listing = ::dup(fd);
    DIR* d = listing >= 0 ? ::fdopendir(listing) : nullptr;
    if (!d) {
      if (listing >= 0) ::close(listing);
      AgentNote("not collecting " + EscapeBytes(rel) + "/: " + std::strerror(errno));
      return;
    }
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string r = rel + "/" + name;
      struct stat st;
      if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
      if (S_ISDIR(st.st_mode)) {
        if (depth >= kMaxCollectDepth) {
          AgentNote("not collecting " + EscapeBytes(r) + "/: nested deeper than " +
                    std::to_string(kMaxCollectDepth) + " directories");
          continue;
        }
        UniqueFd sub(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) {
          AgentNote("not collecting " + EscapeBytes(r) + "/: " + std::strerror(errno));
          continue;
        }
        CollectDir(sub.get(), r, depth + 1, out);
      } else if (S_ISREG(st.st_mode)) {
        std::string path = EscapeBytes(r);
        if (Status valid = model::ValidateRelativePath(path); !valid.ok()) {
          AgentNote("not collecting " + path + ": not a valid artifact path: " + valid.message());
          continue;
        }
        out->push_back({path, r, "", static_cast<uint64_t>(st.st_size)});
      } else {
        AgentNote("not collecting " + EscapeBytes(r) + ": " + NotRegularWhy(fd, name, st));
      }
    }
    ::closedir(d);
  }

  // Why an entry is not collected ("a symbolic link (to /etc): ...").
  static std::string NotRegularWhy(int dirfd, const std::string& name, const struct stat& st) {
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlinkat(dirfd, name.c_str(), target, sizeof target);
      std::string to =
          n > 0 ? " (to " + EscapeBytes(std::string_view(target, static_cast<size_t>(n))) + ")"
                : "";
      return "a symbolic link" + to +
             "; symbolic links are never followed (only regular files are artifacts)";
    }
    const char* kind = S_ISFIFO(st.st_mode)   ? "a named pipe"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "a device";
    return std::string(kind) + ", not a regular file (only regular files are artifacts)";
  }

  // What the run leaves as artifacts: every regular file under outputs/ and logs/ of the
  // working copy, then the agent's own files.
  std::vector<ArtifactFile> ArtifactFiles() {
    std::vector<ArtifactFile> files;
    UniqueFd work(::open(work_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    for (const char* top : {"outputs", "logs"}) {
      if (!work.valid()) break;
      struct stat st;
      if (::fstatat(work.get(), top, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // none
      if (!S_ISDIR(st.st_mode)) {
        AgentNote(
            std::string("not collecting ") + top + ": " +
            (S_ISREG(st.st_mode) ? "a file, not a directory" : NotRegularWhy(work.get(), top, st)));
        continue;
      }
      UniqueFd dir(::openat(work.get(), top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dir.valid()) {
        AgentNote(std::string("not collecting ") + top + "/: " + std::strerror(errno));
        continue;
      }
      CollectDir(dir.get(), top, 1, &files);
    }
    bool has_std_log = false;
    for (auto& f : files) has_std_log = has_std_log || f.path == "logs/std_log.txt";
    auto agent_file = [&](const std::string& path, const std::string& local) {
      struct stat st;
      if (::stat(local.c_str(), &st) == 0) {
        files.push_back({path, "", local, static_cast<uint64_t>(st.st_size)});
      }
    };
    if (!has_std_log) agent_file("logs/std_log.txt", capture_path_);
    agent_file("environment/freeze.txt",
               JoinPath(agent_dir_, "freeze.txt"));  // a managed environment's
    agent_file("logs/ferry-agent.txt", info_path_);
    return files;
  }

  // Outputs small enough to collect in a moment: the run then goes Running -> Finalizing ->
  // its final status in one report (one request, one transaction) instead of three; larger
  // ones are collected while the run shows Finalizing.
  static constexpr uint64_t kQuickFinishBytes = 8u << 20;
  static constexpr size_t kQuickFinishFiles = 1000;
  bool SmallOutputs(const std::vector<ArtifactFile>& files) {
    if (files.size() > kQuickFinishFiles) return false;
    uint64_t total = 0;
    for (const auto& f : files) total += f.size;
    return total <= kQuickFinishBytes;
  }

  // The content of an artifact. A working-copy file is opened again without following any
  // symlink (it may have been swapped for one since it was listed): NotFound when it is no
  // longer a regular file there (or cannot be opened at all).
  Result<std::string> ReadArtifact(int work_fd, const ArtifactFile& f) {
    if (f.raw.empty()) return ReadAgentFile(f.local);
    auto fd = OpenBeneath(work_fd, f.raw, O_RDONLY | O_NONBLOCK);
    if (!fd.ok()) return Status::NotFound(fd.status().message());
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("cannot stat", f.path, errno);
    if (!S_ISREG(st.st_mode)) return Status::NotFound(f.path + " is no longer a regular file");
    return ReadAll(fd->get(), f.path, static_cast<size_t>(st.st_size));
  }

  // One of the agent's own files (its directory is writable by the script, which knows where
  // FERRY_METRICS_FILE is): read only when it is still a regular file, never through a
  // symlink the script put in its place.
  static Result<std::string> ReadAgentFile(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid() && errno == ELOOP) {
      return Status::FailedPrecondition(path + " is a symbolic link; not followed");
    }
    if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(path + " is not a regular file");
    return ReadAll(fd.get(), path, static_cast<size_t>(st.st_size));
  }

  // Stores the files' content (the local blob store, or the server's); registers them with
  // POST /artifacts, or, given `manifest`, leaves them there for the final report.
  Status UploadArtifacts(const std::vector<ArtifactFile>& files, json* manifest_out = nullptr) {
    json manifest = json::array();
    std::string batch;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      auto r = conn_.Call("POST", conn_.RunPath("blobs"), batch, "application/octet-stream");
      batch.clear();
      return r.ok() ? Status::Ok() : r.status();
    };
    UniqueFd work(::open(work_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    for (const auto& f : files) {
      auto content = ReadArtifact(work.get(), f);
      const StatusCode code = content.ok() ? StatusCode::kOk : content.status().code();
      if (code == StatusCode::kFailedPrecondition ||
          (code == StatusCode::kNotFound && !f.raw.empty())) {
        AgentNote("not collecting " + f.path + ": it changed while outputs were collected (" +
                  content.status().message() + ")");
        continue;
      }
      if (!content.ok()) return content.status();
      std::string hash = Sha256Hex(*content);
      if (blobs_ && !o_.blob_cache) {
        FERRY_RETURN_IF_ERROR(blobs_->Put(*content, hash).status());
      } else {
        batch += hash + " " + std::to_string(content->size()) + "\n" + *content;
        if (batch.size() > (64u << 20)) FERRY_RETURN_IF_ERROR(flush());
      }
      manifest.push_back({{"path", f.path}, {"size", content->size()}, {"hash", hash}});
    }
    if (blobs_ && !o_.blob_cache) FERRY_RETURN_IF_ERROR(blobs_->Sync());
    FERRY_RETURN_IF_ERROR(flush());
    if (manifest_out) {
      *manifest_out = std::move(manifest);
      return Status::Ok();
    }
    if (manifest.empty()) return Status::Ok();
    auto r = conn_.Call("POST", conn_.RunPath("artifacts"), Dump(json{{"files", manifest}}));
    return r.ok() ? Status::Ok() : r.status();
  }

  AgentOptions o_;
  ServerConn conn_;
  std::string work_, agent_dir_, capture_path_, metrics_path_, experiment_;
  int capture_fd_ = -1;
  bool blobs_opened_ = false;
  std::unique_ptr<store::BlobStore> blobs_;
  int64_t cached_blobs_ = 0, fetched_bytes_ = 0;
  std::string snapshot_note_;
  std::string workcopy_record_;
  std::string info_path_;
  WorkdirPool pool_;
  // A quick finish: Finalizing and the artifacts go with the final status (see SmallOutputs).
  struct FinalReport {
    std::string finalizing_reason;
    json artifacts = json::array();
  };
  std::optional<FinalReport> final_;
  std::string plan_mlflow_token_;  // MLFLOW_TRACKING_TOKEN for the script
  WorkdirStats workdir_stats_;
  double cache_check_ms_ = 0;
  bool cancel_requested_ = false, canceled_ = false, final_drain_ = false, timed_out_ = false;
  int64_t max_duration_s_ = 0;
  model::RunOptions options_;
  std::vector<int> gpu_ids_;
  std::optional<ContainerRun> container_;
  GroupWatchdog watchdog_;  // while the script runs (GuardScript)
  int container_root_ = 0;
  int64_t system_step_ = 0;
  uint64_t log_acked_ = 0;
  uint64_t log_base_ = 0;
  int64_t seq_base_ = 0;
  int attempt_ = 1;
  uint64_t metrics_offset_ = 0;
  std::string partial_;
  int64_t next_seq_ = 0;
  std::map<std::string, int64_t> step_counters_;
  std::vector<model::MetricPoint> pending_;
  std::map<std::string, std::string> pending_tags_;
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
  std::printf("%s\n", json{{"pid", *pid}, {"start_time", std::to_string(start.value_or(0))}, {"boot_id", boot_id}}
                          .dump()
                          .c_str());
  return 0;
}

int RunAgent(const AgentOptions& options) {
  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 2;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGCHLD, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  Agent agent(options);
  return agent.Run();
}

}  // namespace ferry::agent
