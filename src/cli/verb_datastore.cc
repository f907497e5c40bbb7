// `ferry datastore register|list|show|delete`: where data lives (docs/data.md).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

void PrintDatastore(const json& d) {
  std::printf("Name:     %s%s\nKind:     %s\n", d["name"].get<std::string>().c_str(),
              d.value("default", false) ? " (default)" : "", d["kind"].get<std::string>().c_str());
  if (d.contains("path")) std::printf("Path:     %s\n", d["path"].get<std::string>().c_str());
  if (d.contains("mounts")) {
    for (const auto& [target, at] : d["mounts"].items())
      std::printf("Mount:    %s at %s\n", target.c_str(), at.get<std::string>().c_str());
  }
  if (d.value("created_at", 0.0) > 0)
    std::printf("Created:  %s\n", FormatTime(d["created_at"].get<double>()).c_str());
}

}  // namespace

void RegisterDatastore(CLI::App& app, Context& ctx, int* exit_code) {
  auto* ds = app.add_subcommand("datastore",
                                "Where data lives: the workspace's own store and "
                                "directories shared with targets");
  ds->require_subcommand(1);

  auto* reg = ds->add_subcommand("register", "Register a directory that targets share");
  auto name = std::make_shared<std::string>();
  auto path = std::make_shared<std::string>();
  auto mounts = std::make_shared<std::vector<std::string>>();
  reg->add_option("-n,--name,name", *name, "Datastore name (letters, digits, '_')")->required();
  reg->add_option("--path", *path, "The directory, as the server's machine sees it")->required();
  reg->add_option("--mount", *mounts,
                  "TARGET=PATH: where a target sees the directory, when not at --path "
                  "(repeatable)");
  reg->callback([&ctx, name, path, mounts, exit_code] {
    auto m = ParseKeyValues("--mount", "TARGET=PATH (the directory as that target sees it)",
                            *mounts, /*empty_value_ok=*/false);
    if (!m.ok()) {
      *exit_code = ReportError(m.status());
      return;
    }
    json body = {{"name", *name},
                 {"kind", "directory"},
                 {"path", AbsolutePath(*path)},
                 {"mounts", json(*m)}};
    auto r = ctx.Call("POST", "/api/v1/datastores", body.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("registered datastore %s (directory %s)\n", name->c_str(),
                (*r)["path"].get<std::string>().c_str());
  });

  auto* list = ds->add_subcommand("list", "List datastores");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/datastores");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-10s %s\n", "NAME", "KIND", "WHERE");
    for (const auto& d : (*r)["datastores"]) {
      std::string where = d.value("default", false) ? "the workspace's blob store (default)"
                                                    : d.value("path", std::string());
      std::printf("%-32s %-10s %s\n", d["name"].get<std::string>().c_str(),
                  d["kind"].get<std::string>().c_str(), where.c_str());
    }
  });

  auto* show = ds->add_subcommand("show", "Show a datastore");
  auto show_name = std::make_shared<std::string>();
  show->add_option("-n,--name,name", *show_name, "Datastore name")->required();
  show->callback([&ctx, show_name, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/datastores/" + net::UrlEncode(*show_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    PrintDatastore(*r);
  });

  auto* del =
      ds->add_subcommand("delete", "Unregister a datastore (its files stay where they are)");
  auto del_name = std::make_shared<std::string>();
  del->add_option("-n,--name,name", *del_name, "Datastore name")->required();
  del->callback([&ctx, del_name, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/datastores/" + net::UrlEncode(*del_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("deleted datastore %s\n", del_name->c_str());
  });
}

}  // namespace ferry::cli
