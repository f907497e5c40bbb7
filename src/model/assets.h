// Data assets the store keeps beside runs: datastores (where bytes live), dataset versions
// (immutable, content-addressed views over a datastore) and which runs read and wrote which
// versions (lineage).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry::model {

// The datastore every workspace has: its own content-addressed blob store. It cannot be
// registered, changed or deleted.
inline constexpr std::string_view kWorkspaceBlobStore = "workspaceblobstore";

struct DatastoreRecord {
  std::string name;
  std::string kind;         // "blob" (the workspace's own), "directory", "s3"
  std::string config_json;  // kind-specific; secrets sealed, never in plain text
  std::string created_by;   // "" for the workspace token
  double created_at = 0;
};

// Azure's rule for datastore names: letters, digits and '_', 1 to 255 characters, not
// starting with '_'. The error names the value and the rule.
Status ValidateDatastoreName(std::string_view name);

// Names of registered assets (datasets, models): 1 to 255 characters of letters, digits and
// "-_.", starting with a letter or digit.
Status ValidateAssetName(std::string_view what, std::string_view name);

// Dataset path patterns over '/'-separated relative paths: '*' matches any characters but
// '/', '?' one character but '/', and a whole segment '**' any number of segments (none too).
// A pattern without wildcards names one file, or every file under a directory.
bool HasGlob(std::string_view pattern);
bool GlobMatch(std::string_view pattern, std::string_view path);
// The pattern's leading segments that have no wildcard ("dir/sub" of "dir/sub/**/*.csv"; ""
// of "*.csv"): what the matched files' paths in the dataset are relative to.
std::string GlobBase(std::string_view pattern);

struct DatasetVersion {
  std::string name;
  int64_t version = 0;  // 1, 2, ... per name
  // The content id: SHA-256 of the kind, the definition and the manifest. Registering the
  // same content under the same name again returns the version that has it.
  std::string id;
  std::string kind;             // "file" or "tabular"
  std::string datastore;        // where its files are
  std::string definition_json;  // datastore, path patterns, tabular options, transforms
  std::string manifest_hash;    // blob holding the canonical Manifest of the files
  int64_t file_count = 0;
  int64_t total_bytes = 0;
  std::string description;
  std::map<std::string, std::string> tags;
  std::string created_by;
  double created_at = 0;
  bool archived = false;
};

// A file at a path of a blob datastore (workspaceblobstore): its bytes are the blob `blob`.
struct DatastoreFile {
  std::string path;  // relative, '/'-separated (model::ValidateRelativePath)
  std::string blob;  // SHA-256 of the content
  int64_t size = 0;
  double modified_at = 0;
};

// One edge of the lineage graph: a run read (input) or wrote (output) an asset version.
struct AssetUse {
  std::string run_id;
  std::string direction;  // "input" or "output"
  std::string asset;      // "dataset" or "model" (a registered model version)
  std::string name;
  int64_t version = 0;
  std::string as_name;  // the name the run knows it by (as_named_input('train')); may be ""
};

}  // namespace ferry::model
