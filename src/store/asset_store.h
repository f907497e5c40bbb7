// AssetStore: the contract for the workspace's data assets (model/assets.h):
// registered datastores, immutable dataset versions, and which runs read and wrote which
// versions. Kept apart from MetadataStore's runs and metrics; the SQLite store implements
// both on one database (MetadataStore::Assets()).
//
// Thread-safety, errors and atomicity as MetadataStore's: any thread; NotFound and
// AlreadyExists name the thing; a failed call changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/assets.h"

namespace ferry::store {

class AssetStore {
 public:
  virtual ~AssetStore() = default;

  // A registered datastore; AlreadyExists when the name is taken (workspaceblobstore always
  // is), InvalidArgument for a name Azure would refuse.
  virtual Status CreateDatastore(const model::DatastoreRecord& d) = 0;
  // workspaceblobstore too (kind "blob"); NotFound names the datastore.
  virtual Result<model::DatastoreRecord> GetDatastore(const std::string& name) = 0;
  // workspaceblobstore first, then the registered ones by name.
  virtual Result<std::vector<model::DatastoreRecord>> ListDatastores() = 0;
  // NotFound; FailedPrecondition when a dataset version's files are in it (versions never
  // change) and for workspaceblobstore.
  virtual Status DeleteDatastore(const std::string& name) = 0;

  // Puts files at paths of a blob datastore's namespace, all or none. A path that holds
  // another blob is AlreadyExists naming it unless overwrite; the same blob again is kept.
  virtual Status PutDatastoreFiles(const std::string& datastore,
                                   const std::vector<model::DatastoreFile>& files, bool overwrite,
                                   double now) = 0;
  // The files of a blob datastore whose path starts with prefix, sorted by path.
  virtual Result<std::vector<model::DatastoreFile>> ListDatastoreFiles(
      const std::string& datastore, const std::string& prefix) = 0;

  // Registers a version of v.name (v.version, created_at and archived are ignored). The
  // version of that name with the same content id is returned as it is (*created false).
  // Other content under a name that has versions needs new_version (AlreadyExists
  // otherwise), and becomes the next version.
  virtual Result<model::DatasetVersion> RegisterDataset(const model::DatasetVersion& v,
                                                        bool new_version, double now,
                                                        bool* created) = 0;
  // version 0: the latest. NotFound names the dataset and version.
  virtual Result<model::DatasetVersion> GetDataset(const std::string& name, int64_t version) = 0;
  virtual Result<model::DatasetVersion> GetDatasetById(const std::string& id) = 0;
  // name "": the latest version of each dataset; else every version of that one.
  virtual Result<std::vector<model::DatasetVersion>> ListDatasets(const std::string& name,
                                                                  bool include_archived) = 0;
  // version 0: every version of the name. Archived versions stay readable by name and id.
  virtual Status SetDatasetArchived(const std::string& name, int64_t version, bool archived) = 0;
  // A version's description (when given) and tags (add_tags set, then remove_tags removed), in
  // one write: concurrent changes of other tags are not lost. Returns the version as stored.
  // The content (files, definition) never changes.
  virtual Result<model::DatasetVersion> UpdateDataset(
      const std::string& name, int64_t version, const std::optional<std::string>& description,
      const std::map<std::string, std::string>& add_tags,
      const std::vector<std::string>& remove_tags) = 0;

  // Records lineage edges, each once however often sent; all or none (NotFound for an
  // unknown run or asset version, InvalidArgument for an unknown direction or asset kind).
  // Asset kinds: "dataset" (dataset_versions) and "model" (the model registry's versions).
  virtual Status RecordAssetUses(const std::vector<model::AssetUse>& uses) = 0;
  virtual Result<std::vector<model::AssetUse>> AssetUsesOfRun(const std::string& run_id) = 0;
  // version 0: any version of the asset.
  virtual Result<std::vector<model::AssetUse>> RunsUsingAsset(const std::string& asset,
                                                              const std::string& name,
                                                              int64_t version) = 0;
};

}  // namespace ferry::store
