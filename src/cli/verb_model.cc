// `ferry model register|list|show|download|delete`: the model registry (docs/models.md). The
// versions are the ones MLflow's client sees as registered models.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/fs.h"
#include "model/manifest.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

// NAME[:VERSION] -> (name, version or "latest").
std::pair<std::string, std::string> SplitRef(const std::string& ref) {
  const size_t colon = ref.rfind(':');
  if (colon == std::string::npos) return {ref, "latest"};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

std::string ModelPath(const std::string& name, const std::string& version) {
  return "/api/v1/models/" + net::UrlEncode(name) + "/" + net::UrlEncode(version);
}

void PrintModel(const json& v) {
  std::printf(
      "Name:        %s\nVersion:     %lld\nId:          %s\nFiles:       %lld (%s)\n"
      "Stage:       %s\nRegistered:  %s%s\n",
      v["name"].get<std::string>().c_str(), static_cast<long long>(v["version"].get<int64_t>()),
      v["id"].get<std::string>().c_str(), static_cast<long long>(v["file_count"].get<int64_t>()),
      FormatBytes(v["total_bytes"].get<uint64_t>()).c_str(), v["stage"].get<std::string>().c_str(),
      FormatTime(v["created_at"].get<double>()).c_str(),
      v.value("created_by", std::string()).empty()
          ? ""
          : (" by " + v["created_by"].get<std::string>()).c_str());
  if (!v.value("description", std::string()).empty())
    std::printf("Description: %s\n", v["description"].get<std::string>().c_str());
  std::printf("Source:      %s\n", v["source"].get<std::string>().c_str());
  for (const char* field : {"tags", "properties"}) {
    const json m = v.value(field, json::object());  // a copy: items() must not outlive it
    for (const auto& [k, val] : m.items())
      std::printf("%-12s %s=%s\n", std::string(field) == "tags" ? "Tag:" : "Property:", k.c_str(),
                  val.get<std::string>().c_str());
  }
  for (const auto& a : v.value("aliases", json::array()))
    std::printf("Alias:       %s\n", a.get<std::string>().c_str());
  if (v.contains("runs")) {
    for (const auto& r : v["runs"]) {
      std::printf("%s %s\n", r["direction"] == "input" ? "Read by:    " : "Written by: ",
                  r["run_id"].get<std::string>().c_str());
    }
  }
}

struct RegisterArgs {
  std::string name, path, description, run;
  std::vector<std::string> tags, properties;
};

// Uploads the file or directory (every file: ignore files are for code) and registers it.
int RegisterVersion(Context& ctx, const RegisterArgs& a) {
  auto tags = ParseKeyValues("--tag", "KEY=VALUE", a.tags, /*empty_value_ok=*/true);
  if (!tags.ok()) return ReportError(tags.status());
  auto properties = ParseKeyValues("--property", "KEY=VALUE", a.properties, true);
  if (!properties.ok()) return ReportError(properties.status());
  struct stat st {};
  const std::string path = AbsolutePath(a.path);
  if (::stat(path.c_str(), &st) != 0) {
    return ReportError(
        Status::NotFound("'" + a.path + "' does not exist; give the model's file or directory"));
  }
  // A single file is registered under its own name: it is uploaded from a directory of its own.
  std::string dir = path, scratch;
  if (!S_ISDIR(st.st_mode)) {
    char tmpl[] = "/tmp/ferry-model-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return ReportError(ErrnoStatus("cannot create", tmpl, errno));
    scratch = dir = tmpl;
    std::error_code ec;
    std::filesystem::copy_file(path, JoinPath(dir, path.substr(path.rfind('/') + 1)), ec);
    Status w = ec ? Status::IoError("cannot copy '" + path + "': " + ec.message()) : Status::Ok();
    if (!w.ok()) {
      (void)RemoveAll(scratch);
      return ReportError(w);
    }
  }
  UploadOptions o;
  o.dir = dir;
  o.use_ignore_files = false;
  o.check = [&a](const snapshot::SnapshotResult& snap) -> Status {
    if (snap.manifest.entries.empty())
      return Status::InvalidArgument("'" + a.path + "' holds no files; a model needs at least one");
    return Status::Ok();
  };
  auto stored = UploadTree(ctx, o);
  if (!scratch.empty()) (void)RemoveAll(scratch);
  if (!stored.ok()) return ReportError(stored.status());
  json body = {{"name", a.name},
               {"snapshot", stored->snap.id},
               {"description", a.description},
               {"tags", *tags},
               {"properties", *properties}};
  if (!a.run.empty()) body["run_id"] = a.run;
  auto r = ctx.Call("POST", "/api/v1/models", body.dump());
  if (!r.ok()) return ReportError(r.status());
  if (ctx.json_output()) {
    PrintJson(*r);
  } else {
    std::printf("registered model %s version %lld (%lld files)\n", a.name.c_str(),
                static_cast<long long>((*r)["version"].get<int64_t>()),
                static_cast<long long>((*r)["file_count"].get<int64_t>()));
  }
  return kExitOk;
}

// The version's files into dir (each written atomically; paths checked again here).
int Download(Context& ctx, const std::string& ref, const std::string& dir) {
  auto [name, version] = SplitRef(ref);
  auto files = ctx.Call("GET", ModelPath(name, version) + "/files");
  if (!files.ok()) return ReportError(files.status());
  int n = 0;
  for (const auto& f : (*files)["files"]) {
    const std::string path = f["path"].get<std::string>();
    if (Status st = model::ValidateRelativePath(path); !st.ok())
      return ReportError(st.WithContext("refusing a model file"));
    const std::string out = JoinPath(dir, path);
    Status st = MakeDirs(DirName(out));
    if (st.ok()) {
      // Streamed to disk, checked against the file's hash before it is renamed into place.
      st = ctx.Download(ModelPath(name, std::to_string((*files)["version"].get<int64_t>())) +
                            "/content?path=" + net::UrlEncode(path),
                        out, f.value("hash", std::string()), f.value("size", int64_t{-1}))
               .status();
    }
    if (!st.ok()) return ReportError(st);
    if (!ctx.json_output()) std::printf("%s\n", out.c_str());
    ++n;
  }
  if (ctx.json_output())
    PrintJson({{"name", (*files)["name"]}, {"version", (*files)["version"]}, {"files", n}});
  return kExitOk;
}

}  // namespace

void RegisterModel(CLI::App& app, Context& ctx, int* exit_code) {
  auto* m = app.add_subcommand("model", "Registered models: numbered versions of model files");
  m->require_subcommand(1);

  auto* reg = m->add_subcommand("register", "Upload a model's file or directory as a version");
  auto args = std::make_shared<RegisterArgs>();
  reg->add_option("-n,--name,name", args->name, "Model name")->required();
  reg->add_option("-p,--path", args->path, "The model's file or directory")->required();
  reg->add_option("--description", args->description, "A note kept with the version");
  reg->add_option("--tag", args->tags, "KEY=VALUE (repeatable; can change later)");
  reg->add_option("--property", args->properties, "KEY=VALUE (repeatable; never changes)");
  reg->add_option("--run", args->run, "The run that produced the model (its lineage)");
  reg->callback([&ctx, exit_code, args] { *exit_code = RegisterVersion(ctx, *args); });

  auto* list = m->add_subcommand("list", "List model versions");
  auto name = std::make_shared<std::string>();
  auto tags = std::make_shared<std::vector<std::string>>();
  auto latest = std::make_shared<bool>(false);
  list->add_option("-n,--name", *name, "Only this model's versions");
  list->add_option("--tag", *tags, "KEY=VALUE or KEY: versions with that tag (repeatable)");
  list->add_flag("--latest", *latest, "Only the latest version of each model");
  list->callback([&ctx, exit_code, name, tags, latest] {
    std::string q;
    auto add = [&q](const std::string& k, const std::string& v) {
      q += (q.empty() ? "?" : "&") + k + "=" + net::UrlEncode(v);
    };
    if (!name->empty()) add("name", *name);
    std::string joined;
    for (const auto& t : *tags) joined += (joined.empty() ? "" : ",") + t;
    if (!joined.empty()) add("tag", joined);
    if (*latest) add("latest", "true");
    auto r = ctx.Call("GET", "/api/v1/models" + q);
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson((*r)["models"]);
    std::printf("%-32s %-8s %-8s %-10s %-11s %-20s %s\n", "NAME", "VERSION", "FILES", "SIZE",
                "STAGE", "REGISTERED", "RUN");
    for (const auto& v : (*r)["models"]) {
      std::printf(
          "%-32s %-8lld %-8lld %-10s %-11s %-20s %s\n", v["name"].get<std::string>().c_str(),
          static_cast<long long>(v["version"].get<int64_t>()),
          static_cast<long long>(v["file_count"].get<int64_t>()),
          FormatBytes(v["total_bytes"].get<uint64_t>()).c_str(),
          v["stage"].get<std::string>().c_str(), FormatTime(v["created_at"].get<double>()).c_str(),
          v["run_id"].get<std::string>().c_str());
    }
  });

  auto* show = m->add_subcommand("show", "Show a model version and the runs that made or used it");
  auto ref = std::make_shared<std::string>();
  show->add_option("model", *ref, "NAME[:VERSION] (default: the latest version)")->required();
  show->callback([&ctx, exit_code, ref] {
    auto [n, v] = SplitRef(*ref);
    auto r = ctx.Call("GET", ModelPath(n, v));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    PrintModel(*r);
  });

  auto* dl = m->add_subcommand("download", "Download a model version's files");
  auto dref = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>(".");
  dl->add_option("model", *dref, "NAME[:VERSION] (default: the latest version)")->required();
  dl->add_option("-t,--target", *target, "Directory to write the files into (default: .)");
  dl->callback([&ctx, exit_code, dref, target] { *exit_code = Download(ctx, *dref, *target); });

  auto* del = m->add_subcommand("delete", "Delete a model version (its number is not reused)");
  auto xref = std::make_shared<std::string>();
  del->add_option("model", *xref, "NAME:VERSION")->required();
  del->callback([&ctx, exit_code, xref] {
    auto [n, v] = SplitRef(*xref);
    if (v == "latest") {
      *exit_code = ReportError(Status::InvalidArgument(
          "name the version to delete: ferry model delete " + n + ":VERSION"));
      return;
    }
    auto r = ctx.Call("DELETE", ModelPath(n, v));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("deleted model %s version %s\n", n.c_str(), v.c_str());
  });
}

}  // namespace ferry::cli
