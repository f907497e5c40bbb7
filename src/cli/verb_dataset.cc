// `ferry dataset register|list|show|archive|reactivate`: registered dataset versions
// (docs/data.md).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "cli/term.h"
#include "cli/upload.h"
#include "common/fs.h"
#include "net/http.h"

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
  std::string name, path, description;
  std::vector<std::string> tags;
  bool new_version = false;
};

// Uploads the directory's files (all of them: ignore files are for code) and registers them.
int RegisterFiles(Context& ctx, const RegisterArgs& a) {
  auto tags = ParseKeyValues("--tag", "KEY=VALUE", a.tags, /*empty_value_ok=*/true);
  if (!tags.ok()) return ReportError(tags.status());
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
  if (ctx.json_output()) {
    PrintJson(*r);
  } else if ((*r)["created"].get<bool>()) {
    std::printf("registered dataset %s version %lld (%lld files)\n", a.name.c_str(),
                static_cast<long long>((*r)["version"].get<int64_t>()),
                static_cast<long long>((*r)["file_count"].get<int64_t>()));
  } else {
    std::printf("dataset %s version %lld has these files already; nothing registered\n",
                a.name.c_str(), static_cast<long long>((*r)["version"].get<int64_t>()));
  }
  return kExitOk;
}

}  // namespace

void RegisterDataset(CLI::App& app, Context& ctx, int* exit_code) {
  auto* ds =
      app.add_subcommand("dataset", "Registered datasets: immutable, versioned sets of files");
  ds->require_subcommand(1);

  auto* reg =
      ds->add_subcommand("register", "Upload a directory's files and register them as a version");
  auto args = std::make_shared<RegisterArgs>();
  reg->add_option("-n,--name,name", args->name, "Dataset name")->required();
  reg->add_option("-p,--path", args->path, "The directory whose files make the dataset")
      ->required();
  reg->add_option("--description", args->description, "A note kept with the version");
  reg->add_option("--tag", args->tags, "KEY=VALUE (repeatable)");
  reg->add_flag("--new-version", args->new_version,
                "Register other files under a name that has versions as its next version");
  reg->callback([&ctx, exit_code, args] { *exit_code = RegisterFiles(ctx, *args); });

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
