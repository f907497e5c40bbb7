// `ferry secret set|list|delete`: the workspace's secrets (Azure ML's workspace Key Vault;
// docs/azure-workspace.md#key-vault-the-workspaces-secrets). A value never goes on a command
// line (ps shows it): it comes from standard input or a file.
#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

void RegisterSecret(CLI::App& app, Context& ctx, int* exit_code) {
  auto* secret = app.add_subcommand(
      "secret", "The workspace's secrets, sealed at rest; scripts read them with run.get_secret");
  secret->require_subcommand(1);

  auto* set = secret->add_subcommand(
      "set", "Create a secret or replace its value (from standard input, or --file)");
  auto set_name = std::make_shared<std::string>();
  auto set_file = std::make_shared<std::string>();
  set->add_option("name", *set_name, "Secret name (letters, digits, '-'; at most 127)")->required();
  set->add_option("--file", *set_file, "Read the value from this file, as it is");
  set->callback([&ctx, set_name, set_file, exit_code] {
    std::string value;
    if (!set_file->empty()) {
      auto text = ReadFile(*set_file);
      if (!text.ok()) {
        *exit_code = ReportError(text.status().WithContext("--file"));
        return;
      }
      value = std::move(text).value();
    } else {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      if (value.size() >= 1 && value.back() == '\n') value.pop_back();  // `echo pw |` adds one
      if (value.size() >= 1 && value.back() == '\r') value.pop_back();
    }
    auto r = ctx.Call("PUT", "/api/v1/secrets/" + net::UrlEncode(*set_name),
                      json{{"value", value}}.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("set secret %s\n", set_name->c_str());
  });

  auto* list = secret->add_subcommand("list", "List the secrets' names (never their values)");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/secrets");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-40s %-20s %s\n", "NAME", "UPDATED BY", "UPDATED");
    for (const auto& s : (*r)["secrets"]) {
      std::string by = s.value("updated_by", "");
      std::printf("%-40s %-20s %s\n", s["name"].get<std::string>().c_str(),
                  by.empty() ? "(workspace)" : by.c_str(),
                  FormatTime(s["updated_at"].get<double>()).c_str());
    }
  });

  auto* del = secret->add_subcommand("delete", "Delete a secret");
  auto del_name = std::make_shared<std::string>();
  del->add_option("name", *del_name, "Secret name")->required();
  del->callback([&ctx, del_name, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/secrets/" + net::UrlEncode(*del_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("deleted secret %s\n", del_name->c_str());
  });
}

}  // namespace ferry::cli
