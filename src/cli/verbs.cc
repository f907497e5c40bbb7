// The CLI's verb table and entry point.
#include "cli/verbs.h"

#include <CLI/CLI.hpp>

#include "cli/context.h"
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
  for (Register r : kVerbs) r(app, ctx, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}

}  // namespace ferry::cli
