// The CLI's verb table and entry point.
#include "cli/verbs.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/context.h"
#include "cli/term.h"
#include "common/utf8.h"
#include "common/version.h"
#include "compute/ssh/ssh_client.h"

namespace ferry::cli {

void RegisterServer(CLI::App& app, Context& ctx, int* exit_code);
void RegisterRun(CLI::App& app, Context& ctx, int* exit_code);
void RegisterExperiment(CLI::App& app, Context& ctx, int* exit_code);
void RegisterCompute(CLI::App& app, Context& ctx, int* exit_code);
void RegisterComputeTarget(CLI::App& app, Context& ctx, int* exit_code);  // verb_computetarget.cc
void RegisterFolder(CLI::App& app, Context& ctx, int* exit_code);
void RegisterEnvironment(CLI::App& app, Context& ctx, int* exit_code);
void RegisterDatastore(CLI::App& app, Context& ctx, int* exit_code);
void RegisterDataset(CLI::App& app, Context& ctx, int* exit_code);
void RegisterSecret(CLI::App& app, Context& ctx, int* exit_code);  // verb_secret.cc
void RegisterModel(CLI::App& app, Context& ctx, int* exit_code);
void RegisterUser(CLI::App& app, Context& ctx, int* exit_code);
void RegisterQuota(CLI::App& app, Context& ctx, int* exit_code);
void RegisterSweep(CLI::App& app, Context& ctx, int* exit_code);
void RegisterPipeline(CLI::App& app, Context& ctx, int* exit_code);    // verb_pipeline.cc
void RegisterCompletion(CLI::App& app, Context& ctx, int* exit_code);  // completion.cc

namespace {

// Every verb group, in help order.
constexpr Register kVerbs[] = {
    RegisterRun,         RegisterSweep,     RegisterPipeline,      RegisterExperiment,
    RegisterEnvironment, RegisterDatastore, RegisterDataset,       RegisterSecret,
    RegisterModel,       RegisterCompute,   RegisterComputeTarget, RegisterFolder,
    RegisterUser,        RegisterQuota,     RegisterServer,        RegisterCompletion};

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

// Edit distance with adjacent transpositions counting one ("rnu" -> "run": 1), ignoring case.
size_t EditDistance(const std::string& a, const std::string& b) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The sibling a mistyped command most likely meant: the only one it is a prefix of, else the
// nearest by edit distance when that is close (1 for words of up to 4 letters, else 2); ""
// when none is.
std::string NearestCommand(const std::string& word, const std::vector<std::string>& names) {
  std::string prefixed;
  int prefix_count = 0;
  for (const std::string& n : names) {
    if (n.rfind(word, 0) == 0) {
      prefixed = n;
      ++prefix_count;
    }
  }
  if (prefix_count == 1) return prefixed;
  const size_t limit = word.size() <= 4 ? 1 : 2;
  std::string best;
  size_t best_d = limit + 1;
  for (const std::string& n : names) {
    size_t d = EditDistance(word, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

// The command-line path of a (sub)command: "ferry run".
std::string CommandPath(const CLI::App* app) {
  std::string path = app->get_name();
  for (const CLI::App* p = app->get_parent(); p; p = p->get_parent())
    path.insert(0, p->get_name() + " ");
  return path;
}

// A parse error of a command that needs a sub-command and got none or one it does not have:
// "ferry: error: unknown command 'lst'; did you mean 'list'?" or the list of those it has.
// Returns false (nothing printed) for every other error.
bool ReportCommandError(const CLI::App& app) {
  const CLI::App* node = &app;
  while (!node->get_subcommands().empty()) node = node->get_subcommands().front();
  if (node->get_require_subcommand_min() == 0) return false;
  std::vector<std::string> names;
  for (const CLI::App* sub :
       node->get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    names.push_back(sub->get_name());
  }
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  std::string word;
  for (const std::string& w : app.remaining(true)) {
    if (!w.empty() && w[0] != '-') {
      word = w;
      break;
    }
  }
  const std::string path = CommandPath(node);
  const std::string prefix = "ferry: " + Styled(Stream::kStderr, Style::kBoldRed, "error:") + " ";
  if (word.empty()) {
    std::fprintf(stderr, "%s'%s' needs a command: %s\nRun '%s --help' for more information.\n",
                 prefix.c_str(), path.c_str(), list.c_str(), path.c_str());
    return true;
  }
  std::string nearest = NearestCommand(word, names);
  std::string where = node == &app ? "" : " for '" + path + "'";
  if (!nearest.empty()) {
    std::fprintf(stderr, "%sunknown command '%s'%s; did you mean '%s'?\n", prefix.c_str(),
                 EscapeBytes(word).c_str(), where.c_str(), nearest.c_str());
  } else {
    std::fprintf(stderr, "%sunknown command '%s'%s; the commands are: %s\n", prefix.c_str(),
                 EscapeBytes(word).c_str(), where.c_str(), list.c_str());
  }
  std::fprintf(stderr, "Run '%s --help' for more information.\n", path.c_str());
  return true;
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
  app.set_version_flag("--version", "ferry " + std::string(Version()));
  // Read by term.cc with NO_COLOR, as no-color.org asks; set before any verb runs.
  app.add_flag_callback(
      "--no-color", [] { ::setenv("NO_COLOR", "1", 1); },
      "No colour in the output (as NO_COLOR=1 does)");
  for (Register r : kVerbs) r(app, ctx, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0 && ReportCommandError(app)) return kExitUsage;
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& e) {
    return ReportUncaught(e, argc, argv);
  }
  return exit_code;
}

}  // namespace ferry::cli
