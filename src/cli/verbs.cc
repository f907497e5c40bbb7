// The CLI's verb table and entry point.
#include "cli/verbs.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/context.h"
#include "common/utf8.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::cli {

void RegisterServer(CLI::App& app, Context& ctx, int* exit_code);
void RegisterRun(CLI::App& app, Context& ctx, int* exit_code);
void RegisterExperiment(CLI::App& app, Context& ctx, int* exit_code);
void RegisterCompute(CLI::App& app, Context& ctx, int* exit_code);
void RegisterFolder(CLI::App& app, Context& ctx, int* exit_code);
void RegisterEnvironment(CLI::App& app, Context& ctx, int* exit_code);
void RegisterUser(CLI::App& app, Context& ctx, int* exit_code);
void RegisterQuota(CLI::App& app, Context& ctx, int* exit_code);
void RegisterSweep(CLI::App& app, Context& ctx, int* exit_code);

namespace {

// Every verb group, in help order.
constexpr Register kVerbs[] = {RegisterRun,     RegisterSweep,  RegisterExperiment, RegisterEnvironment,
                               RegisterCompute, RegisterFolder, RegisterUser,       RegisterQuota,
                               RegisterServer};

// What a verb did not turn into a Status (above all an exception from JSON handling) ends
// here with a message, never in std::terminate. Text that is not UTF-8 cannot become JSON:
// the command-line value that holds it is named.
int ReportUncaught(const std::exception& e, int argc, char** argv) {
  const auto* j = dynamic_cast<const nlohmann::json::exception*>(&e);
  if (j && j->id == 316) {  // invalid UTF-8
    for (int i = 1; i < argc; ++i) {
      std::string why = DescribeInvalidUtf8(argv[i]);
      if (why.empty()) continue;
      const bool after_option = i > 1 && argv[i - 1][0] == '-' && std::string(argv[i - 1]) != "--";
      std::string option = after_option ? std::string(" (of ") + argv[i - 1] + ")" : "";
      std::fprintf(
          stderr,
          "ferry: command-line argument %d%s: value '%s' is not valid UTF-8 (%s); names, tags, "
          "arguments and other values sent to the server must be UTF-8\n",
          i, option.c_str(), EscapeBytes(argv[i]).c_str(), why.c_str());
      return kExitUsage;
    }
  }
  std::fprintf(stderr,
               "ferry: internal error: %s; please report it with the command that caused it\n",
               EscapeBytes(e.what()).c_str());
  return kExitFailed;
}

}  // namespace

int Main(int argc, char** argv) {
  // Started by ssh as SSH_ASKPASS (remote targets with a password or key passphrase).
  if (compute::MaybeRunAskpass()) return kExitOk;
  Context ctx;
  ctx.argv.assign(argv, argv + argc);
  int exit_code = kExitOk;
  CLI::App app{"Ferry: train machine-learning models on any compute", "ferry"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the verb: `ferry run list -o json`
  app.add_option("--home", ctx.home, "Workspace home (default: $FERRY_HOME or ~/.ferry)");
  app.add_option("-o,--output", ctx.output, "Output format of read commands")
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", "ferry 0.1.0");
  // Read by term.cc with NO_COLOR, as no-color.org asks; set before any verb runs.
  app.add_flag_callback(
      "--no-color", [] { ::setenv("NO_COLOR", "1", 1); },
      "No colour in the output (as NO_COLOR=1 does)");
  for (Register r : kVerbs) r(app, ctx, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& e) {
    return ReportUncaught(e, argc, argv);
  }
  return exit_code;
}

}  // namespace ferry::cli
