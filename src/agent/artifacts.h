// A run's artifacts: every regular file under outputs/ and logs/ of the working copy, found
// without following any symlink (a script may leave one to /etc, or swap a directory for one
// while it is walked), plus the agent's own files; stored as blobs and registered with the run.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/server_api.h"
#include "agent/spool.h"
#include "common/status.h"

namespace ferry::store {
class BlobStore;
}

namespace ferry::agent {

// A file the run leaves as an artifact.
struct ArtifactFile {
  std::string path;   // the artifact path: EscapeBytes of `raw` (always valid UTF-8)
  std::string raw;    // its bytes relative to the working copy; "" for the agent's own files
  std::string local;  // an agent file's absolute path (raw == "")
  uint64_t size = 0;
};

// The agent's own files that become artifacts when they exist.
struct AgentFiles {
  std::string capture;  // the script's output: logs/std_log.txt unless the run wrote its own
  std::string freeze;   // a managed environment's package list: environment/freeze.txt
  std::string info;     // how the run was prepared: logs/ferry-agent.txt
};

// What the run leaves as artifacts: every regular file under outputs/ and logs/ of work_dir,
// then the agent's own files. Directories nested deeper than 128 levels, symlinks, pipes,
// sockets, devices and names that are not valid artifact paths are skipped with a note.
std::vector<ArtifactFile> CollectArtifacts(const std::string& work_dir, const AgentFiles& agent,
                                           const NoteFn& note);

// Outputs small enough to collect in a moment (8 MiB, 1,000 files): the run then goes
// Running -> Finalizing -> its final status in one report instead of three.
bool SmallOutputs(const std::vector<ArtifactFile>& files);

// Stores the files' content — in `local_blobs` when given (a node that shares the workspace's
// blob store), else on the server in batches — and registers them with PostArtifacts, or,
// given `manifest_out`, leaves the [{"path","size","hash"}] list there for the final report.
// A working-copy file that changed into something else since it was listed is skipped with a
// note; any other failure is returned.
Status UploadArtifacts(const std::vector<ArtifactFile>& files, const std::string& work_dir,
                       ServerApi& server, store::BlobStore* local_blobs, const NoteFn& note,
                       nlohmann::json* manifest_out = nullptr);

}  // namespace ferry::agent
