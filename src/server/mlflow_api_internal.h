// What the MLflow handlers share (src/server only, never included outside it): MLflow's
// protocol (its error replies, its parameter readers: proto3's JSON mapping, integers as
// strings, NaN as "NaN", MLflow's wording) and the per-request Handler, whose member functions
// are the endpoints, one file per group (mlflow_api_<group>.cc). mlflow_api.cc holds the
// endpoint table, authorisation and routing.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/registry.h"
#include "model/run.h"
#include "net/http_server.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/mlflow_filter.h"

namespace ferry::server::mlflow {

using json = nlohmann::json;

// MLflow's limits (log-batch) and its default experiment.
inline constexpr size_t kMaxBatchMetrics = 1000, kMaxBatchParams = 100, kMaxBatchTags = 100,
                        kMaxBatchTotal = 1000;
inline constexpr size_t kMaxParamValue = 6000, kMaxKey = 250, kMaxTagValue = 8000;
inline constexpr const char* kDefaultExperiment = "Default";    // MLflow's experiment "0"
inline constexpr const char* kDatasetsTag = "mlflow.datasets";  // a run's dataset inputs (JSON)
// ---- MLflow's protocol (mlflow_api_common.cc)
net::HttpResponse Reply(int status, const json& j);

net::HttpResponse Fail(const Status& st);

int64_t Ms(double seconds);

std::string MlflowStatus(model::RunStatus s);

// MLflow sends NaN and infinities as strings in its JSON.
json NumberJson(double v);

// MLflow's wording for bad parameters ("Invalid value 31 for parameter 'run_id' supplied",
// "Missing value for required parameter 'key'."), which its clients and tests match on; ours
// adds what the value must be.
Status InvalidValue(const std::string& name, const json& value, const std::string& must);

Status MissingValue(const std::string& name);

// `path` names the field in errors (e.g. "metrics[0].value"); it defaults to name.
Result<double> NumberField(const json& j, const char* name, const std::string& path = "");

// Integers arrive as JSON numbers or (protobuf's int64 mapping) as strings.
Result<std::optional<int64_t>> IntField(const json& j, const char* name,
                                        const std::string& path = "");

// A string parameter: a JSON string (MLflow's protocol has no other form for one). Required:
// present and not empty.
Result<std::string> Str(const json& j, const char* name, bool required,
                        const std::string& path = "");

Status CheckKey(const std::string& what, const std::string& key);

// [{"key": k, "value": v}...] -> map.
Result<std::map<std::string, std::string>> KeyValues(const json& j, const char* name,
                                                     const char* what);

json KeyValueList(const std::map<std::string, std::string>& m);

// One MLflow request on its way through its endpoint: the caller, the parameters and what
// has been looked up. Built per request by MlflowApi::Handle.
struct Handler {
  using HandlerResult = net::HandlerResult;
  using HttpRequest = net::HttpRequest;
  using HttpResponse = net::HttpResponse;

  Handler(ApiDeps& deps, HttpRequest& request, std::string ep)
      : d(deps), req(request), endpoint(std::move(ep)) {}
  ApiDeps& d;
  HttpRequest& req;
  std::string endpoint;            // after /api/2.0/mlflow/
  json p;                          // the request's parameters: JSON body, else the query string
  Caller caller;                   // who is calling (Authenticate)
  std::string token_run;           // a run's MLflow token: the run it is for (and may change)
  std::optional<model::Run> run_;  // the request's run, once looked up
  bool ended_ = false;             // the refusal is for a run that has ended (409 INVALID_STATE)
  std::vector<std::string> path_params;  // the "{}" segments of the endpoint's pattern
  std::vector<model::Experiment> experiments_;
  bool experiments_loaded_ = false;

  double Now() const { return d.clock->Now(); }
  void Changed(const std::string& run_id);

  // A person (the workspace token or a user with a role), or the MLflow token of the run the
  // request names (its run_id, or a logged model's source run). For the reads a script makes
  // to load a model (ScriptMayRead, or script_reads_models_), the token of any running run.
  Status Authenticate();
  // GET of a registered model, a version (its download URI), an alias or a logged model.
  bool ScriptMayRead() const;
  bool script_reads_models_ = false;  // the request reads a model's files (mlflow-artifacts)

  // The caller's role is at least `role` (a run's token has none).
  Status NeedRole(Role role, const std::string& what);

  // The run may be changed by this caller: its own MLflow token, its submitter (a
  // contributor) or an admin. A run that Ferry launched takes no more data once it has ended
  // (runs an MLflow client created follow MLflow, which allows it).
  Status MayChangeRun(const std::string& id, bool data);

  // The experiment may be changed by this caller: its creator (a contributor) or an admin.
  Status MayChangeExperiment(const std::string& id);

  // ---- experiments ----------------------------------------------------------------------

  // Every experiment, MLflow's Default (id 0) among them: a workspace that has never had it
  // gets it here, as a fresh MLflow server has it.
  Result<std::vector<model::Experiment>*> Experiments();
  void ForgetExperiments() { experiments_loaded_ = false; }

  static std::string IdOf(const model::Experiment& e) {
    return e.name == kDefaultExperiment ? "0" : std::to_string(e.id);
  }

  Result<model::Experiment> ExperimentById(const std::string& id);

  Result<model::Experiment> ExperimentByName(const std::string& name);

  // Where an experiment's MLflow clients keep artifacts: the location it was created with,
  // else the server's default artifact root (ferry server --default-artifact-root) plus its
  // id, else Ferry's store (mlflow-artifacts:/<id>, served by this API).
  std::string ArtifactLocation(const model::Experiment& e);

  // A run's artifact_uri. A run an MLflow client created keeps its artifacts where its
  // experiment says (a path or URI there is read and written by the client itself, as with
  // mlflow server); a run Ferry launched has its outputs in Ferry's store.
  std::string ArtifactUri(const model::Run& r, const model::Experiment& e);

  json ExperimentJson(const model::Experiment& e);

  // artifact_location is kept and answered as the experiment's (a relative local path made
  // absolute against the server's working directory, as MLflow does); the experiment's MLflow
  // runs keep their artifacts there (ArtifactUri; docs/mlflow.md).
  HttpResponse CreateExperiment();

  HttpResponse GetExperiment();

  HttpResponse GetExperimentByName();

  // view_type: ACTIVE_ONLY (default), DELETED_ONLY, ALL.
  static Result<std::string> ViewType(const json& j, const char* name);
  static bool InView(const std::string& view, const std::string& stage);

  Result<std::pair<size_t, size_t>> Page(size_t default_max, size_t limit);
  // The request's order_by clauses as text: a list, or (as some clients send it) one string.
  std::vector<std::string> OrderByTexts() const;

  // What both searches take: view type, paging, filter, order_by.
  struct Search {
    std::string view;
    std::pair<size_t, size_t> page;  // offset, count
    mlflow::Filter filter;
    std::vector<mlflow::OrderBy> order;
  };
  Result<Search> SearchArgs(const char* view_field);

  HttpResponse SearchExperiments();

  HttpResponse SetExperimentLifecycle(const std::string& stage);

  HttpResponse UpdateExperiment();

  HttpResponse SetExperimentTag();

  HttpResponse DeleteExperimentTag();

  // ---- runs -----------------------------------------------------------------------------

  Result<std::string> ExperimentIdOfRun(const model::Run& r);

  // MLflow's user_id: the Ferry user who made the run, else what its client said it was.
  static std::string UserId(const model::Run& r);

  Result<json> RunInfoJson(const model::Run& r);

  // What MLflow's run view reads besides the run row, loaded for many runs at once.
  struct RunData {
    std::vector<model::MetricPoint> latest;  // MLflow's latest point per key (see the store)
    std::map<std::string, std::string> params;
  };
  Result<std::map<std::string, RunData>> LoadRunData(const std::vector<std::string>& ids,
                                                     bool metrics, bool params);

  // The run's tags as MLflow shows them: its name and user as tags, datasets moved out.
  static std::map<std::string, std::string> MlflowTags(const model::Run& r,
                                                       const std::string& run_name,
                                                       json* dataset_inputs);

  // What a filter or an ordering reads of a run (metrics and params from data, when loaded).
  // Built from the run directly (no JSON: a search makes one per run it considers).
  Result<mlflow::RunView> ViewOf(const model::Run& r, const RunData* data);

  Result<json> RunJson(const model::Run& r, const RunData& data);

  // One run's full MLflow JSON.
  Result<json> RunJson(const model::Run& r);

  // The run, or MLflow's not-found error for it.
  // summary: without tags and the run's configuration (enough for checks).
  Result<model::Run> GetRunOr404(const std::string& id, bool summary = false);

  Result<std::string> RunIdParam();

  HttpResponse CreateRun();

  HttpResponse GetRun();

  HttpResponse UpdateRun();

  HttpResponse SetRunLifecycle(const std::string& stage);

  // A metric point; `at` prefixes the field names in errors ("metrics[3]." in a batch). The
  // timestamp is required, as MLflow requires it (its client always sends one).
  Result<model::MetricPoint> MetricFrom(const json& j, const std::string& at = "");

  Status CheckParams(const std::map<std::string, std::string>& params);

  Status CheckTags(const std::map<std::string, std::string>& tags);

  // Tags go to the run; mlflow.runName renames it.
  Status ApplyTags(const std::string& id, std::map<std::string, std::string> tags);

  // The run exists and is not deleted (MLflow's wording; every write to a run checks this).
  Status ActiveRun(const std::string& id);

  HttpResponse LogMetric();

  // log-parameter and set-tag: one key and value for a run.
  HttpResponse LogKeyValue(bool param);

  HttpResponse DeleteTag();

  // log-batch's metrics, each checked (errors name "metrics[i].field").
  Result<std::vector<model::MetricPoint>> BatchMetrics();
  HttpResponse LogBatch();

  // Dataset inputs (autologging logs the training data's description): kept with the run as
  // the tag "mlflow.datasets" (a JSON list, one entry per dataset name and digest) and answered
  // as the run's inputs.
  HttpResponse LogInputs();

  HttpResponse MetricHistory();

  // Runs of the experiments, filtered, sorted and paged. Cheap views first: a run's row and
  // tags, plus its latest metric points and params (batched reads of one row per key) only when
  // the filter or the order names them; JSON is built for the page returned only.
  // The runs of these experiments (MLflow ids) in the view, read light.
  Result<std::vector<model::Run>> RunsInView(const std::vector<std::string>& experiment_ids,
                                             const std::string& view);
  HttpResponse SearchRuns();

  // ---- the model registry (mlflow_api_registry.cc) ----------------------------------------
  // Registered models and versions are the same records as Ferry's /api/v1/models.

  json ModelVersionJson(const model::ModelVersion& v);
  // With latest_versions (the newest version of each stage) and aliases.
  json RegisteredModelJson(const model::RegisteredModel& m,
                           const std::vector<model::ModelVersion>& versions);
  // "version": a positive integer, as a string or a number.
  Result<int64_t> VersionParam();
  // MLflow's rules for a version's source: a local path must lie inside the artifact
  // directory of the run (or logged model) named with it; a URI must not climb with "..".
  Status CheckVersionSource(const std::string& source, const std::string& run_id,
                            const std::string& model_id);
  // What a source URI stands for in Ferry's store: models:/m-<id> -> the logged model's
  // location, models:/<name>/<version> -> that version's download URI; others as given.
  Result<std::string> ResolveSource(const std::string& source);
  // The files at a URI in Ferry's store (mlflow-artifacts:/..., runs:/<run>/<path>), with
  // paths relative to it; NotFound when the URI is elsewhere (a path the client wrote itself).
  Result<std::vector<model::Artifact>> FilesAt(const std::string& uri);

  HttpResponse CreateRegisteredModel();
  HttpResponse GetRegisteredModel();
  HttpResponse RenameRegisteredModel();
  HttpResponse UpdateRegisteredModel();
  HttpResponse DeleteRegisteredModel();
  HttpResponse SearchRegisteredModels();
  HttpResponse GetLatestVersions();
  HttpResponse SetRegisteredModelTag(bool set);
  HttpResponse SetModelAlias();
  HttpResponse DeleteModelAlias();
  HttpResponse GetModelVersionByAlias();
  HttpResponse CreateModelVersion();
  HttpResponse GetModelVersion();
  HttpResponse UpdateModelVersion();
  HttpResponse DeleteModelVersion();
  HttpResponse SearchModelVersions();
  HttpResponse TransitionModelVersionStage();
  HttpResponse GetModelVersionDownloadUri();
  HttpResponse SetModelVersionTag(bool set);

  // ---- MLflow 3's logged models (mlflow_api_logged_models.cc) ------------------------------

  json LoggedModelJson(const model::LoggedModel& m);
  // The logged model the path names ({model_id}), not deleted.
  Result<model::LoggedModel> PathLoggedModel();
  // Where a new logged model's files go: with a source run in Ferry's store, under the run's
  // artifacts (models/<id>), so the run's own token may upload them; else MLflow's layout,
  // <experiment location>/models/<id>/artifacts.
  std::string LoggedModelLocation(const model::Experiment& e, const std::string& run_id,
                                  const std::string& model_id);
  HttpResponse CreateLoggedModel();
  HttpResponse GetLoggedModel();
  HttpResponse FinalizeLoggedModel();
  HttpResponse DeleteLoggedModel();
  HttpResponse SearchLoggedModels();
  HttpResponse SetLoggedModelTags();
  HttpResponse DeleteLoggedModelTag();
  HttpResponse LogLoggedModelParams();
  // logged-models/{id}/artifacts/directories and /artifacts/files (MLflow's UI routes): from
  // Ferry's store, or from a local directory under the server's default artifact root.
  HttpResponse ListLoggedModelArtifacts();
  HttpResponse GetLoggedModelArtifact();
  // runs/outputs: the logged models a run produced (with their steps).
  HttpResponse LogOutputs();
  // Metric points of log-metric/log-batch that name a model_id go to that logged model too.
  Status LogModelMetrics(const std::string& run_id, const std::vector<json>& points);

  // ---- artifacts (mlflow-artifacts) -------------------------------------------------------
  // A run's artifact_uri is mlflow-artifacts:/<experiment>/<run>/artifacts; the client sends
  // /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>. Files are the
  // run's artifacts (the same as `ferry run download`): content in the blob store, the path
  // in the run's artifact list.

  // Whose files a path names: a run's (<experiment>/<run>/artifacts/...), a logged model's
  // (<experiment>/models/<model id>/artifacts/...) or, read-only, a snapshot Ferry holds a
  // registered model version's files in (_ferry/snapshots/<id>/...).
  struct ArtifactPath {
    std::string experiment_id, run_id, rel;  // rel: "" for the root
    std::string model_id;                    // a logged model's files
    std::string snapshot;                    // a snapshot's files
  };

  // The forms above, read without looking anything up (the caller authenticates first).
  // "." components are dropped, as MLflow normalises them (download_artifacts(artifact_path=
  // ".") asks for the run's root).
  static Result<ArtifactPath> SplitArtifactPath(const std::string& path);

  // Every file of the path's owner (run, logged model or snapshot), paths from its root.
  Result<std::vector<model::Artifact>> OwnerFiles(const ArtifactPath& a);

  // The run exists and is in the experiment the path names.
  Status CheckArtifactRun(const ArtifactPath& a);

  // The file's bytes streamed into the blob store as they arrived (admission made the sink);
  // a request that was not streamed carries them in its body.
  HttpResponse UploadArtifact(const ArtifactPath& a);

  HttpResponse DownloadArtifact(const ArtifactPath& a);

  // The entries directly under a directory: {"files": [{path, is_dir, file_size}]}, paths
  // relative to the listed directory.
  HttpResponse ListArtifactDir(const ArtifactPath& a);

  HandlerResult RouteArtifacts(const std::string& rest);

  // ---- routing --------------------------------------------------------------------------

  // A write to a Ferry run that has ended: 409, as on /api/v1 (MLflow's INVALID_STATE).
  HttpResponse Ended(const Status& st);

  // MLflow's answer to a path it does not serve: the client reports ENDPOINT_NOT_FOUND.
  HttpResponse NoEndpoint();

  // `endpoint` is the path after /api/<version>/mlflow/; only 2.0's are served.
  HandlerResult Route(const std::string& version);

  // Who may call an endpoint (docs/security.md): readers read; contributors create
  // experiments and runs and change their own; admins change anyone's. A run's MLflow token
  // may use only the endpoints marked for it, for its own run.
  // kRegistry: the model registry's writes (contributor); kLoggedModel: a logged model's
  // writes (contributor, or the MLflow token of the logged model's source run).
  enum class Need { kRead, kCreate, kExperiment, kRun, kRunData, kRegistry, kLoggedModel };
  struct Endpoint {
    const char* name;     // the path after mlflow/; "{}" segments match any one segment
    const char* methods;  // "GET", "POST", "GET POST", "PATCH", "DELETE"
    Need need;
    bool run_token;  // a run's MLflow token may call it (for its own run)
    std::function<HttpResponse(Handler&)> handle;
  };
  static const std::vector<Endpoint>& Endpoints();
  // The request's method and endpoint fit ep; fills path_params.
  bool MatchEndpoint(const Endpoint& ep);

  Status Authorize(const Endpoint& ep);
};

}  // namespace ferry::server::mlflow
