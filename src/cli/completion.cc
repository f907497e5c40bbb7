// `ferry completion bash|zsh`: shell completion scripts generated from the CLI11 command tree,
// so every sub-command and option at every level is offered and none goes stale.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/context.h"

namespace ferry::cli {

namespace {

// One node of the command tree: its path ("ferry run submit"), the sub-commands a user may
// name, its options and those of its options that take a value (their value is skipped when
// the words before the cursor are walked).
struct Node {
  std::string path;
  std::vector<std::string> commands, options, valued;
};

// Sub-commands left out of help (group "") are internal (`ferry agent`): not offered.
bool Visible(const CLI::App* app) { return !app->get_group().empty(); }

void Collect(const CLI::App* app, const std::string& path, std::vector<Node>* out) {
  Node n;
  n.path = path;
  for (const CLI::Option* opt : app->get_options()) {
    if (!opt->nonpositional()) continue;
    std::vector<std::string> names;
    for (const std::string& s : opt->get_snames()) names.push_back("-" + s);
    for (const std::string& l : opt->get_lnames()) names.push_back("--" + l);
    for (const std::string& name : names) {
      n.options.push_back(name);
      if (opt->get_expected_max() > 0) n.valued.push_back(name);  // flags expect none
    }
  }
  std::vector<const CLI::App*> subs =
      app->get_subcommands([](const CLI::App* sub) { return Visible(sub); });
  for (const CLI::App* sub : subs) n.commands.push_back(sub->get_name());
  out->push_back(n);
  for (const CLI::App* sub : subs) Collect(sub, path + " " + sub->get_name(), out);
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// The tables both scripts share: three associative arrays keyed by command path. Names and
// options are plain words ([A-Za-z0-9-]), so single quotes need no escaping.
std::string Tables(const std::vector<Node>& nodes, const char* declare) {
  std::string out;
  for (const char* table : {"_ferry_commands", "_ferry_options", "_ferry_valued"}) {
    out += std::string(declare) + " " + table + "\n" + table + "=(\n";
    for (const Node& n : nodes) {
      const std::vector<std::string>& v = std::string(table) == "_ferry_commands"  ? n.commands
                                          : std::string(table) == "_ferry_options" ? n.options
                                                                                   : n.valued;
      out += "  ['" + n.path + "']='" + Join(v) + "'\n";
    }
    out += ")\n";
  }
  return out;
}

constexpr const char* kBashFunction = R"(
# Completes ferry's sub-commands, then the options of the command named so far (the root's
# options apply at every level); after an option that takes a value, and where nothing else
# applies, file names.
_ferry() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=ferry i w skip=0
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    [[ $w == -- ]] && return 0
    if [[ $w == -* ]]; then
      [[ $w != *=* && " ${_ferry_valued[$cmd]} ${_ferry_valued[ferry]} " == *" $w "* ]] && skip=1
      continue
    fi
    [[ " ${_ferry_commands[$cmd]} " == *" $w "* ]] && cmd="$cmd $w"
  done
  ((skip)) && return 0
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${_ferry_options[$cmd]} ${_ferry_options[ferry]}" -- "$cur"))
  elif [[ -n ${_ferry_commands[$cmd]} ]]; then
    COMPREPLY=($(compgen -W "${_ferry_commands[$cmd]}" -- "$cur"))
  fi
}
complete -o default -F _ferry ferry
)";

constexpr const char* kZshFunction = R"(
# Completes ferry's sub-commands, then the options of the command named so far (the root's
# options apply at every level); after an option that takes a value, and where nothing else
# applies, file names.
_ferry() {
  local cmd=ferry i w skip=0
  for ((i = 2; i < CURRENT; i++)); do
    w=${words[i]}
    if ((skip)); then skip=0; continue; fi
    [[ $w == -- ]] && { _files; return; }
    if [[ $w == -* ]]; then
      [[ $w != *=* && " ${_ferry_valued[$cmd]} ${_ferry_valued[ferry]} " == *" $w "* ]] && skip=1
      continue
    fi
    [[ " ${_ferry_commands[$cmd]} " == *" $w "* ]] && cmd="$cmd $w"
  done
  if ((skip)); then _files; return; fi
  if [[ ${words[CURRENT]} == -* ]]; then
    compadd -- ${=_ferry_options[$cmd]} ${=_ferry_options[ferry]}
  elif [[ -n ${_ferry_commands[$cmd]} ]]; then
    compadd -- ${=_ferry_commands[$cmd]}
  else
    _files
  fi
}
# Autoloaded from a file on $fpath: this first call defines everything, then completes.
# Sourced (after compinit): registers the function.
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _ferry "$@"
elif (( $+functions[compdef] )); then
  compdef _ferry ferry
fi
)";

}  // namespace

std::string CompletionScript(const CLI::App& root, const std::string& shell) {
  std::vector<Node> nodes;
  Collect(&root, "ferry", &nodes);
  if (shell == "bash") {
    return "# bash completion for ferry (generated by 'ferry completion bash')\n" +
           Tables(nodes, "declare -gA") + kBashFunction;
  }
  return "#compdef ferry\n# zsh completion for ferry (generated by 'ferry completion zsh')\n" +
         Tables(nodes, "typeset -gA") + kZshFunction;
}

void RegisterCompletion(CLI::App& app, Context& ctx, int* exit_code) {
  (void)ctx;
  (void)exit_code;
  auto* completion = app.add_subcommand(
      "completion",
      "Print a shell completion script: source <(ferry completion bash), see docs/cli.md");
  auto shell = std::make_shared<std::string>();
  completion->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  const CLI::App* root = &app;
  completion->callback([root, shell] {
    std::string script = CompletionScript(*root, *shell);
    std::fwrite(script.data(), 1, script.size(), stdout);
  });
}

}  // namespace ferry::cli
