// SqliteMetadataStore's data assets: datastores, dataset versions and lineage (model/assets.h).
#include "common/crypto.h"
#include "model/manifest.h"
#include "store/sqlite_store_internal.h"

namespace ferry::store {

using nlohmann::json;

namespace {

constexpr const char* kDatasetColumns =
    "name, version, id, kind, datastore, definition, manifest, file_count, total_bytes, "
    "description, tags, created_by, created_at, archived";

std::string Versioned(const std::string& name, int64_t version) {
  return "dataset '" + name + "'" + (version > 0 ? " version " + std::to_string(version) : "");
}

Result<std::vector<model::DatastoreRecord>> ReadDatastores(Stmt& st) {
  std::vector<model::DatastoreRecord> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Double(4)});
  }
  return out;
}

Result<std::vector<model::DatasetVersion>> ReadDatasets(Stmt& st) {
  std::vector<model::DatasetVersion> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::DatasetVersion v;
    v.name = st.Text(0);
    v.version = st.Int(1);
    v.id = st.Text(2);
    v.kind = st.Text(3);
    v.datastore = st.Text(4);
    v.definition_json = st.Text(5);
    v.manifest_hash = st.Text(6);
    v.file_count = st.Int(7);
    v.total_bytes = st.Int(8);
    v.description = st.Text(9);
    json tags = json::parse(st.Text(10), nullptr, /*allow_exceptions=*/false);
    if (tags.is_object()) {
      for (const auto& [k, val] : tags.items()) {
        if (val.is_string()) v.tags[k] = val.get<std::string>();
      }
    }
    v.created_by = st.Text(11);
    v.created_at = st.Double(12);
    v.archived = st.Int(13) != 0;
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<model::AssetUse>> ReadUses(Stmt& st) {
  std::vector<model::AssetUse> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Text(5)});
  }
  return out;
}

}  // namespace

Status SqliteMetadataStore::CreateDatastore(const model::DatastoreRecord& d) {
  FERRY_RETURN_IF_ERROR(model::ValidateDatastoreName(d.name));
  if (d.name == model::kWorkspaceBlobStore) {
    return Status::AlreadyExists("datastore '" + d.name +
                                 "' is the workspace's own and always exists; choose another name");
  }
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT INTO datastores VALUES(?,?,?,?,?)"));
  Status s = st.Bind(1, d.name)
                 .Bind(2, d.kind)
                 .Bind(3, d.config_json)
                 .Bind(4, d.created_by)
                 .Bind(5, d.created_at)
                 .Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("datastore '" + d.name +
                                 "' already exists; see 'ferry datastore show " + d.name + "'");
  }
  return s;
}

Result<model::DatastoreRecord> SqliteMetadataStore::GetDatastore(const std::string& name) {
  if (name == model::kWorkspaceBlobStore) return model::DatastoreRecord{name, "blob", "{}", "", 0};
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT * FROM datastores WHERE name=?"));
  st.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadDatastores(st));
  if (found.empty()) {
    return Status::NotFound("datastore '" + name + "' does not exist; see 'ferry datastore list'");
  }
  return found[0];
}

Result<std::vector<model::DatastoreRecord>> SqliteMetadataStore::ListDatastores() {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT * FROM datastores ORDER BY name"));
  FERRY_ASSIGN_OR_RETURN(auto out, ReadDatastores(st));
  out.insert(out.begin(), {std::string(model::kWorkspaceBlobStore), "blob", "{}", "", 0});
  return out;
}

Status SqliteMetadataStore::DeleteDatastore(const std::string& name) {
  if (name == model::kWorkspaceBlobStore) {
    return Status::FailedPrecondition("datastore '" + name +
                                      "' is the workspace's own and cannot be deleted");
  }
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        Stmt used, db().Prepare("SELECT name, version FROM dataset_versions WHERE datastore=? "
                                "ORDER BY name, version LIMIT 1"));
    used.Bind(1, name);
    FERRY_ASSIGN_OR_RETURN(bool row, used.Step());
    if (row) {
      return Status::FailedPrecondition(
          "datastore '" + name + "' holds the files of " + Versioned(used.Text(0), used.Int(1)) +
          "; a dataset version never changes, so its datastore stays");
    }
    FERRY_ASSIGN_OR_RETURN(Stmt del, db().Prepare("DELETE FROM datastores WHERE name=?"));
    FERRY_RETURN_IF_ERROR(del.Bind(1, name).Run());
    if (db().Changes() == 0) {
      return Status::NotFound("datastore '" + name +
                              "' does not exist; see 'ferry datastore list'");
    }
    return Status::Ok();
  });
}

Status SqliteMetadataStore::PutDatastoreFiles(const std::string& datastore,
                                              const std::vector<model::DatastoreFile>& files,
                                              bool overwrite, double now) {
  for (const auto& f : files) {
    FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(f.path));
    if (!IsSha256Hex(f.blob)) {
      return Status::InvalidArgument("file '" + f.path + "': '" + f.blob +
                                     "' is not a SHA-256 content hash");
    }
  }
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        Stmt old, db().Prepare("SELECT blob FROM datastore_files WHERE datastore=? AND path=?"));
    FERRY_ASSIGN_OR_RETURN(
        Stmt put, db().Prepare("INSERT OR REPLACE INTO datastore_files VALUES(?,?,?,?,?)"));
    for (const auto& f : files) {
      old.Reset();
      old.Bind(1, datastore).Bind(2, f.path);
      FERRY_ASSIGN_OR_RETURN(bool row, old.Step());
      if (row && old.Text(0) == f.blob) continue;  // already there: keep its time
      if (row && !overwrite) {
        return Status::AlreadyExists("datastore '" + datastore +
                                     "' already has other content at '" + f.path +
                                     "'; upload with overwrite=True (CLI: --overwrite) " +
                                     "to replace it, or choose another target path");
      }
      put.Reset();
      FERRY_RETURN_IF_ERROR(put.Bind(1, datastore)
                                .Bind(2, f.path)
                                .Bind(3, f.blob)
                                .Bind(4, f.size)
                                .Bind(5, now)
                                .Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<model::DatastoreFile>> SqliteMetadataStore::ListDatastoreFiles(
    const std::string& datastore, const std::string& prefix) {
  auto lease = ReadOne();
  // A range over the primary key: every UTF-8 byte sorts below 0xff.
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT path, blob, size, modified_at FROM datastore_files "
                                      "WHERE datastore=?1 AND path>=?2 AND path<?3 ORDER BY path"));
  st.Bind(1, datastore).Bind(2, prefix).Bind(3, prefix + "\xff");
  std::vector<model::DatastoreFile> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Int(2), st.Double(3)});
  }
  return out;
}

Result<model::DatasetVersion> SqliteMetadataStore::RegisterDataset(const model::DatasetVersion& v,
                                                                   bool new_version, double now,
                                                                   bool* created) {
  FERRY_RETURN_IF_ERROR(model::ValidateAssetName("dataset", v.name));
  if (v.kind != "file" && v.kind != "tabular") {
    return Status::InvalidArgument("dataset kind '" + v.kind +
                                   "' is not known; use file or tabular");
  }
  if (v.id.empty()) return Status::InvalidArgument("a dataset version needs its content id");
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::DatasetVersion> {
    FERRY_ASSIGN_OR_RETURN(Stmt same, db().Prepare(std::string("SELECT ") + kDatasetColumns +
                                                   " FROM dataset_versions WHERE name=?1 AND id=?2 "
                                                   "ORDER BY version DESC LIMIT 1"));
    same.Bind(1, v.name).Bind(2, v.id);
    FERRY_ASSIGN_OR_RETURN(auto found, ReadDatasets(same));
    if (!found.empty()) {
      *created = false;
      return found[0];
    }
    FERRY_ASSIGN_OR_RETURN(Stmt latest,
                           db().Prepare("SELECT MAX(version) FROM dataset_versions WHERE name=?"));
    latest.Bind(1, v.name);
    FERRY_ASSIGN_OR_RETURN(bool row, latest.Step());
    const int64_t last = row ? latest.Int(0) : 0;
    if (last > 0 && !new_version) {
      return Status::AlreadyExists(
          "dataset '" + v.name + "' is registered already (version " + std::to_string(last) +
          ") with other content; register with create_new_version=True (CLI: --new-version) to "
          "add a version, or choose another name");
    }
    model::DatasetVersion out = v;
    out.version = last + 1;
    out.created_at = now;
    out.archived = false;
    json tags = json::object();
    for (const auto& [k, val] : out.tags) tags[k] = val;
    FERRY_ASSIGN_OR_RETURN(
        Stmt ins, db().Prepare(std::string("INSERT INTO dataset_versions(") + kDatasetColumns +
                               ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,0)"));
    FERRY_RETURN_IF_ERROR(ins.Bind(1, out.name)
                              .Bind(2, out.version)
                              .Bind(3, out.id)
                              .Bind(4, out.kind)
                              .Bind(5, out.datastore)
                              .Bind(6, out.definition_json)
                              .Bind(7, out.manifest_hash)
                              .Bind(8, out.file_count)
                              .Bind(9, out.total_bytes)
                              .Bind(10, out.description)
                              .Bind(11, tags.dump())
                              .Bind(12, out.created_by)
                              .Bind(13, now)
                              .Run());
    *created = true;
    return out;
  });
}

Result<model::DatasetVersion> SqliteMetadataStore::GetDataset(const std::string& name,
                                                              int64_t version) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(std::string("SELECT ") + kDatasetColumns +
                            (version > 0 ? " FROM dataset_versions WHERE name=?1 AND version=?2"
                                         : " FROM dataset_versions WHERE name=?1 "
                                           "ORDER BY version DESC LIMIT 1")));
  st.Bind(1, name);
  if (version > 0) st.Bind(2, version);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadDatasets(st));
  if (found.empty()) {
    return Status::NotFound(Versioned(name, version) +
                            " is not registered; see 'ferry dataset list'");
  }
  return found[0];
}

Result<model::DatasetVersion> SqliteMetadataStore::GetDatasetById(const std::string& id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare(std::string("SELECT ") + kDatasetColumns +
                                      " FROM dataset_versions WHERE id=? ORDER BY name, version "
                                      "LIMIT 1"));
  st.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadDatasets(st));
  if (found.empty()) {
    return Status::NotFound("no dataset version has id '" + id + "'; see 'ferry dataset list'");
  }
  return found[0];
}

Result<std::vector<model::DatasetVersion>> SqliteMetadataStore::ListDatasets(
    const std::string& name, bool include_archived) {
  auto lease = ReadOne();
  std::string sql = std::string("SELECT ") + kDatasetColumns + " FROM dataset_versions d WHERE ";
  if (!name.empty()) {
    sql += "name=?1";
  } else {
    sql += "version = (SELECT MAX(version) FROM dataset_versions WHERE name = d.name)";
  }
  if (!include_archived) sql += " AND archived=0";
  sql += " ORDER BY name, version";
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
  if (!name.empty()) st.Bind(1, name);
  return ReadDatasets(st);
}

Status SqliteMetadataStore::SetDatasetArchived(const std::string& name, int64_t version,
                                               bool archived) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(version > 0 ? "UPDATE dataset_versions SET archived=?1 "
                                          "WHERE name=?2 AND version=?3"
                                        : "UPDATE dataset_versions SET archived=?1 WHERE name=?2"));
  st.Bind(1, archived ? 1 : 0).Bind(2, name);
  if (version > 0) st.Bind(3, version);
  FERRY_RETURN_IF_ERROR(st.Run());
  if (db().Changes() == 0) {
    return Status::NotFound(Versioned(name, version) +
                            " is not registered; see 'ferry dataset list'");
  }
  return Status::Ok();
}

Result<model::DatasetVersion> SqliteMetadataStore::UpdateDataset(
    const std::string& name, int64_t version, const std::optional<std::string>& description,
    const std::map<std::string, std::string>& add_tags,
    const std::vector<std::string>& remove_tags) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::DatasetVersion> {
    FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kDatasetColumns +
                                                 " FROM dataset_versions WHERE name=?1 AND "
                                                 "version=?2"));
    st.Bind(1, name).Bind(2, version);
    FERRY_ASSIGN_OR_RETURN(auto found, ReadDatasets(st));
    if (found.empty()) {
      return Status::NotFound(Versioned(name, version) +
                              " is not registered; see 'ferry dataset list'");
    }
    model::DatasetVersion v = found[0];
    if (description) v.description = *description;
    for (const auto& [k, val] : add_tags) v.tags[k] = val;
    for (const auto& k : remove_tags) v.tags.erase(k);
    json tags = json::object();
    for (const auto& [k, val] : v.tags) tags[k] = val;
    FERRY_ASSIGN_OR_RETURN(Stmt up, db().Prepare("UPDATE dataset_versions SET description=?1, "
                                                 "tags=?2 WHERE name=?3 AND version=?4"));
    FERRY_RETURN_IF_ERROR(
        up.Bind(1, v.description).Bind(2, tags.dump()).Bind(3, name).Bind(4, version).Run());
    return v;
  });
}

Status SqliteMetadataStore::RecordAssetUses(const std::vector<model::AssetUse>& uses) {
  for (const auto& u : uses) {
    if (u.direction != "input" && u.direction != "output") {
      return Status::InvalidArgument("asset use direction '" + u.direction +
                                     "' is not known; use input or output");
    }
    if (u.asset != "dataset" && u.asset != "model") {
      return Status::InvalidArgument("asset kind '" + u.asset +
                                     "' is not known; use dataset or model");
    }
  }
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(Stmt run, db().Prepare("SELECT 1 FROM runs WHERE id=?"));
    FERRY_ASSIGN_OR_RETURN(
        Stmt has, db().Prepare("SELECT 1 FROM dataset_versions WHERE name=? AND version=?"));
    FERRY_ASSIGN_OR_RETURN(Stmt has_model, db().Prepare("SELECT 1 FROM model_versions WHERE "
                                                        "name=? AND version=? AND deleted=0"));
    FERRY_ASSIGN_OR_RETURN(Stmt ins,
                           db().Prepare("INSERT OR IGNORE INTO asset_uses VALUES(?,?,?,?,?,?)"));
    for (const auto& u : uses) {
      run.Reset();
      run.Bind(1, u.run_id);
      FERRY_ASSIGN_OR_RETURN(bool run_exists, run.Step());
      if (!run_exists) return RunNotFound(u.run_id);
      Stmt& q = u.asset == "model" ? has_model : has;
      q.Reset();
      q.Bind(1, u.name).Bind(2, u.version);
      FERRY_ASSIGN_OR_RETURN(bool asset_exists, q.Step());
      if (!asset_exists) {
        if (u.asset == "model") {
          return Status::NotFound("model '" + u.name + "' version " + std::to_string(u.version) +
                                  " is not registered; see 'ferry model list'");
        }
        return Status::NotFound(Versioned(u.name, u.version) +
                                " is not registered; see 'ferry dataset list'");
      }
      FERRY_RETURN_IF_ERROR(ins.Bind(1, u.run_id)
                                .Bind(2, u.direction)
                                .Bind(3, u.asset)
                                .Bind(4, u.name)
                                .Bind(5, u.version)
                                .Bind(6, u.as_name)
                                .Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<model::AssetUse>> SqliteMetadataStore::AssetUsesOfRun(
    const std::string& run_id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st,
                         db().Prepare("SELECT * FROM asset_uses WHERE run_id=? "
                                      "ORDER BY direction, asset, name, version, as_name"));
  st.Bind(1, run_id);
  return ReadUses(st);
}

Result<std::vector<model::AssetUse>> SqliteMetadataStore::RunsUsingAsset(const std::string& asset,
                                                                         const std::string& name,
                                                                         int64_t version) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(version > 0 ? "SELECT * FROM asset_uses WHERE asset=?1 AND name=?2 AND "
                                          "version=?3 ORDER BY run_id, direction, as_name"
                                        : "SELECT * FROM asset_uses WHERE asset=?1 AND name=?2 "
                                          "ORDER BY version, run_id, direction, as_name"));
  st.Bind(1, asset).Bind(2, name);
  if (version > 0) st.Bind(3, version);
  return ReadUses(st);
}

}  // namespace ferry::store
