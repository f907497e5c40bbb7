// Server start-up and shutdown, one step per function: lock the home, open the stores, build
// the scheduler, the API and its observers, serve HTTP, announce, wait, stop.
#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/fs.h"
#include "common/home.h"
#include "common/log.h"
#include "common/seal.h"
#include "common/utf8.h"
#include "common/version.h"
#include "compute/local/local_target.h"
#include "net/http_server.h"
#include "scheduler/scheduler.h"
#include "scheduler/sweep_controller.h"
#include "server/access_log.h"
#include "server/api.h"
#include "server/datastore_io.h"
#include "server/log_store.h"
#include "server/metrics.h"
#include "server/pipelines.h"
#include "server/schedules.h"
#include "server/studio.h"
#include "server/targets.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"
#include "store/run_counts.h"

namespace ferry::server {
namespace {

// Blocks SIGTERM and SIGINT in this thread and every thread started after (the main thread
// waits for them in WaitForStop); SIGPIPE is ignored (a closed socket is an error value).
sigset_t BlockStopSignals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return sigs;
}

// The home (0700) and its server.lock, held for the process's life. Fails naming the server
// that holds it.
Result<UniqueFd> LockHome(const std::string& home) {
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
  return lock;
}

// MLflow's --default-artifact-root as clients get it: a local path becomes an absolute file
// URI; no trailing slash.
std::string ArtifactRoot(std::string root) {
  if (!root.empty() && root.find(':') == std::string::npos) root = "file://" + AbsolutePath(root);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

// Everything a running server owns, in the order it is built (and destroyed in reverse).
class Server {
 public:
  explicit Server(const ServerOptions& o) : o_(o) {}

  Status Run(const sigset_t& stop_signals) {
    FERRY_ASSIGN_OR_RETURN(lock_, LockHome(o_.home));
    FERRY_RETURN_IF_ERROR(OpenStores());
    FERRY_RETURN_IF_ERROR(MakeScheduler());
    FERRY_RETURN_IF_ERROR(MakeApi());
    MakeObservers();
    FERRY_RETURN_IF_ERROR(ServeHttp());
    targets_->LoadAll();
    FERRY_RETURN_IF_ERROR(Announce());
    sched_->Start();
    WaitForStop(stop_signals);
    Stop();
    return Status::Ok();
  }

 private:
  // The workspace's secrets, metadata and blob stores, and the per-run logs.
  Status OpenStores() {
    const std::string& home = o_.home;
    FERRY_ASSIGN_OR_RETURN(token_, EnsureSecretFile(HomePath(home, "token")));
    FERRY_ASSIGN_OR_RETURN(secret_, EnsureSecretFile(HomePath(home, "secret")));
    store::SqliteStoreOptions so;
    so.sync_every_commit = o_.sync_every_commit;
    FERRY_ASSIGN_OR_RETURN(store_, store::OpenSqliteMetadataStore(HomePath(home, "ferry.db"), so));
    FERRY_ASSIGN_OR_RETURN(run_counter_, store::RunCounter::Open(HomePath(home, "ferry.db")));
    FERRY_ASSIGN_OR_RETURN(blobs_, store::OpenFsBlobStore(HomePath(home, "blobs")));
    logs_ = std::make_unique<LogStore>(HomePath(home, "runs"));
    FERRY_ASSIGN_OR_RETURN(Sealer sealer, Sealer::Open(HomePath(home, "seal.key")));
    sealer_.emplace(std::move(sealer));
    return Status::Ok();
  }

  // A run's changes go to its channel and the workspace's (Studio's run lists).
  void Notify(const std::string& channel) {
    const bool run = channel.rfind("run:", 0) == 0;
    if (run) ++run_changes_;
    if (auto* h = http_ptr_.load()) {
      h->Notify(channel);
      if (run) h->Notify(kRunsChannel);
    }
  }

  // The local target, the scheduler and the sweep controller on its thread (not started).
  Status MakeScheduler() {
    compute::LocalTargetOptions lo;
    lo.ferry_executable = JoinPath(ExecutableDir(), "ferry");
    lo.home = o_.home;
    lo.max_concurrent_runs = o_.local_max_concurrent;
    local_ = compute::MakeLocalTarget(lo);
    FERRY_RETURN_IF_ERROR(store_->EnsureTarget({"local", "local", "{}", clock_.Now()}));
    scheduler::SchedulerOptions so;
    so.token_for = [this](const std::string& id) { return RunToken(secret_, id); };
    so.on_change = [this](const std::string& id) { Notify(RunChannel(id)); };
    sched_ = std::make_unique<scheduler::Scheduler>(store_.get(), &clock_, so);
    sched_->AddTarget(local_.get());
    sweeps_ = std::make_unique<scheduler::SweepController>(store_.get(), sched_.get(), &clock_,
                                                           so.on_change);
    // Set before the scheduler starts (targets_ too): sweeps' trials, then deleting the
    // clusters made for runs that have ended.
    sched_->SetBeforeCycle([this] {
      sweeps_->Step();
      if (pipelines_) pipelines_->Step();
      if (schedules_) schedules_->Step();
      if (targets_) targets_->ReapRunClusters();
    });
    return Status::Ok();
  }

  // Remote targets' manager, the users, Studio's files and the API over all of it.
  Status MakeApi() {
    TargetManagerDeps td;
    td.store = store_.get();
    td.scheduler = sched_.get();
    td.clock = &clock_;
    td.sealer = &*sealer_;
    td.home = o_.home;
    td.ferry_executable = JoinPath(ExecutableDir(), "ferry");
    td.python_package_dir = FindPythonPackageDir();
    td.server_port = [this] { return http_port_.load(); };
    td.server_bind = o_.bind_address;
    td.add_listener = [this](const std::string& address) -> Result<int> {
      net::HttpServer* h = http_ptr_.load();
      if (!h) return Status::Unavailable("the server is not listening yet");
      return h->AddListener(address, 0);
    };
    targets_ = std::make_unique<TargetManager>(td);
    users_ = std::make_unique<UserDirectory>(store_.get());
    FERRY_RETURN_IF_ERROR(users_->Reload().WithContext("reading the workspace's users"));
    studio_ = std::make_unique<StudioFiles>(StudioFiles::FindDir());

    ApiDeps deps;
    deps.store = store_.get();
    deps.blobs = blobs_.get();
    deps.logs = logs_.get();
    deps.scheduler = sched_.get();
    deps.targets = targets_.get();
    deps.clock = &clock_;
    deps.users = users_.get();
    deps.workspace_token = token_;
    deps.mlflow_artifact_root = ArtifactRoot(o_.default_artifact_root);
    deps.run_secret = secret_;
    deps.notify = [this](const std::string& channel) { Notify(channel); };
    deps.shutdown = [this] { stop_ = true; };
    deps.studio = studio_.get();
    deps.run_changes = &run_changes_;
    deps.ingest = &ingest_;
    deps.sealer = &*sealer_;
    deps.home = o_.home;
    deps.schedule_minute_seconds = ScheduleMinuteSeconds();
    api_ = std::make_unique<Api>(std::move(deps));
    PipelineDeps pd;
    pd.store = store_.get();
    pd.scheduler = sched_.get();
    pd.clock = &clock_;
    pd.on_change = [this](const std::string& id) { Notify(RunChannel(id)); };
    pd.prepare_run = [this](const nlohmann::json& body, const std::string& user) {
      return api_->PrepareRun(body, user);
    };
    pipelines_ = std::make_unique<PipelineController>(std::move(pd));
    MakeScheduleLoop();
    return Status::Ok();
  }

  // Test knobs, read from the environment and never documented for users: a schedule's
  // minute in seconds (FERRY_SCHEDULE_MINUTE_SECONDS=2 makes a one-minute recurrence or
  // polling interval two seconds), and a pause between a schedule's claim of a slot and its
  // submit (FERRY_SCHEDULE_TEST_HOLD_SECONDS) so a test can kill the server with a claim
  // pending. Unset (every real server), minutes are minutes and nothing pauses.
  static double EnvSeconds(const char* name, double fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    char* end = nullptr;
    const double x = std::strtod(v, &end);
    return (end != v && *end == '\0' && x > 0 && x <= 3600) ? x : fallback;
  }
  static double ScheduleMinuteSeconds() { return EnvSeconds("FERRY_SCHEDULE_MINUTE_SECONDS", 60); }

  // The schedule loop, its submits and listings through the API (on the scheduler's thread).
  void MakeScheduleLoop() {
    ScheduleLoopDeps sd;
    sd.store = &store_->Published();
    sd.clock = &clock_;
    sd.minute_seconds = ScheduleMinuteSeconds();
    const double hold = EnvSeconds("FERRY_SCHEDULE_TEST_HOLD_SECONDS", 0);
    sd.submit = [this, hold](
                    const store::ScheduleRecord& rec, const pipeline::ScheduleSpec& spec,
                    const std::map<std::string, nlohmann::json>& parameters,
                    const std::map<std::string, std::string>& tags) -> Result<std::string> {
      if (hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(hold));
      PublishedSubmit s;
      s.pipeline_id = spec.pipeline_id;
      s.endpoint_id = spec.pipeline_endpoint_id;
      s.experiment = spec.experiment_name;
      s.parameters = parameters;
      s.tags = tags;
      s.continue_on_step_failure = spec.continue_on_step_failure;
      s.user = rec.created_by;
      FERRY_ASSIGN_OR_RETURN(model::Run run, api_->SubmitPublished(s));
      return run.id;
    };
    sd.find_run = [this](const std::string& schedule_id,
                         const std::string& fire) -> Result<std::string> {
      model::RunFilter f;
      f.tags = {{"ferry.schedule", schedule_id}, {"ferry.schedule.fire", fire}};
      f.light = true;
      f.limit = 1;
      FERRY_ASSIGN_OR_RETURN(auto runs, store_->ListRuns(f));
      return runs.empty() ? std::string() : runs[0].id;
    };
    sd.list = [this](const std::string& datastore,
                     const std::string& path) -> Result<std::vector<WatchedFile>> {
      FERRY_ASSIGN_OR_RETURN(auto files, api_->ListDatastorePath(datastore, path));
      std::vector<WatchedFile> out;
      out.reserve(files.size());
      for (const auto& f : files) {
        out.push_back({f.path, f.size, f.modified_at, f.etag.empty() ? f.blob : f.etag});
      }
      return out;
    };
    schedules_ = std::make_unique<ScheduleLoop>(std::move(sd));
  }

  // /metrics and the access log, both fed by the HTTP server's observer.
  void MakeObservers() {
    http_metrics_ = std::make_unique<HttpMetrics>(Api::RouteTable());
    MetricsDeps md;
    md.store = store_.get();
    md.runs = run_counter_.get();
    md.http = http_metrics_.get();
    md.ingest = &ingest_;
    md.workspace_token = token_;
    md.users = users_.get();
    metrics_ = std::make_unique<MetricsEndpoint>(std::move(md));
    AccessLogDeps ad;
    ad.logger =
        ComponentLogger("access", o_.log, /*message_is_fields=*/o_.log.format == LogFormat::kJson);
    ad.json = o_.log.format == LogFormat::kJson;
    ad.workspace_token = token_;
    ad.run_secret = secret_;
    ad.users = users_.get();
    ad.routes = http_metrics_.get();
    access_log_ = std::make_unique<AccessLog>(std::move(ad));
  }

  Status ServeHttp() {
    net::HttpServerOptions ho;
    ho.bind_address = o_.bind_address;
    ho.port = o_.port;
    ho.threads = o_.http_threads;
    ho.workers = o_.http_workers;
    ho.bulk_workers = o_.http_bulk_workers;
    // /metrics is the server's, outside the API (where Prometheus looks by default).
    ho.admit = [this](net::HttpRequest& head) {
      return head.path == "/metrics" ? metrics_->Admit(head) : api_->Admit(head);
    };
    ho.handler = [this](net::HttpRequest& r) -> net::HandlerResult {
      if (r.path == "/metrics") return metrics_->Serve();
      return api_->Handle(r);
    };
    ho.observe = [this](const net::RequestRecord& r) {
      http_metrics_->Record(r.request.method, r.request.path, r.status, r.duration,
                            std::chrono::steady_clock::now());
      access_log_->Record(r);
      if (!r.aborted.empty()) {
        spdlog::warn("{} {}: the response stopped after {} bytes of its body: {}",
                     EscapeBytes(r.request.method), EscapeBytes(r.request.path), r.bytes,
                     r.aborted);
      }
    };
    FERRY_ASSIGN_OR_RETURN(http_, net::HttpServer::Start(ho));
    http_ptr_ = http_.get();
    http_port_ = http_->port();
    return Status::Ok();
  }

  // server.json (how clients find the server) and the log lines that say where it listens.
  Status Announce() {
    const std::string& bind = o_.bind_address;
    std::string host = bind.find(':') != std::string::npos ? "[" + bind + "]" : bind;
    std::string url = "http://" + host + ":" + std::to_string(http_->port());
    nlohmann::json info = {
        {"url", url}, {"pid", static_cast<int>(::getpid())}, {"port", http_->port()}};
    FERRY_RETURN_IF_ERROR(
        WriteFileAtomic(HomePath(o_.home, "server.json"), info.dump() + "\n", 0600));
    if (bind != "127.0.0.1" && bind != "::1" && bind != "localhost") {
      spdlog::warn("listening on {} (not loopback): every request needs the workspace token", bind);
    }
    spdlog::info("ferry server listening on {} (workspace {}, version {})", url, o_.home,
                 Version());
    if (studio_->dir().empty())
      spdlog::info("Studio is not installed (build web/ with make); the API is served");
    spdlog::default_logger()->flush();
    return Status::Ok();
  }

  // Until SIGTERM, SIGINT or POST /api/v1/shutdown.
  void WaitForStop(const sigset_t& sigs) {
    while (!stop_) {
      timespec ts{0, 200'000'000};  // 200 ms
      int sig = ::sigtimedwait(&sigs, nullptr, &ts);
      if (sig == SIGTERM || sig == SIGINT) break;
    }
  }

  void Stop() {
    spdlog::info("ferry server stopping");
    // Only remove server.json if it is still ours.
    auto current = ReadServerInfo(o_.home);
    if (current.ok() && current->pid == ::getpid())
      ::unlink(HomePath(o_.home, "server.json").c_str());
    sched_->Stop();
    if (auto all = store_->ListTargets(); all.ok()) {
      for (auto& t : *all) {
        if (t.name != "local") sched_->RemoveTarget(t.name);  // stops their monitors and tunnels
      }
    }
    http_ptr_ = nullptr;
    http_->Stop();
    spdlog::default_logger()->flush();
  }

  const ServerOptions& o_;
  const Clock& clock_ = DefaultClock();
  UniqueFd lock_;
  std::string token_, secret_;
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<store::RunCounter> run_counter_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<LogStore> logs_;
  std::optional<Sealer> sealer_;
  std::unique_ptr<compute::ComputeTarget> local_;
  std::atomic<net::HttpServer*> http_ptr_{nullptr};
  std::atomic<uint64_t> run_changes_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> http_port_{0};
  IngestCounters ingest_;
  std::unique_ptr<scheduler::Scheduler> sched_;
  std::unique_ptr<scheduler::SweepController> sweeps_;
  std::unique_ptr<PipelineController> pipelines_;  // set once the API exists (its runs' checks)
  std::unique_ptr<ScheduleLoop> schedules_;        // set once the API exists (its submits)
  std::unique_ptr<TargetManager> targets_;
  std::unique_ptr<UserDirectory> users_;
  std::unique_ptr<StudioFiles> studio_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpMetrics> http_metrics_;
  std::unique_ptr<MetricsEndpoint> metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<net::HttpServer> http_;
};

}  // namespace

Status RunServer(const ServerOptions& o) {
  // Before any thread starts (the log flusher's included), so that only the main thread
  // takes the stop signals.
  const sigset_t stop_signals = BlockStopSignals();
  InstallLogging(o.log);
  return Server(o).Run(stop_signals);
}

}  // namespace ferry::server
