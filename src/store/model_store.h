// ModelStore: the contract for the workspace's model registry (model/registry.h): registered
// models, their numbered versions (with Azure's properties and MLflow's stages, tags and
// aliases), and MLflow 3's logged models with their files, metrics and runs. One registry
// answers Ferry's /api/v1/models and MLflow's registered-models/model-versions alike. The
// SQLite store implements it on the runs' database (MetadataStore::Models()).
//
// Thread-safety, errors and atomicity as MetadataStore's: any thread; NotFound and
// AlreadyExists name the thing; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/registry.h"
#include "model/run.h"

namespace ferry::store {

class ModelStore {
 public:
  virtual ~ModelStore() = default;

  // ---- registered models ------------------------------------------------------------------

  // AlreadyExists when the name is taken (MLflow's wording); InvalidArgument for a name
  // model::ValidateRegistryName refuses. created_at and updated_at are set to now.
  virtual Result<model::RegisteredModel> CreateRegisteredModel(const model::RegisteredModel& m,
                                                               double now) = 0;
  // With its aliases. NotFound names the model.
  virtual Result<model::RegisteredModel> GetRegisteredModel(const std::string& name) = 0;
  // Every registered model by name, with aliases.
  virtual Result<std::vector<model::RegisteredModel>> ListRegisteredModels() = 0;
  // Applies `change` (description, tags) to the model in one transaction and stores the
  // result with updated_at now; the name and times it sets are ignored. An error from change
  // is returned and nothing is stored.
  virtual Result<model::RegisteredModel> UpdateRegisteredModel(
      const std::string& name, const std::function<Status(model::RegisteredModel*)>& change,
      double now) = 0;
  // The model, its versions, aliases and lineage edges get the new name; AlreadyExists when
  // it is taken.
  virtual Result<model::RegisteredModel> RenameRegisteredModel(const std::string& name,
                                                               const std::string& new_name,
                                                               double now) = 0;
  // The model with every version and alias (MLflow's delete; the lineage edges go too).
  virtual Status DeleteRegisteredModel(const std::string& name) = 0;

  // ---- versions ---------------------------------------------------------------------------

  // Stores v as the next version of v.name (one more than any version it ever had, deleted
  // ones included); v.version, created_at, updated_at and aliases are ignored. NotFound when
  // the registered model does not exist, unless create_model (Azure's register makes the
  // name on first use). An output lineage edge (asset "model") is recorded for v.run_id when
  // it names a run of this workspace.
  virtual Result<model::ModelVersion> CreateModelVersion(const model::ModelVersion& v,
                                                         bool create_model, double now) = 0;
  // version 0: the latest version that is not deleted. NotFound names model and version.
  virtual Result<model::ModelVersion> GetModelVersion(const std::string& name, int64_t version) = 0;
  // name "": every model's versions; else that model's. Deleted versions are left out.
  // Sorted by name, then version.
  virtual Result<std::vector<model::ModelVersion>> ListModelVersions(const std::string& name) = 0;
  // One model's versions newest first: at most `limit` of those below version `before` (0: from
  // the newest). Deleted versions are left out. A search that needs only a page of a model with
  // many versions reads just that page.
  virtual Result<std::vector<model::ModelVersion>> ListModelVersionsNewestFirst(
      const std::string& name, int64_t before, int64_t limit) = 0;
  // As UpdateRegisteredModel, for one version (description, tags, properties, status); its
  // model's updated_at becomes now too.
  virtual Result<model::ModelVersion> UpdateModelVersion(
      const std::string& name, int64_t version,
      const std::function<Status(model::ModelVersion*)>& change, double now) = 0;
  // MLflow's stage transition; with archive_existing the model's other versions in that
  // stage become Archived in the same transaction. stage must be canonical.
  virtual Result<model::ModelVersion> TransitionModelVersionStage(const std::string& name,
                                                                  int64_t version,
                                                                  const std::string& stage,
                                                                  bool archive_existing,
                                                                  double now) = 0;
  // Marks the version deleted (its number stays taken) and drops its aliases.
  virtual Status DeleteModelVersion(const std::string& name, int64_t version, double now) = 0;

  // ---- aliases ----------------------------------------------------------------------------

  // Points alias at version (moving it if set); NotFound for an unknown model or version.
  virtual Status SetModelAlias(const std::string& name, const std::string& alias,
                               int64_t version) = 0;
  // Removing an alias that is not set succeeds (as MLflow's does).
  virtual Status DeleteModelAlias(const std::string& name, const std::string& alias) = 0;
  // NotFound names the model and alias.
  virtual Result<model::ModelVersion> GetModelVersionByAlias(const std::string& name,
                                                             const std::string& alias) = 0;

  // ---- MLflow 3 logged models -------------------------------------------------------------

  // m.model_id is chosen by the caller (unique); times set to now.
  virtual Result<model::LoggedModel> CreateLoggedModel(const model::LoggedModel& m, double now) = 0;
  // With its metrics; NotFound (also for a deleted one) names the model id.
  virtual Result<model::LoggedModel> GetLoggedModel(const std::string& model_id) = 0;
  // The experiments' logged models that are not deleted (metrics left out), newest first.
  virtual Result<std::vector<model::LoggedModel>> ListLoggedModels(
      const std::vector<std::string>& experiment_ids) = 0;
  // As UpdateRegisteredModel (status, params, tags).
  virtual Result<model::LoggedModel> UpdateLoggedModel(
      const std::string& model_id, const std::function<Status(model::LoggedModel*)>& change,
      double now) = 0;
  virtual Status DeleteLoggedModel(const std::string& model_id, double now) = 0;
  // NotFound for an unknown logged model; a point already logged (same key, step, time,
  // run and dataset) is kept once.
  virtual Status AddLoggedModelMetrics(const std::string& model_id,
                                       const std::vector<model::LoggedModelMetric>& points) = 0;
  // Model ids (of any experiment) with a metric on that dataset (digest "" matches any).
  virtual Result<std::vector<std::string>> LoggedModelsWithDataset(const std::string& name,
                                                                   const std::string& digest) = 0;
  // The logged model's files in Ferry's store (mlflow-artifacts): added or replaced by path.
  virtual Status AddLoggedModelFiles(const std::string& model_id,
                                     const std::vector<model::Artifact>& files) = 0;
  virtual Result<std::vector<model::Artifact>> ListLoggedModelFiles(
      const std::string& model_id) = 0;
  // Each use once; NotFound for an unknown run or logged model.
  virtual Status RecordLoggedModelUses(const std::vector<model::LoggedModelUse>& uses) = 0;
  virtual Result<std::vector<model::LoggedModelUse>> LoggedModelUsesOfRun(
      const std::string& run_id) = 0;
};

}  // namespace ferry::store
