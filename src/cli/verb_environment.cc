// `ferry environment register|list|show`: registered environments with immutable versions.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "model/run_options.h"
#include "net/http.h"
#include "runconfig/conda_env.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

// pip or conda, from the file name (environment.yml, conda_dependencies.yaml) or --type.
Result<std::string> SpecType(const std::string& path, const std::string& given) {
  if (!given.empty()) return given;
  auto ends = [&](const char* suffix) {
    std::string s = suffix;
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".yml") || ends(".yaml")) return std::string("conda");
  if (ends(".txt") || ends(".in")) return std::string("pip");
  return Status::InvalidArgument(
      "cannot tell whether '" + path +
      "' is a pip requirements file or a conda environment file; pass --type pip|conda");
}

int RegisterSpec(Context& ctx, const std::string& file, const std::string& name,
                 const std::string& type_given, const std::string& description) {
  Status valid = model::ValidateEnvironmentName(name);
  if (!valid.ok()) return ReportError(valid);
  auto type = SpecType(file, type_given);
  if (!type.ok()) return ReportError(type.status());
  auto text = ReadFile(file);
  if (!text.ok()) return ReportError(text.status());
  if (*type == "conda") {
    auto parsed = runconfig::ParseCondaEnvironment(*text, file);
    if (!parsed.ok()) return ReportError(parsed.status());
  } else if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
    return ReportError(
        Status::InvalidArgument("'" + file + "' is empty: list the packages, one per line"));
  }
  auto r = ctx.Call(
      "POST", "/api/v1/environments",
      json{{"name", name}, {"type", *type}, {"content", *text}, {"description", description}}
          .dump());
  if (!r.ok()) return ReportError(r.status());
  if (ctx.json_output()) {
    PrintJson(*r);
  } else if ((*r)["created"].get<bool>()) {
    std::printf("registered environment %s version %lld\n", name.c_str(),
                static_cast<long long>((*r)["version"].get<int64_t>()));
  } else {
    std::printf("environment %s version %lld has the same %s spec already; nothing registered\n",
                name.c_str(), static_cast<long long>((*r)["version"].get<int64_t>()),
                type->c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterEnvironment(CLI::App& app, Context& ctx, int* exit_code) {
  auto* env =
      app.add_subcommand("environment", "Registered Python environments (named, versioned)");
  env->require_subcommand(1);

  auto* reg = env->add_subcommand(
      "register", "Register a pip requirements or conda environment file as a new version");
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>();
  auto desc = std::make_shared<std::string>();
  reg->add_option("-f,--file", *file, "requirements.txt or environment.yml")->required();
  reg->add_option("-n,--name", *name, "Environment name")->required();
  reg->add_option("--type", *type, "pip or conda (default: from the file name)")
      ->check(CLI::IsMember({"pip", "conda"}));
  reg->add_option("--description", *desc, "A note kept with the version");
  reg->callback([&ctx, file, name, type, desc, exit_code] {
    *exit_code = RegisterSpec(ctx, *file, *name, *type, *desc);
  });

  auto* list = env->add_subcommand("list", "List registered environments (latest version of each)");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/environments");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-8s %-6s %-20s %s\n", "NAME", "VERSION", "TYPE", "REGISTERED",
                "DESCRIPTION");
    for (auto& e : (*r)["environments"]) {
      std::printf("%-32s %-8lld %-6s %-20s %s\n", e["name"].get<std::string>().c_str(),
                  static_cast<long long>(e["version"].get<int64_t>()),
                  e["type"].get<std::string>().c_str(),
                  FormatTime(e["created_at"].get<double>()).c_str(),
                  e["description"].get<std::string>().c_str());
    }
  });

  auto* show = env->add_subcommand("show", "Show an environment version and its spec");
  auto show_name = std::make_shared<std::string>();
  auto version = std::make_shared<std::string>("latest");
  show->add_option("-n,--name,name", *show_name, "Environment name")->required();
  show->add_option("-v,--version", *version, "Version number (default: latest)");
  show->callback([&ctx, show_name, version, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/environments/" + net::UrlEncode(*show_name) + "/" +
                                 net::UrlEncode(*version));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    const json& e = *r;
    std::printf(
        "Name:        %s\nVersion:     %lld\nType:        %s\nRegistered:  %s\n",
        e["name"].get<std::string>().c_str(), static_cast<long long>(e["version"].get<int64_t>()),
        e["type"].get<std::string>().c_str(), FormatTime(e["created_at"].get<double>()).c_str());
    if (!e["description"].get<std::string>().empty())
      std::printf("Description: %s\n", e["description"].get<std::string>().c_str());
    std::printf("Spec:\n%s", e["content"].get<std::string>().c_str());
    const std::string& c = e["content"].get_ref<const std::string&>();
    if (!c.empty() && c.back() != '\n') std::printf("\n");
  });
}

}  // namespace ferry::cli
