// SqliteMetadataStore's model registry (model_store.h): registered models, versions, aliases,
// and MLflow 3's logged models with their metrics, files and runs.
#include <algorithm>
#include <cstdint>

#include "store/sqlite_store_internal.h"

namespace ferry::store {

using nlohmann::json;

namespace {

constexpr const char* kModelColumns = "name, description, tags, created_by, created_at, updated_at";
constexpr const char* kVersionColumns =
    "name, version, source, storage_location, run_id, run_link, model_id, status, "
    "status_message, description, tags, properties, stage, manifest, file_count, total_bytes, "
    "created_by, created_at, updated_at";
constexpr const char* kLoggedColumns =
    "model_id, experiment_id, name, source_run_id, status, status_message, artifact_location, "
    "model_type, params, tags, created_by, created_at, updated_at";

std::string MapJson(const std::map<std::string, std::string>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::map<std::string, std::string> MapFrom(const std::string& text) {
  std::map<std::string, std::string> out;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string ModelNotFound(const std::string& name) {
  return "Registered Model with name=" + name + " not found";
}

std::string VersionNotFound(const std::string& name, int64_t version) {
  if (version <= 0) return "Registered Model with name=" + name + " has no versions";
  return "Model Version (name=" + name + ", version=" + std::to_string(version) + ") not found";
}

Result<std::vector<model::RegisteredModel>> ReadModels(Stmt& st) {
  std::vector<model::RegisteredModel> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::RegisteredModel m;
    m.name = st.Text(0);
    m.description = st.Text(1);
    m.tags = MapFrom(st.Text(2));
    m.created_by = st.Text(3);
    m.created_at = st.Double(4);
    m.updated_at = st.Double(5);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<model::ModelVersion>> ReadVersions(Stmt& st) {
  std::vector<model::ModelVersion> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::ModelVersion v;
    v.name = st.Text(0);
    v.version = st.Int(1);
    v.source = st.Text(2);
    v.storage_location = st.Text(3);
    v.run_id = st.Text(4);
    v.run_link = st.Text(5);
    v.model_id = st.Text(6);
    v.status = st.Text(7);
    v.status_message = st.Text(8);
    v.description = st.Text(9);
    v.tags = MapFrom(st.Text(10));
    v.properties = MapFrom(st.Text(11));
    v.stage = st.Text(12);
    v.manifest_hash = st.Text(13);
    v.file_count = st.Int(14);
    v.total_bytes = st.Int(15);
    v.created_by = st.Text(16);
    v.created_at = st.Double(17);
    v.updated_at = st.Double(18);
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<model::LoggedModel>> ReadLogged(Stmt& st) {
  std::vector<model::LoggedModel> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    model::LoggedModel m;
    m.model_id = st.Text(0);
    m.experiment_id = st.Text(1);
    m.name = st.Text(2);
    m.source_run_id = st.Text(3);
    m.status = st.Text(4);
    m.status_message = st.Text(5);
    m.artifact_location = st.Text(6);
    m.model_type = st.Text(7);
    m.params = MapFrom(st.Text(8));
    m.tags = MapFrom(st.Text(9));
    m.created_by = st.Text(10);
    m.created_at = st.Double(11);
    m.updated_at = st.Double(12);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

// ---- helpers on the current connection -----------------------------------------------------

Result<model::RegisteredModel> SqliteMetadataStore::RegisteredModelLocked(const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kModelColumns +
                                               " FROM registered_models WHERE name=?"));
  st.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadModels(st));
  if (found.empty()) return Status::NotFound(ModelNotFound(name));
  FERRY_ASSIGN_OR_RETURN(Stmt al, db().Prepare("SELECT alias, version FROM model_aliases "
                                               "WHERE name=? ORDER BY alias"));
  al.Bind(1, name);
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, al.Step());
    if (!row) break;
    found[0].aliases.push_back({al.Text(0), al.Int(1)});
  }
  return found[0];
}

Result<model::ModelVersion> SqliteMetadataStore::ModelVersionLocked(const std::string& name,
                                                                    int64_t version) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(std::string("SELECT ") + kVersionColumns +
                            (version > 0 ? " FROM model_versions WHERE name=?1 AND version=?2 "
                                           "AND deleted=0"
                                         : " FROM model_versions WHERE name=?1 AND deleted=0 "
                                           "ORDER BY version DESC LIMIT 1")));
  st.Bind(1, name);
  if (version > 0) st.Bind(2, version);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadVersions(st));
  if (found.empty()) return Status::NotFound(VersionNotFound(name, version));
  FERRY_ASSIGN_OR_RETURN(Stmt al, db().Prepare("SELECT alias FROM model_aliases "
                                               "WHERE name=? AND version=? ORDER BY alias"));
  al.Bind(1, name).Bind(2, found[0].version);
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, al.Step());
    if (!row) break;
    found[0].aliases.push_back(al.Text(0));
  }
  return found[0];
}

Status SqliteMetadataStore::PutModelVersionLocked(const model::ModelVersion& v, double now) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st,
      db().Prepare(std::string("INSERT OR REPLACE INTO model_versions(") + kVersionColumns +
                   ", deleted) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, v.name)
                            .Bind(2, v.version)
                            .Bind(3, v.source)
                            .Bind(4, v.storage_location)
                            .Bind(5, v.run_id)
                            .Bind(6, v.run_link)
                            .Bind(7, v.model_id)
                            .Bind(8, v.status)
                            .Bind(9, v.status_message)
                            .Bind(10, v.description)
                            .Bind(11, MapJson(v.tags))
                            .Bind(12, MapJson(v.properties))
                            .Bind(13, v.stage)
                            .Bind(14, v.manifest_hash)
                            .Bind(15, v.file_count)
                            .Bind(16, v.total_bytes)
                            .Bind(17, v.created_by)
                            .Bind(18, v.created_at)
                            .Bind(19, now)
                            .Run());
  FERRY_ASSIGN_OR_RETURN(Stmt touch,
                         db().Prepare("UPDATE registered_models SET updated_at=? WHERE name=?"));
  return touch.Bind(1, now).Bind(2, v.name).Run();
}

Status SqliteMetadataStore::PutRegisteredModelLocked(const model::RegisteredModel& m) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("INSERT OR REPLACE INTO "
                                                           "registered_models(") +
                                               kModelColumns + ") VALUES(?,?,?,?,?,?)"));
  return st.Bind(1, m.name)
      .Bind(2, m.description)
      .Bind(3, MapJson(m.tags))
      .Bind(4, m.created_by)
      .Bind(5, m.created_at)
      .Bind(6, m.updated_at)
      .Run();
}

// ---- registered models -------------------------------------------------------------------

Result<model::RegisteredModel> SqliteMetadataStore::CreateRegisteredModel(
    const model::RegisteredModel& m, double now) {
  FERRY_RETURN_IF_ERROR(model::ValidateRegistryName(m.name));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::RegisteredModel> {
    FERRY_ASSIGN_OR_RETURN(Stmt has, db().Prepare("SELECT 1 FROM registered_models WHERE name=?"));
    has.Bind(1, m.name);
    FERRY_ASSIGN_OR_RETURN(bool exists, has.Step());
    if (exists) {
      return Status::AlreadyExists("Registered Model (name=" + m.name + ") already exists.");
    }
    model::RegisteredModel out = m;
    out.created_at = out.updated_at = now;
    out.aliases.clear();
    FERRY_RETURN_IF_ERROR(PutRegisteredModelLocked(out));
    return out;
  });
}

Result<model::RegisteredModel> SqliteMetadataStore::GetRegisteredModel(const std::string& name) {
  auto lease = Read();
  return RegisteredModelLocked(name);
}

Result<std::vector<model::RegisteredModel>> SqliteMetadataStore::ListRegisteredModels() {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kModelColumns +
                                               " FROM registered_models ORDER BY name"));
  FERRY_ASSIGN_OR_RETURN(auto out, ReadModels(st));
  FERRY_ASSIGN_OR_RETURN(Stmt al, db().Prepare("SELECT name, alias, version FROM model_aliases "
                                               "ORDER BY name, alias"));
  std::map<std::string, std::vector<model::ModelAlias>> aliases;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, al.Step());
    if (!row) break;
    aliases[al.Text(0)].push_back({al.Text(1), al.Int(2)});
  }
  for (auto& m : out) {
    if (auto it = aliases.find(m.name); it != aliases.end()) m.aliases = it->second;
  }
  return out;
}

Result<model::RegisteredModel> SqliteMetadataStore::UpdateRegisteredModel(
    const std::string& name, const std::function<Status(model::RegisteredModel*)>& change,
    double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::RegisteredModel> {
    FERRY_ASSIGN_OR_RETURN(model::RegisteredModel m, RegisteredModelLocked(name));
    model::RegisteredModel changed = m;
    FERRY_RETURN_IF_ERROR(change(&changed));
    changed.name = m.name;
    changed.created_at = m.created_at;
    changed.created_by = m.created_by;
    changed.updated_at = now;
    changed.aliases = m.aliases;
    FERRY_RETURN_IF_ERROR(PutRegisteredModelLocked(changed));
    return changed;
  });
}

Result<model::RegisteredModel> SqliteMetadataStore::RenameRegisteredModel(
    const std::string& name, const std::string& new_name, double now) {
  FERRY_RETURN_IF_ERROR(model::ValidateRegistryName(new_name));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::RegisteredModel> {
    FERRY_ASSIGN_OR_RETURN(model::RegisteredModel m, RegisteredModelLocked(name));
    if (new_name == name) return m;
    FERRY_ASSIGN_OR_RETURN(Stmt has, db().Prepare("SELECT 1 FROM registered_models WHERE name=?"));
    has.Bind(1, new_name);
    FERRY_ASSIGN_OR_RETURN(bool taken, has.Step());
    if (taken) {
      return Status::AlreadyExists("Registered Model (name=" + new_name + ") already exists.");
    }
    for (const char* sql :
         {"UPDATE registered_models SET name=?1, updated_at=?3 WHERE name=?2",
          "UPDATE model_versions SET name=?1 WHERE name=?2 AND ?3 IS NOT NULL",
          "UPDATE model_aliases SET name=?1 WHERE name=?2 AND ?3 IS NOT NULL",
          "UPDATE asset_uses SET name=?1 WHERE asset='model' AND name=?2 AND ?3 IS NOT NULL"}) {
      FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
      FERRY_RETURN_IF_ERROR(st.Bind(1, new_name).Bind(2, name).Bind(3, now).Run());
    }
    return RegisteredModelLocked(new_name);
  });
}

Status SqliteMetadataStore::DeleteRegisteredModel(const std::string& name) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_ASSIGN_OR_RETURN(Stmt del,
                                  db().Prepare("DELETE FROM registered_models WHERE name=?"));
           FERRY_RETURN_IF_ERROR(del.Bind(1, name).Run());
           if (db().Changes() == 0) return Status::NotFound(ModelNotFound(name));
           for (const char* sql : {"DELETE FROM model_versions WHERE name=?",
                                   "DELETE FROM model_aliases WHERE name=?",
                                   "DELETE FROM asset_uses WHERE asset='model' AND name=?"}) {
             FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(sql));
             FERRY_RETURN_IF_ERROR(st.Bind(1, name).Run());
           }
           return true;
         })
      .status();
}

// ---- versions ----------------------------------------------------------------------------

Result<model::ModelVersion> SqliteMetadataStore::CreateModelVersion(const model::ModelVersion& v,
                                                                    bool create_model, double now) {
  FERRY_RETURN_IF_ERROR(model::ValidateRegistryName(v.name));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::ModelVersion> {
    auto m = RegisteredModelLocked(v.name);
    if (!m.ok()) {
      if (m.status().code() != StatusCode::kNotFound || !create_model) return m.status();
      model::RegisteredModel fresh;
      fresh.name = v.name;
      fresh.created_by = v.created_by;
      fresh.created_at = fresh.updated_at = now;
      FERRY_RETURN_IF_ERROR(PutRegisteredModelLocked(fresh));
    }
    FERRY_ASSIGN_OR_RETURN(Stmt last,
                           db().Prepare("SELECT MAX(version) FROM model_versions WHERE name=?"));
    last.Bind(1, v.name);
    FERRY_ASSIGN_OR_RETURN(bool row, last.Step());
    model::ModelVersion out = v;
    out.version = (row ? last.Int(0) : 0) + 1;
    out.created_at = out.updated_at = now;
    out.aliases.clear();
    if (out.status.empty()) out.status = "READY";
    if (out.stage.empty()) out.stage = std::string(model::kStageNone);
    FERRY_RETURN_IF_ERROR(PutModelVersionLocked(out, now));
    if (!out.run_id.empty()) {
      FERRY_ASSIGN_OR_RETURN(Stmt run, db().Prepare("SELECT 1 FROM runs WHERE id=?"));
      run.Bind(1, out.run_id);
      FERRY_ASSIGN_OR_RETURN(bool known, run.Step());
      if (known) {
        FERRY_ASSIGN_OR_RETURN(
            Stmt use, db().Prepare("INSERT OR IGNORE INTO asset_uses VALUES(?,'output','model',"
                                   "?,?,'')"));
        FERRY_RETURN_IF_ERROR(use.Bind(1, out.run_id).Bind(2, out.name).Bind(3, out.version).Run());
      }
    }
    return out;
  });
}

Result<model::ModelVersion> SqliteMetadataStore::GetModelVersion(const std::string& name,
                                                                 int64_t version) {
  auto lease = Read();
  return ModelVersionLocked(name, version);
}

Result<std::vector<model::ModelVersion>> SqliteMetadataStore::ListModelVersions(
    const std::string& name) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(std::string("SELECT ") + kVersionColumns +
                            (name.empty() ? " FROM model_versions WHERE deleted=0 "
                                            "ORDER BY name, version"
                                          : " FROM model_versions WHERE name=?1 AND deleted=0 "
                                            "ORDER BY version")));
  if (!name.empty()) st.Bind(1, name);
  FERRY_ASSIGN_OR_RETURN(auto out, ReadVersions(st));
  FERRY_ASSIGN_OR_RETURN(
      Stmt al, db().Prepare(name.empty() ? "SELECT name, version, alias FROM model_aliases "
                                           "ORDER BY alias"
                                         : "SELECT name, version, alias FROM model_aliases "
                                           "WHERE name=?1 ORDER BY alias"));
  if (!name.empty()) al.Bind(1, name);
  std::map<std::pair<std::string, int64_t>, std::vector<std::string>> aliases;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, al.Step());
    if (!row) break;
    aliases[{al.Text(0), al.Int(1)}].push_back(al.Text(2));
  }
  for (auto& v : out) {
    if (auto it = aliases.find({v.name, v.version}); it != aliases.end()) v.aliases = it->second;
  }
  return out;
}

Result<std::vector<model::ModelVersion>> SqliteMetadataStore::ListModelVersionsNewestFirst(
    const std::string& name, int64_t before, int64_t limit) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(std::string("SELECT ") + kVersionColumns +
                            " FROM model_versions WHERE name=?1 AND deleted=0 AND version<?2 "
                            "ORDER BY version DESC LIMIT ?3"));
  st.Bind(1, name).Bind(2, before > 0 ? before : INT64_MAX).Bind(3, limit);
  FERRY_ASSIGN_OR_RETURN(auto out, ReadVersions(st));
  if (out.empty()) return out;
  FERRY_ASSIGN_OR_RETURN(Stmt al, db().Prepare("SELECT version, alias FROM model_aliases WHERE "
                                               "name=?1 AND version<=?2 AND version>=?3 "
                                               "ORDER BY alias"));
  al.Bind(1, name).Bind(2, out.front().version).Bind(3, out.back().version);
  std::map<int64_t, std::vector<std::string>> aliases;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, al.Step());
    if (!row) break;
    aliases[al.Int(0)].push_back(al.Text(1));
  }
  for (auto& v : out) {
    if (auto it = aliases.find(v.version); it != aliases.end()) v.aliases = it->second;
  }
  return out;
}

Result<model::ModelVersion> SqliteMetadataStore::UpdateModelVersion(
    const std::string& name, int64_t version,
    const std::function<Status(model::ModelVersion*)>& change, double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::ModelVersion> {
    FERRY_ASSIGN_OR_RETURN(model::ModelVersion v, ModelVersionLocked(name, version));
    model::ModelVersion changed = v;
    FERRY_RETURN_IF_ERROR(change(&changed));
    changed.name = v.name;
    changed.version = v.version;
    changed.created_at = v.created_at;
    changed.created_by = v.created_by;
    changed.updated_at = now;
    changed.aliases = v.aliases;
    FERRY_RETURN_IF_ERROR(PutModelVersionLocked(changed, now));
    return changed;
  });
}

Result<model::ModelVersion> SqliteMetadataStore::TransitionModelVersionStage(
    const std::string& name, int64_t version, const std::string& stage, bool archive_existing,
    double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::ModelVersion> {
    FERRY_ASSIGN_OR_RETURN(model::ModelVersion v, ModelVersionLocked(name, version));
    if (archive_existing) {
      FERRY_ASSIGN_OR_RETURN(
          Stmt st, db().Prepare("UPDATE model_versions SET stage=?1, updated_at=?2 WHERE name=?3 "
                                "AND version<>?4 AND stage=?5 AND deleted=0"));
      FERRY_RETURN_IF_ERROR(st.Bind(1, std::string(model::kStageArchived))
                                .Bind(2, now)
                                .Bind(3, name)
                                .Bind(4, v.version)
                                .Bind(5, stage)
                                .Run());
    }
    v.stage = stage;
    v.updated_at = now;
    FERRY_RETURN_IF_ERROR(PutModelVersionLocked(v, now));
    return v;
  });
}

Status SqliteMetadataStore::DeleteModelVersion(const std::string& name, int64_t version,
                                               double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_ASSIGN_OR_RETURN(model::ModelVersion v, ModelVersionLocked(name, version));
           FERRY_ASSIGN_OR_RETURN(Stmt del,
                                  db().Prepare("UPDATE model_versions SET deleted=1, "
                                               "updated_at=?1 WHERE name=?2 AND version=?3"));
           FERRY_RETURN_IF_ERROR(del.Bind(1, now).Bind(2, name).Bind(3, v.version).Run());
           FERRY_ASSIGN_OR_RETURN(Stmt al,
                                  db().Prepare("DELETE FROM model_aliases WHERE name=? AND "
                                               "version=?"));
           FERRY_RETURN_IF_ERROR(al.Bind(1, name).Bind(2, v.version).Run());
           FERRY_ASSIGN_OR_RETURN(Stmt touch, db().Prepare("UPDATE registered_models SET "
                                                           "updated_at=? WHERE name=?"));
           FERRY_RETURN_IF_ERROR(touch.Bind(1, now).Bind(2, name).Run());
           return true;
         })
      .status();
}

// ---- aliases -----------------------------------------------------------------------------

Status SqliteMetadataStore::SetModelAlias(const std::string& name, const std::string& alias,
                                          int64_t version) {
  FERRY_RETURN_IF_ERROR(model::ValidateModelAlias(alias));
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_RETURN_IF_ERROR(RegisteredModelLocked(name).status());
           FERRY_RETURN_IF_ERROR(ModelVersionLocked(name, version).status());
           FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("INSERT OR REPLACE INTO model_aliases "
                                                        "VALUES(?,?,?)"));
           FERRY_RETURN_IF_ERROR(st.Bind(1, name).Bind(2, alias).Bind(3, version).Run());
           return true;
         })
      .status();
}

Status SqliteMetadataStore::DeleteModelAlias(const std::string& name, const std::string& alias) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_RETURN_IF_ERROR(RegisteredModelLocked(name).status());
           FERRY_ASSIGN_OR_RETURN(
               Stmt st, db().Prepare("DELETE FROM model_aliases WHERE name=? AND alias=?"));
           FERRY_RETURN_IF_ERROR(st.Bind(1, name).Bind(2, alias).Run());
           return true;
         })
      .status();
}

Result<model::ModelVersion> SqliteMetadataStore::GetModelVersionByAlias(const std::string& name,
                                                                        const std::string& alias) {
  auto lease = Read();
  FERRY_RETURN_IF_ERROR(RegisteredModelLocked(name).status());
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT version FROM model_aliases WHERE name=? "
                                               "AND alias=?"));
  st.Bind(1, name).Bind(2, alias);
  FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    return Status::NotFound("Registered model alias " + alias + " not found on model " + name);
  }
  return ModelVersionLocked(name, st.Int(0));
}

// ---- logged models -----------------------------------------------------------------------

Result<model::LoggedModel> SqliteMetadataStore::LoggedModelLocked(const std::string& model_id) {
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kLoggedColumns +
                                               " FROM logged_models WHERE model_id=? AND "
                                               "deleted=0"));
  st.Bind(1, model_id);
  FERRY_ASSIGN_OR_RETURN(auto found, ReadLogged(st));
  if (found.empty()) return Status::NotFound("Logged model with ID '" + model_id + "' not found.");
  return found[0];
}

Status SqliteMetadataStore::PutLoggedModelLocked(const model::LoggedModel& m) {
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare(std::string("INSERT OR REPLACE INTO "
                                        "logged_models(") +
                            kLoggedColumns + ", deleted) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,0)"));
  return st.Bind(1, m.model_id)
      .Bind(2, m.experiment_id)
      .Bind(3, m.name)
      .Bind(4, m.source_run_id)
      .Bind(5, m.status)
      .Bind(6, m.status_message)
      .Bind(7, m.artifact_location)
      .Bind(8, m.model_type)
      .Bind(9, MapJson(m.params))
      .Bind(10, MapJson(m.tags))
      .Bind(11, m.created_by)
      .Bind(12, m.created_at)
      .Bind(13, m.updated_at)
      .Run();
}

Result<model::LoggedModel> SqliteMetadataStore::CreateLoggedModel(const model::LoggedModel& m,
                                                                  double now) {
  if (m.model_id.empty()) return Status::InvalidArgument("a logged model needs its model_id");
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::LoggedModel> {
    FERRY_ASSIGN_OR_RETURN(Stmt has, db().Prepare("SELECT 1 FROM logged_models WHERE model_id=?"));
    has.Bind(1, m.model_id);
    FERRY_ASSIGN_OR_RETURN(bool taken, has.Step());
    if (taken) return Status::AlreadyExists("logged model '" + m.model_id + "' already exists");
    model::LoggedModel out = m;
    out.created_at = out.updated_at = now;
    out.metrics.clear();
    FERRY_RETURN_IF_ERROR(PutLoggedModelLocked(out));
    return out;
  });
}

Result<model::LoggedModel> SqliteMetadataStore::GetLoggedModel(const std::string& model_id) {
  auto lease = Read();
  FERRY_ASSIGN_OR_RETURN(model::LoggedModel m, LoggedModelLocked(model_id));
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT key, value, timestamp, step, run_id, "
                                               "dataset_name, dataset_digest FROM "
                                               "logged_model_metrics WHERE model_id=? "
                                               "ORDER BY rowid"));
  st.Bind(1, model_id);
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    m.metrics.push_back(
        {st.Text(0), st.Double(1), st.Int(2), st.Int(3), st.Text(4), st.Text(5), st.Text(6)});
  }
  return m;
}

Result<std::vector<model::LoggedModel>> SqliteMetadataStore::ListLoggedModels(
    const std::vector<std::string>& experiment_ids) {
  auto lease = Read();
  std::vector<model::LoggedModel> out;
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare(std::string("SELECT ") + kLoggedColumns +
                                               " FROM logged_models WHERE experiment_id=? AND "
                                               "deleted=0"));
  for (const auto& e : experiment_ids) {
    st.Reset();
    st.Bind(1, e);
    FERRY_ASSIGN_OR_RETURN(auto some, ReadLogged(st));
    for (auto& m : some) out.push_back(std::move(m));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.model_id > b.model_id;
  });
  return out;
}

Result<model::LoggedModel> SqliteMetadataStore::UpdateLoggedModel(
    const std::string& model_id, const std::function<Status(model::LoggedModel*)>& change,
    double now) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<model::LoggedModel> {
    FERRY_ASSIGN_OR_RETURN(model::LoggedModel m, LoggedModelLocked(model_id));
    model::LoggedModel changed = m;
    FERRY_RETURN_IF_ERROR(change(&changed));
    changed.model_id = m.model_id;
    changed.created_at = m.created_at;
    changed.updated_at = now;
    FERRY_RETURN_IF_ERROR(PutLoggedModelLocked(changed));
    return changed;
  });
}

Status SqliteMetadataStore::DeleteLoggedModel(const std::string& model_id, double now) {
  WriteLease lease(this, /*data=*/false);
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("UPDATE logged_models SET deleted=1, updated_at=? "
                                               "WHERE model_id=? AND deleted=0"));
  FERRY_RETURN_IF_ERROR(st.Bind(1, now).Bind(2, model_id).Run());
  if (db().Changes() == 0) {
    return Status::NotFound("Logged model with ID '" + model_id + "' not found.");
  }
  return Status::Ok();
}

Status SqliteMetadataStore::AddLoggedModelMetrics(
    const std::string& model_id, const std::vector<model::LoggedModelMetric>& points) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_RETURN_IF_ERROR(LoggedModelLocked(model_id).status());
           FERRY_ASSIGN_OR_RETURN(Stmt ins,
                                  db().Prepare("INSERT OR IGNORE INTO logged_model_metrics "
                                               "VALUES(?,?,?,?,?,?,?,?)"));
           for (const auto& p : points) {
             ins.Reset();
             ins.Bind(1, model_id).Bind(2, p.key);
             if (std::isnan(p.value))
               ins.BindNull(3);
             else
               ins.Bind(3, p.value);
             FERRY_RETURN_IF_ERROR(ins.Bind(4, p.timestamp_ms)
                                       .Bind(5, p.step)
                                       .Bind(6, p.run_id)
                                       .Bind(7, p.dataset_name)
                                       .Bind(8, p.dataset_digest)
                                       .Run());
           }
           return true;
         })
      .status();
}

Result<std::vector<std::string>> SqliteMetadataStore::LoggedModelsWithDataset(
    const std::string& name, const std::string& digest) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(
      Stmt st, db().Prepare("SELECT DISTINCT model_id FROM logged_model_metrics WHERE "
                            "dataset_name=?1 AND (?2='' OR dataset_digest=?2) ORDER BY model_id"));
  st.Bind(1, name).Bind(2, digest);
  std::vector<std::string> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Text(0));
  }
  return out;
}

Status SqliteMetadataStore::AddLoggedModelFiles(const std::string& model_id,
                                                const std::vector<model::Artifact>& files) {
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_RETURN_IF_ERROR(LoggedModelLocked(model_id).status());
           FERRY_ASSIGN_OR_RETURN(Stmt ins,
                                  db().Prepare("INSERT OR REPLACE INTO logged_model_files "
                                               "VALUES(?,?,?,?)"));
           for (const auto& f : files) {
             ins.Reset();
             FERRY_RETURN_IF_ERROR(ins.Bind(1, model_id)
                                       .Bind(2, f.path)
                                       .Bind(3, static_cast<int64_t>(f.size))
                                       .Bind(4, f.hash)
                                       .Run());
           }
           return true;
         })
      .status();
}

Result<std::vector<model::Artifact>> SqliteMetadataStore::ListLoggedModelFiles(
    const std::string& model_id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT path, size, hash FROM logged_model_files "
                                               "WHERE model_id=? ORDER BY path"));
  st.Bind(1, model_id);
  std::vector<model::Artifact> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), static_cast<uint64_t>(st.Int(1)), st.Text(2)});
  }
  return out;
}

Status SqliteMetadataStore::RecordLoggedModelUses(const std::vector<model::LoggedModelUse>& uses) {
  for (const auto& u : uses) {
    if (u.direction != "input" && u.direction != "output") {
      return Status::InvalidArgument("logged model use direction '" + u.direction +
                                     "' is not known; use input or output");
    }
  }
  WriteLease lease(this, /*data=*/false);
  return InWriteTransaction([&]() -> Result<bool> {
           FERRY_ASSIGN_OR_RETURN(Stmt run, db().Prepare("SELECT 1 FROM runs WHERE id=?"));
           FERRY_ASSIGN_OR_RETURN(Stmt ins, db().Prepare("INSERT OR IGNORE INTO logged_model_uses "
                                                         "VALUES(?,?,?,?)"));
           for (const auto& u : uses) {
             run.Reset();
             run.Bind(1, u.run_id);
             FERRY_ASSIGN_OR_RETURN(bool known, run.Step());
             if (!known) return RunNotFound(u.run_id);
             FERRY_RETURN_IF_ERROR(LoggedModelLocked(u.model_id).status());
             ins.Reset();
             FERRY_RETURN_IF_ERROR(ins.Bind(1, u.run_id)
                                       .Bind(2, u.direction)
                                       .Bind(3, u.model_id)
                                       .Bind(4, u.step)
                                       .Run());
           }
           return true;
         })
      .status();
}

Result<std::vector<model::LoggedModelUse>> SqliteMetadataStore::LoggedModelUsesOfRun(
    const std::string& run_id) {
  auto lease = ReadOne();
  FERRY_ASSIGN_OR_RETURN(Stmt st, db().Prepare("SELECT run_id, direction, model_id, step FROM "
                                               "logged_model_uses WHERE run_id=? "
                                               "ORDER BY direction, model_id, step"));
  st.Bind(1, run_id);
  std::vector<model::LoggedModelUse> out;
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
  }
  return out;
}

}  // namespace ferry::store
