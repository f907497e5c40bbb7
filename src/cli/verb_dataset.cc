// `ferry dataset register|list|show|download|archive|reactivate`: registered dataset versions
// (docs/data.md).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/fs.h"
#include "model/manifest.h"
#include "net/http.h"
#include "runconfig/dataset_spec.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

void PrintVersion(const json& v) {
  std::printf(
      "Name:        %s\nVersion:     %lld%s\nId:          %s\nKind:        %s\n"
      "Datastore:   %s\nFiles:       %lld (%s)\nRegistered:  %s%s\n",
      v["name"].get<std::string>().c_str(), static_cast<long long>(v["version"].get<int64_t>()),
      v.value("archived", false) ? " (archived)" : "", v["id"].get<std::string>().c_str(),
      v["kind"].get<std::string>().c_str(), v["datastore"].get<std::string>().c_str(),
      static_cast<long long>(v["file_count"].get<int64_t>()),
      FormatBytes(v["total_bytes"].get<uint64_t>()).c_str(),
      FormatTime(v["created_at"].get<double>()).c_str(),
      v.value("created_by", std::string()).empty()
          ? ""
          : (" by " + v["created_by"].get<std::string>()).c_str());
  if (!v.value("description", std::string()).empty())
    std::printf("Description: %s\n", v["description"].get<std::string>().c_str());
  const json tags = v.value("tags", json::object());  // a copy: items() must not outlive it
  for (const auto& [k, val] : tags.items())
    std::printf("Tag:         %s=%s\n", k.c_str(), val.get<std::string>().c_str());
  if (v.contains("runs")) {
    for (const auto& r : v["runs"]) {
      std::string as = r.value("as_name", std::string());
      std::printf("%s %s%s\n", r["direction"] == "input" ? "Read by:    " : "Written by: ",
                  r["run_id"].get<std::string>().c_str(), as.empty() ? "" : (" as " + as).c_str());
    }
  }
}

// archive | reactivate NAME [-v VERSION]
void AddStateVerb(CLI::App* ds, Context& ctx, int* exit_code, const char* verb, const char* help) {
  auto* cmd = ds->add_subcommand(verb, help);
  auto name = std::make_shared<std::string>();
  auto version = std::make_shared<std::string>();
  cmd->add_option("-n,--name,name", *name, "Dataset name")->required();
  cmd->add_option("-v,--version", *version, "A version number (default: every version)");
  cmd->callback([&ctx, exit_code, verb, name, version] {
    std::string path = "/api/v1/datasets/" + net::UrlEncode(*name) + "/" + verb +
                       (version->empty() ? "" : "?version=" + net::UrlEncode(*version));
    auto r = ctx.Call("POST", path);
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%s %s%s\n", std::string(verb) == "archive" ? "archived" : "reactivated",
                name->c_str(),
                version->empty() ? " (every version)" : (" version " + *version).c_str());
  });
}

struct RegisterArgs {
  std::string name, path, description, spec_file, datastore, format;
  std::vector<std::string> tags, patterns;
  bool new_version = false;
};

int PrintRegistered(Context& ctx, const json& r, const std::string& name) {
  if (ctx.json_output()) {
    PrintJson(r);
  } else if (r["created"].get<bool>()) {
    std::printf("registered dataset %s version %lld (%lld files)\n", name.c_str(),
                static_cast<long long>(r["version"].get<int64_t>()),
                static_cast<long long>(r["file_count"].get<int64_t>()));
  } else {
    std::printf("dataset %s version %lld has these files already; nothing registered\n",
                name.c_str(), static_cast<long long>(r["version"].get<int64_t>()));
  }
  return kExitOk;
}

// Files already in a datastore: --pattern over --datastore, or a spec file (-f).
int RegisterPaths(Context& ctx, const RegisterArgs& a, const json& tags) {
  json body;
  if (!a.spec_file.empty()) {
    auto text = ReadFile(AbsolutePath(a.spec_file));
    if (!text.ok()) return ReportError(text.status());
    auto spec = runconfig::ParseDatasetSpec(*text, a.spec_file);
    if (!spec.ok()) return ReportError(spec.status());
    body = *spec;
    if (!a.name.empty()) body["name"] = a.name;  // the command line wins
    if (!a.description.empty()) body["description"] = a.description;
    for (const auto& [k, v] : tags.items()) body["tags"][k] = v;
  } else {
    json paths = json::array();
    for (const auto& p : a.patterns) paths.push_back({{"datastore", a.datastore}, {"path", p}});
    json definition = json::object();
    if (!a.format.empty()) definition["format"] = a.format;
    body = {{"name", a.name},
            {"kind", a.format.empty() ? "file" : "tabular"},
            {"description", a.description},
            {"tags", tags},
            {"paths", paths},
            {"definition", definition}};
  }
  if (!body.contains("name") || body["name"] == "") {
    return ReportError(Status::InvalidArgument("the dataset needs a name: -n NAME"));
  }
  body["create_new_version"] = a.new_version;
  auto r = ctx.Call("POST", "/api/v1/datasets", body.dump());
  if (!r.ok()) return ReportError(r.status());
  return PrintRegistered(ctx, *r, body["name"].get<std::string>());
}

// Uploads the directory's files (all of them: ignore files are for code) and registers them.
int RegisterFiles(Context& ctx, const RegisterArgs& a) {
  auto tags = ParseKeyValues("--tag", "KEY=VALUE", a.tags, /*empty_value_ok=*/true);
  if (!tags.ok()) return ReportError(tags.status());
  const int sources = !a.path.empty() + !a.patterns.empty() + !a.spec_file.empty();
  if (sources != 1) {
    return ReportError(Status::InvalidArgument(
        "say where the files are with one of: -p DIR (upload a directory), --pattern GLOB "
        "(files already in --datastore), -f SPEC (a dataset spec file)"));
  }
  if (a.path.empty()) return RegisterPaths(ctx, a, json(*tags));
  if (a.name.empty())
    return ReportError(Status::InvalidArgument("the dataset needs a name: -n NAME"));
  UploadOptions o;
  o.dir = AbsolutePath(a.path);
  o.use_ignore_files = false;
  o.check = [&a](const snapshot::SnapshotResult& snap) -> Status {
    if (snap.manifest.entries.empty())
      return Status::InvalidArgument("'" + a.path +
                                     "' holds no files; a dataset needs at least one");
    return Status::Ok();
  };
  auto stored = UploadTree(ctx, o);
  if (!stored.ok()) return ReportError(stored.status());
  json body = {{"name", a.name},
               {"snapshot", stored->snap.id},
               {"description", a.description},
               {"tags", *tags},
               {"create_new_version", a.new_version}};
  auto r = ctx.Call("POST", "/api/v1/datasets", body.dump());
  if (!r.ok()) return ReportError(r.status());
  return PrintRegistered(ctx, *r, a.name);
}

// The files of a version: its manifest (a snapshot's, or an external datastore's list).
Result<std::vector<RemoteFile>> VersionFiles(Context& ctx, const json& v) {
  FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                         ctx.Raw("GET", "/api/v1/blobs/" + v["manifest"].get<std::string>()));
  if (r.status != 200) return Status::Unavailable("cannot read the version's manifest: " + r.body);
  std::vector<RemoteFile> out;
  const std::string datastore = v["datastore"].get<std::string>();
  if (!r.body.empty() && r.body[0] == '{') {
    json m = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object() || !m.contains("files"))
      return Status::Corruption("the manifest is not a file list");
    for (const auto& f : m["files"]) {
      out.push_back({f["path"].get<std::string>(), f["size"].get<int64_t>(), "", datastore,
                     f["source"].get<std::string>(), f["modified_at"].get<double>()});
    }
    return out;
  }
  FERRY_ASSIGN_OR_RETURN(model::Manifest m, model::Manifest::Parse(r.body));
  for (const auto& e : m.entries) {
    out.push_back({e.path, static_cast<int64_t>(e.size), e.hash, datastore, "", -1});
  }
  return out;
}

}  // namespace

void RegisterDataset(CLI::App& app, Context& ctx, int* exit_code) {
  auto* ds =
      app.add_subcommand("dataset", "Registered datasets: immutable, versioned sets of files");
  ds->require_subcommand(1);

  auto* reg = ds->add_subcommand("register",
                                 "Register a version: a directory's files (-p), files in a "
                                 "datastore (--pattern) or a spec file (-f)");
  auto args = std::make_shared<RegisterArgs>();
  reg->add_option("-n,--name,name", args->name, "Dataset name (a spec file may give it)");
  reg->add_option("-p,--path", args->path, "Upload this directory's files as the dataset");
  reg->add_option("--datastore", args->datastore,
                  "With --pattern: the datastore the files are in (default: workspaceblobstore)");
  reg->add_option("--pattern", args->patterns,
                  "Files already in the datastore: a path or glob ('dir/**/*.csv'; repeatable)");
  reg->add_option("--tabular", args->format,
                  "With --pattern: a tabular dataset of files in this format")
      ->check(CLI::IsMember({"delimited", "parquet", "json_lines"}));
  reg->add_option("-f,--file", args->spec_file,
                  "A dataset spec file (JSON or YAML, as `az ml dataset register -f` took)");
  reg->add_option("--description", args->description, "A note kept with the version");
  reg->add_option("--tag", args->tags, "KEY=VALUE (repeatable)");
  reg->add_flag("--new-version", args->new_version,
                "Register other files under a name that has versions as its next version");
  reg->callback([&ctx, exit_code, args] { *exit_code = RegisterFiles(ctx, *args); });

  auto* down = ds->add_subcommand("download", "Download a dataset version's files");
  struct DownArgs {
    std::string name, version = "latest", target;
    bool overwrite = false;
  };
  auto da = std::make_shared<DownArgs>();
  down->add_option("-n,--name,name", da->name, "Dataset name")->required();
  down->add_option("-v,--version", da->version, "Version number (default: latest)");
  down->add_option("-t,--target-path", da->target, "The local directory to write to")->required();
  down->add_flag("--overwrite", da->overwrite, "Replace local files that exist");
  down->callback([&ctx, exit_code, da] {
    auto v = ctx.Call(
        "GET", "/api/v1/datasets/" + net::UrlEncode(da->name) + "/" + net::UrlEncode(da->version));
    if (!v.ok()) {
      *exit_code = ReportError(v.status());
      return;
    }
    auto files = VersionFiles(ctx, *v);
    if (!files.ok()) {
      *exit_code = ReportError(files.status());
      return;
    }
    auto bytes = DownloadFiles(ctx, *files, AbsolutePath(da->target), da->overwrite);
    if (!bytes.ok()) {
      *exit_code = ReportError(bytes.status().WithContext(
          "dataset " + da->name + " version " + std::to_string((*v)["version"].get<int64_t>())));
      return;
    }
    if (ctx.json_output()) return PrintJson(json{{"files", files->size()}, {"bytes", *bytes}});
    std::printf("downloaded %s version %lld: %zu files (%s) to %s\n", da->name.c_str(),
                static_cast<long long>((*v)["version"].get<int64_t>()), files->size(),
                FormatBytes(static_cast<uint64_t>(*bytes)).c_str(), da->target.c_str());
  });

  auto* list = ds->add_subcommand("list", "List datasets (latest version of each)");
  auto all = std::make_shared<bool>(false);
  list->add_flag("--include-archived", *all, "Also list archived datasets");
  list->callback([&ctx, exit_code, all] {
    auto r =
        ctx.Call("GET", std::string("/api/v1/datasets") + (*all ? "?include_archived=true" : ""));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-8s %-8s %-10s %-20s %s\n", "NAME", "VERSION", "FILES", "SIZE",
                "REGISTERED", "DESCRIPTION");
    for (const auto& v : (*r)["datasets"]) {
      std::printf("%-32s %-8lld %-8lld %-10s %-20s %s%s\n", v["name"].get<std::string>().c_str(),
                  static_cast<long long>(v["version"].get<int64_t>()),
                  static_cast<long long>(v["file_count"].get<int64_t>()),
                  FormatBytes(v["total_bytes"].get<uint64_t>()).c_str(),
                  FormatTime(v["created_at"].get<double>()).c_str(),
                  v["description"].get<std::string>().c_str(),
                  v.value("archived", false) ? " (archived)" : "");
    }
  });

  auto* show = ds->add_subcommand("show", "Show a dataset version and the runs that used it");
  auto name = std::make_shared<std::string>();
  auto version = std::make_shared<std::string>("latest");
  show->add_option("-n,--name,name", *name, "Dataset name")->required();
  show->add_option("-v,--version", *version, "Version number (default: latest)");
  show->callback([&ctx, exit_code, name, version] {
    auto r = ctx.Call("GET",
                      "/api/v1/datasets/" + net::UrlEncode(*name) + "/" + net::UrlEncode(*version));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    PrintVersion(*r);
  });

  AddStateVerb(ds, ctx, exit_code, "archive", "Hide versions from listings (they stay readable)");
  AddStateVerb(ds, ctx, exit_code, "reactivate", "Show archived versions in listings again");
}

}  // namespace ferry::cli
