// Distributed runs' ranks (see ranks.h).
#include "agent/ranks.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "agent/server_api.h"
#include "common/fs.h"
#include "common/subprocess.h"

namespace ferry::agent {

using nlohmann::json;

std::string RankSuffix(int rank) { return rank == 0 ? "" : ".rank" + std::to_string(rank); }

void WriteRankDone(const std::string& agent_dir, int attempt, int code, const std::string& tail) {
  json done = {{"attempt", attempt}, {"exit_code", code}, {"tail", tail}};
  (void)WriteFileAtomic(JoinPath(agent_dir, kRankDoneFile), DumpJson(done));
}

std::string WaitForRanks(const std::string& home, const std::string& run_id, int rank, int attempt,
                         const model::RunOptions& options,
                         const std::function<void(const std::string&)>& info) {
  const int world = options.node_count * std::max(1, options.process_count_per_node);
  if (world <= 1 || rank != 0) return "";
  auto set = options.environment_variables.find("FERRY_RANK_WAIT_S");  // the run's, else the node's
  const char* w = set != options.environment_variables.end() ? set->second.c_str()
                                                             : std::getenv("FERRY_RANK_WAIT_S");
  const double limit = w && *w ? std::atof(w) : 30.0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  std::set<int> waiting;
  for (int k = 1; k < world; ++k) waiting.insert(k);
  std::string failure;
  while (!waiting.empty()) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      auto text =
          ReadFile(JoinPath(home, "work/" + run_id + RankSuffix(*it) + ".agent/" + kRankDoneFile));
      json done = text.ok() ? json::parse(*text, nullptr, false) : json();
      if (!done.is_object() || done.value("attempt", 0) != attempt) {
        ++it;
        continue;
      }
      int code = done.value("exit_code", 0);
      if (code != 0 && failure.empty()) {
        failure = "rank " + std::to_string(*it) + " exited with code " + std::to_string(code);
        std::string tail = done.value("tail", "");
        if (!tail.empty())
          failure += "; last lines of its output (ferry run logs --rank " + std::to_string(*it) +
                     "):\n" + tail;
      }
      it = waiting.erase(it);
    }
    if (waiting.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!waiting.empty()) {
    info(std::to_string(waiting.size()) + " rank(s) did not report their end within " +
         std::to_string(int(limit)) + " s (first: rank " + std::to_string(*waiting.begin()) +
         "); their last log lines may be missing");
  }
  return failure;
}

Status AddDistributedEnv(const model::RunOptions& options, int rank,
                         std::map<std::string, std::string>* env) {
  const int nodes = options.node_count;
  const int per_node = std::max(1, options.process_count_per_node);
  std::vector<std::string> hosts = {"127.0.0.1"};
  const char* nodelist = std::getenv("SLURM_JOB_NODELIST");
  if (nodelist && *nodelist) {
    auto r = RunCommand({"scontrol", "show", "hostnames", nodelist}, "", 30000);
    if (!r.ok() || r->exit_code != 0 || r->out.empty()) {
      return Status::Unavailable(std::string("cannot expand SLURM_JOB_NODELIST '") + nodelist +
                                 "' with scontrol");
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
  if (options.communicator == "ParameterServer") {
    // TensorFlow's layout: node ranks [0, workers) are workers, the rest parameter servers.
    json cluster = {{"worker", json::array()}, {"ps", json::array()}};
    for (size_t i = 0; i < hosts.size(); ++i) {
      bool worker = static_cast<int>(i) < options.worker_count;
      cluster[worker ? "worker" : "ps"].push_back(hosts[i] + ":" + std::to_string(port + 1));
    }
    bool worker = rank < options.worker_count;
    int index = worker ? rank : rank - options.worker_count;
    (*env)["TF_CONFIG"] = DumpJson(json{
        {"cluster", cluster}, {"task", {{"type", worker ? "worker" : "ps"}, {"index", index}}}});
  }
  (*env)["MASTER_ADDR"] = master;
  (*env)["MASTER_PORT"] = std::to_string(port);
  // Inside a Slurm step the node and local ranks are Slurm's (block distribution: ranks
  // [n*P, (n+1)*P) on node n); elsewhere they follow from the rank the same way.
  const char* node_id = std::getenv("SLURM_NODEID");
  const char* local_id = std::getenv("SLURM_LOCALID");
  int node_rank = node_id && *node_id ? std::atoi(node_id) : rank / per_node;
  int local_rank = local_id && *local_id ? std::atoi(local_id) : rank % per_node;
  (*env)["WORLD_SIZE"] = std::to_string(nodes * per_node);
  (*env)["RANK"] = std::to_string(rank);
  (*env)["NODE_RANK"] = std::to_string(node_rank);
  (*env)["GROUP_RANK"] = std::to_string(node_rank);
  (*env)["LOCAL_RANK"] = std::to_string(local_rank);
  (*env)["LOCAL_WORLD_SIZE"] = std::to_string(per_node);
  return Status::Ok();
}

}  // namespace ferry::agent
