// A run's data: its dataset inputs resolved at submit (the agent then needs no store), the
// lineage of what it read, and its output datasets written and registered when it completes
// (docs/data.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/crypto.h"
#include "data/s3_client.h"
#include "model/registry.h"
#include "server/api_internal.h"
#include "server/datastore_io.h"

namespace ferry::server {

using nlohmann::json;

namespace {

std::string Substituted(std::string s, const std::string& run_id, const std::string& output) {
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"{run-id}", run_id}, {"{output-name}", output}}) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
  }
  return s;
}

// Where a directory datastore is on a target: its mount there, else the server's path.
std::string RootOn(const model::DatastoreRecord& ds, const std::string& target) {
  json config = json::parse(ds.config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return "";
  if (auto m = config.find("mounts"); m != config.end() && m->is_object()) {
    if (auto at = m->find(target); at != m->end() && at->is_string()) return at->get<std::string>();
  }
  return config.value("path", "");
}

}  // namespace

Status Api::Impl::ResolveRunData(model::Run* run) {
  for (size_t i = 0; i < run->options.inputs.size(); ++i) {
    model::DataInput& in = run->options.inputs[i];
    const std::string field = "inputs[" + std::to_string(i) + "]";
    if (in.asset == "model") {
      // A registered model version's files, made available like a dataset's.
      FERRY_ASSIGN_OR_RETURN(
          auto v, d.store->Models().GetModelVersion(in.dataset_name, in.dataset_version));
      if (v.manifest_hash.empty()) {
        return Status::FailedPrecondition(
            "field '" + field + ".model': model '" + v.name + "' version " +
            std::to_string(v.version) +
            " has no files in the workspace's store (its files are at " + v.source +
            "); register it from files (ferry model register -p)");
      }
      in.dataset_version = v.version;
      in.kind = "file";
      in.manifest = v.manifest_hash;
      in.datastore = std::string(model::kWorkspaceBlobStore);
      in.definition_json = "{}";
    } else if (!in.dataset_name.empty()) {
      FERRY_ASSIGN_OR_RETURN(auto v,
                             d.store->Assets().GetDataset(in.dataset_name, in.dataset_version));
      in.dataset_version = v.version;
      in.dataset_id = v.id;
      in.kind = v.kind;
      in.manifest = v.manifest_hash;
      in.datastore = v.datastore;
      in.definition_json = v.definition_json;
    } else if (!IsSha256Hex(in.manifest) || !d.blobs->Has(in.manifest)) {
      return Status::InvalidArgument("field '" + field +
                                     ".dataset': give a registered dataset's "
                                     "name and version, or a resolved dataset's manifest "
                                     "(POST /api/v1/datasets/resolve)");
    }
    if (in.kind != "file" && in.kind != "tabular") {
      return Status::InvalidArgument("field '" + field + ".dataset.kind': '" + in.kind +
                                     "' is not file or tabular");
    }
    FERRY_ASSIGN_OR_RETURN(auto ds, d.store->Assets().GetDatastore(in.datastore));
    in.external_root.clear();  // never the client's
    in.store_kind = ds.kind;
    if (ds.kind == "directory") {
      in.external_root = RootOn(ds, run->target);
    } else if (ds.kind != "blob" && ds.kind != "s3") {
      return Status::FailedPrecondition("input '" + in.name + "': datastore '" + ds.name +
                                        "' of kind '" + ds.kind + "' cannot be read by runs");
    }
  }
  for (size_t i = 0; i < run->options.outputs.size(); ++i) {
    model::DataOutput& out = run->options.outputs[i];
    const std::string field = "outputs[" + std::to_string(i) + "]";
    for (const auto& in : run->options.inputs) {
      if (in.name == out.name) {
        return Status::InvalidArgument("field '" + field + ".name': '" + out.name +
                                       "' is also an input's name");
      }
    }
    if (out.datastore.empty()) out.datastore = DefaultDatastore();
    FERRY_ASSIGN_OR_RETURN(auto ds, d.store->Assets().GetDatastore(out.datastore));
    if (ds.kind != "blob" && ds.kind != "directory" && ds.kind != "s3") {
      return Status::FailedPrecondition("output '" + out.name + "': datastore '" + ds.name +
                                        "' of kind '" + ds.kind + "' cannot take outputs");
    }
    if (out.path.empty()) out.path = "dataset/{run-id}/{output-name}";
    FERRY_ASSIGN_OR_RETURN(
        out.path, DatastorePath(field + ".path", Substituted(out.path, run->id, out.name)));
    if (!out.register_name.empty()) {
      FERRY_RETURN_IF_ERROR(model::ValidateAssetName("dataset", out.register_name)
                                .WithContext("field '" + field + ".register_on_complete.name'"));
    }
  }
  return Status::Ok();
}

Status Api::Impl::RecordRunInputs(const model::Run& run) {
  std::vector<model::AssetUse> uses;
  for (const auto& in : run.options.inputs) {
    if (in.dataset_name.empty()) continue;
    uses.push_back({run.id, "input", in.asset, in.dataset_name, in.dataset_version, in.name});
  }
  return uses.empty() ? Status::Ok() : d.store->Assets().RecordAssetUses(uses);
}

// The files the script wrote to an output's directory (outputs/datasets/<name>/ of its
// working copy, which the agent collected as artifacts) go to the output's datastore path and,
// when asked, become the next version of a dataset.
Status Api::Impl::FinishDatasetOutputs(const model::Run& run,
                                       const std::vector<model::Artifact>& reported) {
  if (run.options.outputs.empty()) return Status::Ok();
  FERRY_ASSIGN_OR_RETURN(auto stored, d.store->ListArtifacts(run.id));
  std::vector<model::AssetUse> uses;
  std::vector<store::RunOutputRecord> records;
  for (const auto& out : run.options.outputs) {
    const std::string prefix = "outputs/datasets/" + out.name + "/";
    model::Manifest m;
    for (const std::vector<model::Artifact>* list : {&std::as_const(stored), &reported}) {
      for (const auto& a : *list) {
        if (a.path.compare(0, prefix.size(), prefix) != 0) continue;
        m.entries.push_back({a.path.substr(prefix.size()), 0644, a.size, a.hash});
      }
    }
    std::sort(m.entries.begin(), m.entries.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    m.entries.erase(std::unique(m.entries.begin(), m.entries.end(),
                                [](const auto& a, const auto& b) { return a.path == b.path; }),
                    m.entries.end());
    if (m.entries.empty()) {
      return Status::FailedPrecondition("output '" + out.name +
                                        "': the script wrote no files to its directory "
                                        "(FERRY_OUTPUT_" +
                                        out.name + ")");
    }
    FERRY_ASSIGN_OR_RETURN(auto ds, d.store->Assets().GetDatastore(out.datastore));
    FERRY_ASSIGN_OR_RETURN(
        auto io, OpenDatastoreIo(ds, &d.store->Assets(), d.blobs, d.sealer, d.clock->Now()));
    FERRY_RETURN_IF_ERROR(
        io->Put(m, out.path, /*overwrite=*/true).status().WithContext("output '" + out.name + "'"));
    // The content, as a manifest of the workspace's blobs (the files were uploaded there as
    // the run's artifacts): what a pipeline's next step mounts, and what its reuse key reads.
    FERRY_ASSIGN_OR_RETURN(std::string manifest, d.blobs->Put(m.Serialize(), ""));
    store::RunOutputRecord rec{run.id, out.name, out.datastore, out.path, manifest, 0, 0};
    for (const auto& e : m.entries) {
      rec.file_count += 1;
      rec.total_bytes += static_cast<int64_t>(e.size);
    }
    records.push_back(std::move(rec));
    if (out.register_name.empty()) continue;
    json body = {{"name", out.register_name},
                 {"kind", "file"},
                 {"description", out.description},
                 {"paths", json::array({{{"datastore", out.datastore}, {"path", out.path}}})}};
    FERRY_ASSIGN_OR_RETURN(auto version,
                           RegisterDatasetFrom(body, /*new_version=*/true, run.submitted_by));
    uses.push_back({run.id, "output", "dataset", version.name, version.version, out.name});
  }
  FERRY_RETURN_IF_ERROR(d.store->Pipelines().PutRunOutputs(records));
  return uses.empty() ? Status::Ok() : d.store->Assets().RecordAssetUses(uses);
}

// Presigned GET URLs (an hour) for the files of the run's inputs in S3 datastores: the agent
// has no credentials. {input name: [{path, url, size, etag}]}.
Result<json> Api::Impl::InputUrls(const model::Run& run) {
  json out = json::object();
  for (const auto& in : run.options.inputs) {
    if (in.store_kind != "s3") continue;
    FERRY_ASSIGN_OR_RETURN(auto ds, d.store->Assets().GetDatastore(in.datastore));
    FERRY_ASSIGN_OR_RETURN(auto client, OpenS3Datastore(ds, d.sealer));
    FERRY_ASSIGN_OR_RETURN(std::string text, d.blobs->Get(in.manifest));
    json m = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object() || !m.contains("files")) {
      return Status::Corruption("input '" + in.name + "': its manifest is not a file list");
    }
    json files = json::array();
    const std::string prefix = S3Prefix(ds);
    for (const auto& f : m["files"]) {
      FERRY_ASSIGN_OR_RETURN(std::string url,
                             client->PresignUrl("GET", S3Key(prefix, f.value("source", "")), 3600));
      files.push_back({{"path", f.value("path", "")},
                       {"url", url},
                       {"size", f.value("size", int64_t{-1})},
                       {"etag", f.value("etag", "")}});
    }
    out[in.name] = std::move(files);
  }
  return out;
}

}  // namespace ferry::server
