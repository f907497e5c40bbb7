// The workspace's node sizes and default node provider (managed clusters): what a size name
// such as STANDARD_D2_V2 means here (CPUs, memory, GPUs, and which provider starts such
// nodes), set by an admin, kept in <home>/node_sizes.json like the quota. Until an admin
// changes it the catalog holds the size names Azure ML users type, with Azure's numbers.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/json_fields.h"
#include "server/targets.h"

namespace ferry::server {

using nlohmann::json;

namespace {

struct SeedSize {
  const char* name;
  int cpus;
  int memory_mb;
  int gpus;
};

// Azure's published sizes of the families ML users pick (vCPUs, memory in GiB x 1024, GPUs).
constexpr SeedSize kSeedSizes[] = {
    {"STANDARD_D1_V2", 1, 3584, 0},
    {"STANDARD_D2_V2", 2, 7168, 0},
    {"STANDARD_D3_V2", 4, 14336, 0},
    {"STANDARD_D4_V2", 8, 28672, 0},
    {"STANDARD_D5_V2", 16, 57344, 0},
    {"STANDARD_D11_V2", 2, 14336, 0},
    {"STANDARD_D12_V2", 4, 28672, 0},
    {"STANDARD_D13_V2", 8, 57344, 0},
    {"STANDARD_D14_V2", 16, 114688, 0},
    {"STANDARD_DS1_V2", 1, 3584, 0},
    {"STANDARD_DS2_V2", 2, 7168, 0},
    {"STANDARD_DS3_V2", 4, 14336, 0},
    {"STANDARD_DS4_V2", 8, 28672, 0},
    {"STANDARD_DS5_V2", 16, 57344, 0},
    {"STANDARD_DS11_V2", 2, 14336, 0},
    {"STANDARD_DS12_V2", 4, 28672, 0},
    {"STANDARD_DS13_V2", 8, 57344, 0},
    {"STANDARD_DS14_V2", 16, 114688, 0},
    {"STANDARD_D2_V3", 2, 8192, 0},
    {"STANDARD_D4_V3", 4, 16384, 0},
    {"STANDARD_D8_V3", 8, 32768, 0},
    {"STANDARD_D16_V3", 16, 65536, 0},
    {"STANDARD_D2S_V3", 2, 8192, 0},
    {"STANDARD_D4S_V3", 4, 16384, 0},
    {"STANDARD_D8S_V3", 8, 32768, 0},
    {"STANDARD_E4S_V3", 4, 32768, 0},
    {"STANDARD_F4S_V2", 4, 8192, 0},
    {"STANDARD_F8S_V2", 8, 16384, 0},
    {"STANDARD_NC6", 6, 57344, 1},
    {"STANDARD_NC12", 12, 114688, 2},
    {"STANDARD_NC24", 24, 229376, 4},
    {"STANDARD_NC6S_V3", 6, 114688, 1},
    {"STANDARD_NC12S_V3", 12, 229376, 2},
    {"STANDARD_NC24S_V3", 24, 458752, 4},
    {"STANDARD_NC4AS_T4_V3", 4, 28672, 1},
    {"STANDARD_NC8AS_T4_V3", 8, 57344, 1},
    {"STANDARD_NC24ADS_A100_V4", 24, 225280, 1},
    {"STANDARD_NV6", 6, 57344, 1},
    {"STANDARD_ND40RS_V2", 40, 688128, 8},
};

// Fields of a size or of the default provider that are handed to the cluster kind as given.
constexpr const char* kProviderFields[] = {"start_command", "stop_command", "controller_address",
                                           "server_url"};

std::string Upper(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

json SeedCatalog() {
  json sizes = json::object();
  for (const auto& s : kSeedSizes) {
    sizes[s.name] = {{"cpus", s.cpus}, {"memory_mb", s.memory_mb}, {"gpus", s.gpus}};
  }
  return json{{"default_provider", nullptr}, {"sizes", sizes}};
}

// {"provider": "netns"|"command", the command provider's fields, "low_priority": bool}.
Result<json> ProviderFromBody(const json& body, bool required) {
  FERRY_ASSIGN_OR_RETURN(std::string provider, StringField(body, "provider", required));
  json p = json::object();
  if (provider.empty()) return p;
  if (provider != "netns" && provider != "command") {
    return Status::InvalidArgument("field 'provider': '" + provider +
                                   "' is not a node provider; use netns or command");
  }
  p["provider"] = provider;
  for (const char* f : kProviderFields) {
    FERRY_ASSIGN_OR_RETURN(std::string v, StringField(body, f, false));
    if (!v.empty()) p[f] = v;
  }
  if (provider == "command" && (!p.contains("start_command") || !p.contains("stop_command"))) {
    return Status::InvalidArgument(
        "the command provider needs 'start_command' and 'stop_command' (--start-command, "
        "--stop-command)");
  }
  if (auto it = body.find("low_priority"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::InvalidArgument("field 'low_priority' must be a boolean");
    p["low_priority"] = it->get<bool>();
  }
  if (auto it = body.find("outbound"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::InvalidArgument("field 'outbound' must be a boolean");
    if (provider != "netns" && it->get<bool>())
      return Status::InvalidArgument("field 'outbound' is for the netns provider only");
    p["outbound"] = it->get<bool>();
  }
  return p;
}

}  // namespace

Result<json> TargetManager::ReadNodeSizes() {
  const std::string path = JoinPath(d_.home, "node_sizes.json");
  auto text = ReadFile(path);
  if (!text.ok()) return SeedCatalog();
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("sizes") || !j["sizes"].is_object())
    return Status::Corruption(path + " is not a node-size catalog (an object with \"sizes\")");
  return j;
}

Result<json> TargetManager::GetNodeSizes() {
  FERRY_ASSIGN_OR_RETURN(json cat, ReadNodeSizes());
  json list = json::array();
  for (const auto& [name, s] : cat["sizes"].items()) {
    json e = s;
    e["name"] = name;
    list.push_back(e);
  }
  std::sort(list.begin(), list.end(),
            [](const json& a, const json& b) { return a["name"] < b["name"]; });
  return json{{"default_provider", cat.value("default_provider", json())}, {"sizes", list}};
}

Result<json> TargetManager::SetNodeSize(const std::string& name, const json& body) {
  MutexLock lock(&mu_);
  if (name.empty() || name.size() > 128 || !std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
      })) {
    return Status::InvalidArgument("node size name '" + name +
                                   "' is not valid: use 1-128 letters, digits, '_', '-' or '.'");
  }
  FERRY_ASSIGN_OR_RETURN(json cat, ReadNodeSizes());
  json s = json::object();
  FERRY_ASSIGN_OR_RETURN(int cpus, IntField(body, "cpus", 0));
  FERRY_ASSIGN_OR_RETURN(int memory_mb, IntField(body, "memory_mb", 0));
  FERRY_ASSIGN_OR_RETURN(int gpus, IntField(body, "gpus", 0));
  if (cpus < 1) return Status::InvalidArgument("field 'cpus' must be at least 1");
  if (memory_mb < 1) return Status::InvalidArgument("field 'memory_mb' must be at least 1");
  if (gpus < 0) return Status::InvalidArgument("field 'gpus' must be 0 or more");
  s = {{"cpus", cpus}, {"memory_mb", memory_mb}, {"gpus", gpus}};
  FERRY_ASSIGN_OR_RETURN(json provider, ProviderFromBody(body, false));
  for (auto& [k, v] : provider.items()) s[k] = v;
  // One entry per name, whatever its case (Azure's size names are case-insensitive).
  for (auto it = cat["sizes"].begin(); it != cat["sizes"].end();) {
    if (Upper(it.key()) == Upper(name))
      it = cat["sizes"].erase(it);
    else
      ++it;
  }
  cat["sizes"][name] = s;
  FERRY_RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(d_.home, "node_sizes.json"), cat.dump(2) + "\n", 0600));
  s["name"] = name;
  return s;
}

Result<json> TargetManager::DeleteNodeSize(const std::string& name) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(json cat, ReadNodeSizes());
  bool found = false;
  for (auto it = cat["sizes"].begin(); it != cat["sizes"].end();) {
    if (Upper(it.key()) == Upper(name)) {
      it = cat["sizes"].erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  if (!found) {
    return Status::NotFound("node size '" + name +
                            "' is not in the workspace's catalog; see 'ferry compute sizes list'");
  }
  FERRY_RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(d_.home, "node_sizes.json"), cat.dump(2) + "\n", 0600));
  return json{{"name", name}, {"deleted", true}};
}

Result<json> TargetManager::SetNodeProvider(const json& body) {
  MutexLock lock(&mu_);
  FERRY_ASSIGN_OR_RETURN(json cat, ReadNodeSizes());
  FERRY_ASSIGN_OR_RETURN(json provider, ProviderFromBody(body, false));
  cat["default_provider"] = provider.empty() ? json() : provider;
  FERRY_RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(d_.home, "node_sizes.json"), cat.dump(2) + "\n", 0600));
  return json{{"default_provider", cat["default_provider"]}};
}

Result<json> TargetManager::ResolveNodeSize(const json& body) {
  const bool given = body.contains("provider") && body["provider"].is_string() &&
                     !body["provider"].get<std::string>().empty();
  auto vs = body.find("vm_size");
  const bool sized = vs != body.end() && !vs->is_null();
  if (given && !sized) return body;  // numbers and a provider: nothing to look up
  FERRY_ASSIGN_OR_RETURN(json cat, ReadNodeSizes());
  json out = body;
  json provider = json::object();  // where the provider comes from: the size, else the default
  std::string what = "the workspace's default";
  if (sized) {
    if (!vs->is_string() || vs->get<std::string>().empty())
      return Status::InvalidArgument("field 'vm_size' must be a node size name");
    const std::string want = vs->get<std::string>();
    json size;
    std::string name;
    for (const auto& [k, v] : cat["sizes"].items()) {
      if (Upper(k) == Upper(want)) {
        size = v;
        name = k;
      }
    }
    if (size.is_null()) {
      return Status::InvalidArgument(
          "vm_size '" + want +
          "' is not in the workspace's node sizes; see 'ferry compute sizes list' (an admin adds "
          "one with 'ferry compute sizes set NAME --cpus N --memory-mb M [--gpus G]')");
    }
    out["vm_size"] = name;
    for (const char* f : {"cpus", "memory_mb", "gpus"}) {
      if (!out.contains(f) || out[f].is_null()) out[f] = size.value(f, f[0] == 'c' ? 1 : 0);
    }
    if (size.contains("provider")) {
      provider = size;
      what = "size " + name + "'s";
    }
  }
  if (given) return out;
  if (!provider.contains("provider") && cat["default_provider"].is_object())
    provider = cat["default_provider"];
  if (!provider.contains("provider")) {
    if (!sized) return out;  // the cluster kind says that a provider is needed
    return Status::FailedPrecondition(
        "vm_size '" + out["vm_size"].get<std::string>() +
        "': the workspace has no default node provider to start such nodes; an admin sets "
        "one with 'ferry compute sizes provider netns' (nodes on this machine) or 'ferry "
        "compute sizes provider command --start-command ... --stop-command ...'");
  }
  out["provider"] = provider["provider"];
  for (const char* f : kProviderFields) {
    if (provider.contains(f) && (!out.contains(f) || out[f].is_null())) out[f] = provider[f];
  }
  if (provider.value("outbound", false) && (!out.contains("outbound") || out["outbound"].is_null()))
    out["outbound"] = true;
  if (out.value("priority", "") == "low" && !provider.value("low_priority", false)) {
    return Status::FailedPrecondition(
        "vm_priority 'lowpriority': " + what + " node provider (" +
        provider["provider"].get<std::string>() +
        ") has no low-priority nodes; use 'dedicated', or an admin marks the provider with "
        "--low-priority when its nodes can be reclaimed");
  }
  return out;
}

}  // namespace ferry::server
