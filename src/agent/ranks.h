// Distributed runs: one agent per process (rank). Rank 0 (the leader) reports the run's
// status; every other rank leaves its end (kRankDoneFile) in its agent directory on the shared
// home, and the leader waits for them. The script learns its place from torch.distributed's
// variables (also what Horovod, Lightning and, with TF_CONFIG, TensorFlow read).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "common/status.h"
#include "model/run_options.h"

namespace ferry::agent {

// The ranks of a distributed run share the home (a cluster's shared directory): each has its
// own working copy and spool, "work/<run><suffix>" ("" for rank 0, ".rank<K>" otherwise).
std::string RankSuffix(int rank);

// A worker rank's last word, for the leader: written to its agent directory once its logs and
// metrics are on the server. {"attempt", "exit_code", "tail"}.
inline constexpr const char* kRankDoneFile = "rank.done";

// A worker's end (atomically): its exit code (0 for a rank stopped from outside: it did not
// fail) and the tail of its output.
void WriteRankDone(const std::string& agent_dir, int attempt, int code, const std::string& tail);

// The leader, after its own script ended: waits (bounded) for every other rank's end of
// `attempt`. Returns why the run failed when a rank failed, else "". A rank that never reports
// (its node was lost) is waited for at most FERRY_RANK_WAIT_S (the run's variable, else the
// node's; default 30) seconds, and `info` says so. "" at once for other ranks and single runs.
std::string WaitForRanks(const std::string& home, const std::string& run_id, int rank, int attempt,
                         const model::RunOptions& options,
                         const std::function<void(const std::string&)>& info);

// MASTER_ADDR/PORT (the first node of SLURM_JOB_NODELIST, expanded by scontrol), WORLD_SIZE,
// RANK, NODE_RANK, LOCAL_RANK... and TF_CONFIG for the ParameterServer communicator.
Status AddDistributedEnv(const model::RunOptions& options, int rank,
                         std::map<std::string, std::string>* env);

}  // namespace ferry::agent
