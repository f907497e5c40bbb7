// The model registry's records: registered models and their numbered versions (one registry
// behind Azure ML's /api/v1/models shape and MLflow's registered-models/model-versions), their
// aliases, and MLflow 3's logged models (a model as an experiment logged it, before or
// without registration).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::model {

// MLflow's stages of a model version; "None" for a new one.
inline constexpr std::string_view kStageNone = "None", kStageStaging = "Staging",
                                  kStageProduction = "Production", kStageArchived = "Archived";

// The canonical stage for any spelling of one ("staging", "PRODUCTION"); InvalidArgument names
// the value and the four stages.
Result<std::string> CanonicalStage(std::string_view stage);

// MLflow's rule for registered model names: not blank, no '/' or ':'. The Azure-shaped API
// and the CLI apply ValidateAssetName("model", ...) on top.
Status ValidateRegistryName(std::string_view name);

// MLflow's rule for aliases: letters, digits, '_' and '-', at most 255 characters, not
// "latest" and not of the form v<digits> (those name versions).
Status ValidateModelAlias(std::string_view alias);

struct ModelAlias {
  std::string alias;
  int64_t version = 0;
};

struct RegisteredModel {
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
  std::string created_by;  // "" for the workspace token
  double created_at = 0;
  double updated_at = 0;
  std::vector<ModelAlias> aliases;  // filled by reads, sorted by alias
};

struct ModelVersion {
  std::string name;
  int64_t version = 0;  // 1, 2, ... per name; a deleted version's number is never reused
  // Where MLflow's clients find the files: the URI the version was created with (source) and
  // what it resolves to (storage_location: a logged model's or a run's artifact location, or
  // for files Ferry holds, mlflow-artifacts:/_ferry/snapshots/<manifest>). "" when the same.
  std::string source;
  std::string storage_location;
  std::string run_id;  // the run that produced it, "" when none
  std::string run_link;
  std::string model_id;  // the MLflow 3 logged model it was registered from, "" when none
  std::string status = "READY";
  std::string status_message;
  std::string description;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> properties;  // Azure's properties: set once, never removed
  std::string stage = std::string(kStageNone);
  // The files when Ferry holds them: a snapshot (canonical Manifest) in the workspace blob
  // store. "" when the files are only where source says.
  std::string manifest_hash;
  int64_t file_count = 0;
  int64_t total_bytes = 0;
  std::string created_by;
  double created_at = 0;
  double updated_at = 0;
  std::vector<std::string> aliases;  // filled by reads, sorted
};

// One metric point logged for a logged model (runs/log-metric with a model_id).
struct LoggedModelMetric {
  std::string key;
  double value = 0;
  int64_t timestamp_ms = 0;
  int64_t step = 0;
  std::string run_id;
  std::string dataset_name;
  std::string dataset_digest;
};

// MLflow 3's logged model.
struct LoggedModel {
  std::string model_id;  // "m-" + 32 hex digits
  std::string experiment_id;
  std::string name;
  std::string source_run_id;
  std::string status = "LOGGED_MODEL_PENDING";  // _READY, _UPLOAD_FAILED
  std::string status_message;
  std::string artifact_location;
  std::string model_type;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
  std::string created_by;
  double created_at = 0;
  double updated_at = 0;
  std::vector<LoggedModelMetric> metrics;  // filled by GetLoggedModel, in logged order
};

// A run's use of a logged model: MLflow's run inputs (direction "input") and outputs ("output",
// with the step it was logged at).
struct LoggedModelUse {
  std::string run_id;
  std::string direction;
  std::string model_id;
  int64_t step = 0;
};

}  // namespace ferry::model
