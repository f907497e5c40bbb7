// The run's plan (see plan.h).
#include "agent/plan.h"

namespace ferry::agent {

using nlohmann::json;

namespace {

Status Bad(const std::string& field, const std::string& want) {
  return Status::InvalidArgument("the run's plan is not valid: '" + field + "' is not " + want);
}

// Reads obj[key] into *out when present; InvalidArgument when it has another type.
template <typename T>
Status Optional(const json& obj, const char* key, const std::string& field, T* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return Bad(field, "a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return Bad(field, "true or false");
  } else if constexpr (std::is_unsigned_v<T>) {
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      return Bad(field, "a count");
    }
  } else {
    if (!it->is_number_integer()) return Bad(field, "an integer");
  }
  *out = it->get<T>();
  return Status::Ok();
}

}  // namespace

Result<Plan> ParsePlan(const json& plan, int rank) {
  if (!plan.is_object()) return Status::InvalidArgument("the run's plan is not a JSON object");
  Plan p;
  p.next_metric_seq = static_cast<int64_t>(rank) << 40;
  auto run = plan.find("run");
  if (run == plan.end() || !run->is_object()) return Bad("run", "an object");
  p.run = *run;
  auto manifest = plan.find("manifest_id");
  if (manifest == plan.end() || !manifest->is_string() || manifest->get<std::string>().empty()) {
    return Bad("manifest_id", "a snapshot id");
  }
  p.manifest_id = manifest->get<std::string>();
  FERRY_RETURN_IF_ERROR(Optional(plan, "log_size", "log_size", &p.log_size));
  FERRY_RETURN_IF_ERROR(Optional(plan, "next_metric_seq", "next_metric_seq", &p.next_metric_seq));
  FERRY_RETURN_IF_ERROR(Optional(plan, "mlflow_token", "mlflow_token", &p.mlflow_token));
  if (auto urls = plan.find("input_urls"); urls != plan.end() && !urls->is_null()) {
    if (!urls->is_object())
      return Status::InvalidArgument("plan field 'input_urls' must be an object");
    p.input_urls = *urls;
  }
  FERRY_RETURN_IF_ERROR(Optional(*run, "status", "run.status", &p.status));
  FERRY_RETURN_IF_ERROR(Optional(*run, "experiment", "run.experiment", &p.experiment));
  FERRY_RETURN_IF_ERROR(Optional(*run, "script", "run.script", &p.script));
  FERRY_RETURN_IF_ERROR(Optional(*run, "python", "run.python", &p.python));
  FERRY_RETURN_IF_ERROR(Optional(*run, "attempt", "run.attempt", &p.attempt));
  FERRY_RETURN_IF_ERROR(
      Optional(*run, "cancel_requested", "run.cancel_requested", &p.cancel_requested));
  if (auto args = run->find("arguments"); args != run->end() && !args->is_null()) {
    if (!args->is_array()) return Bad("run.arguments", "a list of strings");
    for (const auto& a : *args) {
      if (!a.is_string()) return Bad("run.arguments", "a list of strings");
      p.arguments.push_back(a.get<std::string>());
    }
  }
  if (auto gpus = run->find("gpu_ids"); gpus != run->end() && gpus->is_array()) {
    for (const auto& g : *gpus) {
      if (!g.is_number_integer()) return Bad("run.gpu_ids", "a list of device numbers");
      p.gpu_ids.push_back(g.get<int>());
    }
  }
  return p;
}

}  // namespace ferry::agent
