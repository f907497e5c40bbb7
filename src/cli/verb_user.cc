// `ferry user add|list|set-role|remove`: named users and their roles.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "common/fs.h"
#include "net/http.h"

namespace ferry::cli {

using nlohmann::json;

void RegisterUser(CLI::App& app, Context& ctx, int* exit_code) {
  auto* user = app.add_subcommand(
      "user", "Named users of the workspace, each with a role and a token (docs/security.md)");
  user->require_subcommand(1);
  auto* add = user->add_subcommand(
      "add", "Create a user; prints its token once (give it to them as FERRY_TOKEN)");
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("contributor");
  add->add_option("name", *name, "User name")->required();
  add->add_option("--role", *role, "reader, contributor (default) or admin")
      ->check(CLI::IsMember({"reader", "contributor", "admin"}));
  add->callback([&ctx, name, role, exit_code] {
    auto r = ctx.Call("POST", "/api/v1/users", json{{"name", *name}, {"role", *role}}.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%s\n", (*r)["token"].get<std::string>().c_str());
    std::fprintf(
        stderr,
        "created user %s (%s); the token above is shown only now: they use it as FERRY_TOKEN\n",
        name->c_str(), role->c_str());
  });
  auto* set_role = user->add_subcommand("set-role", "Change a user's role");
  auto set_name = std::make_shared<std::string>();
  auto new_role = std::make_shared<std::string>();
  set_role->add_option("name", *set_name, "User name")->required();
  set_role->add_option("role", *new_role, "reader, contributor or admin")
      ->required()
      ->check(CLI::IsMember({"reader", "contributor", "admin"}));
  set_role->callback([&ctx, set_name, new_role, exit_code] {
    auto r = ctx.Call("PATCH", "/api/v1/users/" + net::UrlEncode(*set_name),
                      json{{"role", *new_role}}.dump());
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%s is now %s\n", set_name->c_str(), new_role->c_str());
  });
  auto* remove = user->add_subcommand("remove", "Delete a user; their token stops working at once");
  auto rm_name = std::make_shared<std::string>();
  remove->add_option("name", *rm_name, "User name")->required();
  remove->callback([&ctx, rm_name, exit_code] {
    auto r = ctx.Call("DELETE", "/api/v1/users/" + net::UrlEncode(*rm_name));
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("removed user %s\n", rm_name->c_str());
  });
  auto* list = user->add_subcommand("list", "List users and their roles");
  list->callback([&ctx, exit_code] {
    auto r = ctx.Call("GET", "/api/v1/users");
    if (!r.ok()) {
      *exit_code = ReportError(r.status());
      return;
    }
    if (ctx.json_output()) return PrintJson(*r);
    std::printf("%-32s %-12s %s\n", "NAME", "ROLE", "CREATED");
    for (auto& u : (*r)["users"]) {
      std::printf("%-32s %-12s %s\n", u["name"].get<std::string>().c_str(),
                  u.value("role", "").c_str(), FormatTime(u["created_at"].get<double>()).c_str());
    }
  });
}

}  // namespace ferry::cli
