// Tests of the pipeline definition: CLI v1's YAML, the JSON form, Validate's checks and
// graph, parameter binding and reuse keys.
#include <gtest/gtest.h>

#include <set>

#include "pipeline/spec.h"

namespace ferry::pipeline {
namespace {

using nlohmann::json;

// A three-step pipeline in CLI v1's shape: prepare -> fit -> score (ParallelRunStep).
// Line numbers matter: tests check them.
constexpr const char* kPipeline = R"(pipeline:
  name: churn
  description: Prepare, fit and score the churn model
  continue_on_step_failure: true
  parameters:
    epochs:
      type: int
      default: 12
    raw_path:
      type: datapath
      default:
        datastore: workspaceblobstore
        path_on_datastore: churn/raw.csv
    rate:
      type: float
      default: 0.25
  data_references:
    lookup:
      datastore: workspaceblobstore
      path_on_datastore: tables/lookup
      bind_mode: download
    customers:
      dataset_name: customers_v
      version: 3
  default_compute: cpu-pool
  steps:
    prepare:
      type: PythonScriptStep
      name: "Prepare the data"
      runconfig: conf/prep.runconfig
      source_directory: src
      script_name: prep.py
      arguments:
      - --raw
      - input:raw
      - --train
      - output:train_set
      - 7
      allow_reuse: True
      inputs:
        raw:
          source: raw_path
        table:
          source: lookup
          bind_mode: download
      outputs:
        train_set:
          destination: churn_train
          datastore: workspaceblobstore
          bind_mode: mount
        report:
    fit:
      compute: gpu-pool
      script_name: fit.py
      arguments: [--data, "input:train", --epochs, "parameter:epochs", --rate, "parameter:lr"]
      parameters:
        epochs:
          source: epochs
        lr: 0.5
        mode: fast
        quoted: "12"
      inputs:
        train:
          source: churn_train
          bind_mode: download
      outputs:
        model:
          destination: churn_model
      allow_reuse: false
      run_after: [prepare]
    score:
      type: ParallelRunStep
      parallel_run_config: conf/parallel.yml
      script_name: score.py
      arguments:
      - side_input:model
      inputs:
        people:
          source: customers
      side_inputs:
        model:
          source: churn_model
          bind_mode: mount
      outputs:
        scores:
          destination: churn_scores
)";

PipelineSpec MustParse(const std::string& text, const std::string& file = "p.yml") {
  auto r = ParsePipelineYaml(text, file);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : PipelineSpec{};
}

// The error message of parsing `text`, or "" when it parsed.
std::string ParseError(const std::string& text) {
  auto r = ParsePipelineYaml(text, "p.yml");
  return r.ok() ? "" : r.status().message();
}

// The error message of parsing and validating `text`, or "" when both passed.
std::string ValidateError(const std::string& text) {
  auto r = ParsePipelineYaml(text, "p.yml");
  if (!r.ok()) return "parse: " + r.status().message();
  auto g = Validate(*r);
  return g.ok() ? "" : g.status().message();
}

// kPipeline with `from` replaced by `to` (which must occur).
std::string Edit(const std::string& from, const std::string& to) {
  std::string s = kPipeline;
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// The line of kPipeline where `text` first occurs (1-based).
int LineOf(const std::string& text) {
  const std::string s = kPipeline;
  const size_t at = s.find(text);
  EXPECT_NE(at, std::string::npos) << text;
  int line = 1;
  for (size_t i = 0; i < at && i < s.size(); ++i) line += s[i] == '\n';
  return line;
}

std::string At(int line) { return "p.yml:" + std::to_string(line) + ": "; }

TEST(ParsePipelineYaml, ReadsCliV1Pipeline) {
  const PipelineSpec p = MustParse(kPipeline);
  EXPECT_EQ(p.name, "churn");
  EXPECT_EQ(p.description, "Prepare, fit and score the churn model");
  EXPECT_TRUE(p.continue_on_step_failure);
  EXPECT_EQ(p.default_compute, "cpu-pool");
  EXPECT_EQ(p.file, "p.yml");

  ASSERT_EQ(p.parameters.size(), 3u);
  EXPECT_EQ(p.parameters[0].name, "epochs");
  EXPECT_EQ(p.parameters[0].type, ParamType::kInt);
  EXPECT_EQ(p.parameters[0].default_value, json(12));
  EXPECT_EQ(p.parameters[0].line, LineOf("    epochs:"));
  EXPECT_EQ(p.parameters[1].type, ParamType::kDataPath);
  EXPECT_EQ(p.parameters[1].default_value,
            (json{{"datastore", "workspaceblobstore"}, {"path", "churn/raw.csv"}}));
  EXPECT_EQ(p.parameters[2].type, ParamType::kFloat);
  EXPECT_EQ(p.parameters[2].default_value, json(0.25));

  ASSERT_EQ(p.data_references.size(), 2u);
  EXPECT_EQ(p.data_references[0].name, "lookup");
  EXPECT_EQ(p.data_references[0].datastore, "workspaceblobstore");
  EXPECT_EQ(p.data_references[0].path, "tables/lookup");
  EXPECT_EQ(p.data_references[0].bind_mode, "download");
  EXPECT_EQ(p.data_references[0].line, LineOf("    lookup:"));
  EXPECT_EQ(p.data_references[1].dataset_name, "customers_v");
  EXPECT_EQ(p.data_references[1].dataset_version, 3);
  EXPECT_EQ(p.data_references[1].bind_mode, "mount");

  ASSERT_EQ(p.steps.size(), 3u);
  const Step& prep = p.steps[0];
  EXPECT_EQ(prep.name, "prepare");
  EXPECT_EQ(prep.line, LineOf("    prepare:"));
  EXPECT_EQ(prep.type, "PythonScriptStep");
  EXPECT_EQ(prep.runconfig, "conf/prep.runconfig");
  EXPECT_EQ(prep.source_directory, "src");
  EXPECT_EQ(prep.script_name, "prep.py");
  EXPECT_EQ(prep.compute, "");
  EXPECT_TRUE(prep.allow_reuse);
  ASSERT_EQ(prep.arguments.size(), 5u);
  EXPECT_EQ(prep.arguments[0].kind, Argument::Kind::kLiteral);
  EXPECT_EQ(prep.arguments[0].text, "--raw");
  EXPECT_EQ(prep.arguments[1].kind, Argument::Kind::kInput);
  EXPECT_EQ(prep.arguments[1].text, "raw");
  EXPECT_EQ(prep.arguments[1].line, LineOf("      - input:raw"));
  EXPECT_EQ(prep.arguments[3].kind, Argument::Kind::kOutput);
  EXPECT_EQ(prep.arguments[3].text, "train_set");
  EXPECT_EQ(prep.arguments[4].kind, Argument::Kind::kLiteral);
  EXPECT_EQ(prep.arguments[4].text, "7");
  ASSERT_EQ(prep.inputs.size(), 2u);
  EXPECT_EQ(prep.inputs[0].name, "raw");
  EXPECT_EQ(prep.inputs[0].source, "raw_path");
  EXPECT_EQ(prep.inputs[0].bind_mode, "mount");
  EXPECT_EQ(prep.inputs[1].bind_mode, "download");
  EXPECT_EQ(prep.inputs[1].line, LineOf("        table:"));
  ASSERT_EQ(prep.outputs.size(), 2u);
  EXPECT_EQ(prep.outputs[0].destination, "churn_train");
  EXPECT_EQ(prep.outputs[0].datastore, "workspaceblobstore");
  EXPECT_EQ(prep.outputs[1].name, "report");  // no fields: all defaults
  EXPECT_EQ(prep.outputs[1].destination, "");
  EXPECT_EQ(prep.key_lines.at("arguments"), LineOf("      arguments:"));

  const Step& fit = p.steps[1];
  EXPECT_EQ(fit.type, "PythonScriptStep");  // the default kind
  EXPECT_EQ(fit.compute, "gpu-pool");
  EXPECT_FALSE(fit.allow_reuse);
  EXPECT_EQ(fit.run_after, std::vector<std::string>{"prepare"});
  ASSERT_EQ(fit.arguments.size(), 6u);
  EXPECT_EQ(fit.arguments[3].kind, Argument::Kind::kParameter);
  EXPECT_EQ(fit.arguments[3].text, "epochs");
  ASSERT_EQ(fit.parameters.size(), 4u);
  EXPECT_EQ(fit.parameters[0].source, "epochs");
  EXPECT_TRUE(fit.parameters[0].value.is_null());
  EXPECT_EQ(fit.parameters[1].value, json(0.5));
  EXPECT_EQ(fit.parameters[2].value, json("fast"));
  EXPECT_EQ(fit.parameters[3].value, json("12"));  // quoted: a string

  const Step& score = p.steps[2];
  EXPECT_EQ(score.type, "ParallelRunStep");
  EXPECT_EQ(score.parallel_run_config, (json{{"file", "conf/parallel.yml"}}));
  ASSERT_EQ(score.inputs.size(), 2u);
  EXPECT_FALSE(score.inputs[0].side);
  EXPECT_TRUE(score.inputs[1].side);
  EXPECT_EQ(score.inputs[1].name, "model");
  EXPECT_EQ(score.inputs[1].source, "churn_model");
  EXPECT_EQ(score.arguments[0].kind, Argument::Kind::kSideInput);
}

TEST(Validate, GraphOfTheExample) {
  auto g = Validate(MustParse(kPipeline));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->order, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(g->depends[0], std::vector<size_t>{});
  EXPECT_EQ(g->depends[1], std::vector<size_t>{0});  // data and run_after: once
  EXPECT_EQ(g->depends[2], std::vector<size_t>{1});
  EXPECT_EQ(g->producer,
            (std::map<std::string, size_t>{
                {"churn_train", 0}, {"report", 0}, {"churn_model", 1}, {"churn_scores", 2}}));
}

TEST(Validate, OrderIsStableAndPutsProducersFirst) {
  // Written: c (reads b's), a, b. Ready at first: a, b (written order among ties).
  const std::string text = R"(pipeline:
  steps:
    c:
      command: cat x
      type: CommandStep
      inputs:
        x: {source: bdata}
    a:
      command: echo a
      type: CommandStep
    b:
      command: echo b
      type: CommandStep
      outputs:
        bdata:
    d:
      command: echo d
      type: CommandStep
      run_after: [c, a]
)";
  auto g = Validate(MustParse(text));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->order, (std::vector<size_t>{1, 2, 0, 3}));
  EXPECT_EQ(g->depends[3], (std::vector<size_t>{0, 1}));
}

TEST(ParsePipelineYaml, UnknownKeysNameFileLineAndTheAllowedKeys) {
  std::string e = ParseError(Edit("      script_name: fit.py", "      scirpt_name: fit.py"));
  EXPECT_EQ(e.rfind(At(LineOf("      script_name: fit.py")) +
                        "step 'fit': key 'scirpt_name': unknown key; the keys allowed here are: "
                        "type, name, compute, runconfig, source_directory, script_name,",
                    0),
            0u)
      << e;

  e = ParseError(Edit("  default_compute: cpu-pool", "  default_target: cpu-pool"));
  EXPECT_EQ(
      e.rfind(At(LineOf("  default_compute")) + "key 'pipeline.default_target': unknown key", 0),
      0u)
      << e;
  EXPECT_NE(e.find("name, description, parameters, data_references"), std::string::npos) << e;

  e = ParseError(Edit("          bind_mode: download\n      outputs",
                      "          mode: download\n      outputs"));
  EXPECT_NE(e.find("step 'prepare': key 'inputs.table.mode': unknown key; the keys allowed here "
                   "are: source, bind_mode"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.rfind(At(LineOf("          bind_mode: download\n      outputs")), 0), 0u) << e;

  e = ParseError(Edit("      type: int\n      default: 12", "      kind: int\n      default: 12"));
  EXPECT_EQ(e, At(LineOf("      type: int")) +
                   "key 'parameters.epochs.kind': unknown key; the keys allowed here are: type, "
                   "default");

  e = ParseError(Edit("pipeline:", "version: 1\npipeline:"));
  EXPECT_EQ(e, "p.yml:1: key 'version': unknown key; the keys allowed here are: pipeline");
}

TEST(ParsePipelineYaml, AcceptsAzureKeysFerryDoesNotUse) {
  // `name` (the display name) and `allow_reuse` are in the example; a refused kind's keys are
  // not reached (see RefusesKindsWithoutAnEngine).
  const PipelineSpec p = MustParse(kPipeline);
  EXPECT_EQ(p.steps[0].name, "prepare");
}

TEST(ParsePipelineYaml, RefusesKindsWithoutAnEngine) {
  for (const char* kind :
       {"AdlaStep", "DatabricksStep", "AzureBatchStep", "DataTransferStep", "KustoStep"}) {
    const std::string text = std::string(R"(pipeline:
  steps:
    batch:
      pool_id: my-pool
      create_pool: true
      type: )") + kind + "\n";
    EXPECT_EQ(ParseError(text),
              std::string("p.yml:6: step 'batch': key 'type': Ferry has no engine "
                          "for ") +
                  kind +
                  " steps yet (they come with Spark and batch support); run "
                  "the work as a PythonScriptStep or CommandStep");
    // The JSON form gets the same answer from Validate.
    auto spec =
        PipelineFromJson({{"steps", {{{"name", "batch"}, {"type", kind}, {"command", "x"}}}}});
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto g = Validate(*spec);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("step 'batch': key 'type': Ferry has no engine for"),
              std::string::npos)
        << g.status().message();
  }
}

TEST(ParsePipelineYaml, UnknownKindListsTheKnownOnes) {
  EXPECT_EQ(ParseError(Edit("      type: ParallelRunStep", "      type: AutoMLStep")),
            At(LineOf("      type: ParallelRunStep")) +
                "step 'score': key 'type': unknown step type 'AutoMLStep'; use one of: "
                "PythonScriptStep, CommandStep, ParallelRunStep, HyperDriveStep");
}

TEST(ParsePipelineYaml, StructureErrors) {
  EXPECT_EQ(ParseError("name: x\n"),
            "p.yml:1: expected a top-level 'pipeline:' mapping (name, parameters, "
            "data_references, default_compute, steps)");
  EXPECT_EQ(ParseError(""),
            "p.yml: expected a top-level 'pipeline:' mapping (name, parameters, "
            "data_references, default_compute, steps)");
  EXPECT_EQ(ParseError("pipeline:\n  name: x\n"),
            "p.yml:2: key 'steps': the pipeline has no steps; add at least one under 'steps:'");
  EXPECT_EQ(ParseError("pipeline:\n  steps: [a, b]\n"),
            "p.yml:2: key 'steps': expected a mapping of step names to steps");
  // Not YAML at all.
  std::string e = ParseError("pipeline:\n  steps: {a: [\n");
  EXPECT_EQ(e.rfind("p.yml:", 0), 0u) << e;
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
  // A key twice.
  e = ParseError(
      Edit("      script_name: prep.py", "      script_name: prep.py\n      script_name: b.py"));
  EXPECT_EQ(e, At(LineOf("      script_name: prep.py") + 1) +
                   "step 'prepare': key 'script_name': appears twice (also on line " +
                   std::to_string(LineOf("      script_name: prep.py")) + "); keep one");
  // A step twice.
  e = ParseError(Edit("    score:", "    fit:"));
  EXPECT_NE(e.find("key 'steps.fit': appears twice"), std::string::npos) << e;
  // Wrong value types.
  EXPECT_EQ(ParseError(Edit("      allow_reuse: false", "      allow_reuse: maybe")),
            At(LineOf("      allow_reuse: false")) +
                "step 'fit': key 'allow_reuse': expected true or false, got 'maybe'");
  EXPECT_EQ(ParseError(Edit("      run_after: [prepare]", "      run_after: {a: 1}")),
            At(LineOf("      run_after: [prepare]")) +
                "step 'fit': key 'run_after': expected a list of step names");
  EXPECT_EQ(ParseError(Edit("      - --raw", "      - [--raw]")),
            At(LineOf("      - --raw")) +
                "step 'prepare': key 'arguments[0]': expected a string or a number");
  EXPECT_EQ(ParseError(Edit("      - --raw", "      - 'output:'")),
            At(LineOf("      - --raw")) +
                "step 'prepare': key 'arguments[0]': 'output:' names nothing; write output:NAME");
  EXPECT_EQ(ParseError(Edit("          source: epochs", "          from: epochs")),
            At(LineOf("          source: epochs")) +
                "step 'fit': key 'parameters.epochs.from': unknown key; the keys allowed here "
                "are: source");
}

TEST(ParsePipelineYaml, ParameterDefaultsAreReadAsTheirType) {
  EXPECT_EQ(ParseError(Edit("      default: 12", "      default: twelve")),
            At(LineOf("      default: 12")) +
                "key 'parameters.epochs.default': expected an integer for an int parameter, got "
                "'twelve'");
  EXPECT_EQ(ParseError(Edit("      default: 0.25", "      default: fast")),
            At(LineOf("      default: 0.25")) +
                "key 'parameters.rate.default': expected a number for a float parameter, got "
                "'fast'");
  EXPECT_EQ(ParseError(Edit("      type: int\n      default: 12",
                            "      type: integer\n      default: 12")),
            At(LineOf("      type: int")) +
                "key 'parameters.epochs.type': 'integer' is not a parameter type; use string, "
                "int, float, bool or datapath");
  EXPECT_NE(ParseError(Edit("        path_on_datastore: churn/raw.csv", "        path: x"))
                .find("key 'parameters.raw_path.default.path': unknown key; the keys allowed "
                      "here are: datastore, path_on_datastore"),
            std::string::npos);
  const std::string text = R"(pipeline:
  parameters:
    s: {type: string, default: 3}
    b: {type: bool, default: True}
    inferred_int: {default: 4}
    inferred_float: {default: 4.5}
    inferred_bool: {default: false}
    inferred_string: {default: abc}
    inferred_path: {default: {datastore: d, path_on_datastore: p}}
    none: {type: int}
  steps:
    a: {type: CommandStep, command: "true"}
)";
  const PipelineSpec p = MustParse(text);
  ASSERT_EQ(p.parameters.size(), 8u);
  EXPECT_EQ(p.parameters[0].default_value, json("3"));
  EXPECT_EQ(p.parameters[1].default_value, json(true));
  EXPECT_EQ(p.parameters[2].type, ParamType::kInt);
  EXPECT_EQ(p.parameters[3].type, ParamType::kFloat);
  EXPECT_EQ(p.parameters[4].type, ParamType::kBool);
  EXPECT_EQ(p.parameters[5].type, ParamType::kString);
  EXPECT_EQ(p.parameters[6].type, ParamType::kDataPath);
  EXPECT_EQ(p.parameters[6].default_value, (json{{"datastore", "d"}, {"path", "p"}}));
  EXPECT_TRUE(p.parameters[7].default_value.is_null());
  EXPECT_TRUE(Validate(p).ok()) << Validate(p).status().ToString();
}

TEST(ParsePipelineYaml, InlineParallelRunConfigAndHyperdrive) {
  const std::string text = R"(pipeline:
  steps:
    score:
      type: ParallelRunStep
      script_name: s.py
      parallel_run_config: {mini_batch_size: "10", node_count: 2, error_threshold: -1}
    sweep:
      type: HyperDriveStep
      hyperdrive:
        sampling: {method: random}
        max_total_runs: 8
)";
  const PipelineSpec p = MustParse(text);
  EXPECT_EQ(p.steps[0].parallel_run_config,
            (json{{"mini_batch_size", "10"}, {"node_count", 2}, {"error_threshold", -1}}));
  EXPECT_EQ(p.steps[1].hyperdrive,
            (json{{"sampling", {{"method", "random"}}}, {"max_total_runs", 8}}));
  EXPECT_TRUE(Validate(p).ok()) << Validate(p).status().ToString();
}

TEST(Validate, StepNames) {
  EXPECT_EQ(ValidateError(Edit("    fit:", "    fit now:")),
            At(LineOf("    fit:")) +
                "step 'fit now': not a valid step name: use 1-128 letters, digits, '_', '.' or "
                "'-' (not '.' or '..')");
  const std::string long_name(129, 'a');
  EXPECT_NE(ValidateError(Edit("    fit:", "    " + long_name + ":")).find("not a valid step name"),
            std::string::npos);
  EXPECT_EQ(ValidateError(Edit("    fit:", "    " + std::string(128, 'a') + ":")), "");
  // Twice (possible in JSON only: YAML keys are unique).
  auto spec = PipelineFromJson({{"steps",
                                 {{{"name", "a"}, {"type", "CommandStep"}, {"command", "x"}},
                                  {{"name", "a"}, {"type", "CommandStep"}, {"command", "y"}}}}});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(Validate(*spec).status().message(), "step 'a': two steps have this name; rename one");
}

TEST(Validate, NamesOfInputsOutputsAndParameters) {
  EXPECT_EQ(
      ValidateError(Edit("          destination: churn_model", "          destination: ../m")),
      At(LineOf("        model:")) +
          "step 'fit': key 'outputs.model.destination': '../m' is not a valid name: use "
          "1-128 letters, digits, '_', '.' or '-' (not '.' or '..')");
  // A step's own input and output names become environment variables of its run.
  EXPECT_EQ(ValidateError(Edit("        people:", "        'peo ple':")),
            At(LineOf("        people:")) +
                "step 'score': key 'inputs.peo ple': not a valid name: use 1 to 128 of A-Z, a-z, "
                "0-9 and '_', not starting with a digit (it becomes an environment variable's "
                "name)");
  EXPECT_NE(ValidateError(Edit("        people:", "        people.v2:")).find("not a valid name"),
            std::string::npos);
  EXPECT_EQ(ValidateError(Edit("        people:", "        model:")),
            At(LineOf("        model:\n          source: churn_model")) +
                "step 'score': key 'side_inputs.model': two inputs of the step have this name; "
                "rename one");
  EXPECT_EQ(ValidateError(Edit("    rate:", "    'ra/te':")),
            At(LineOf("    rate:")) +
                "key 'parameters.ra/te': 'ra/te' is not a valid name: use 1-128 letters, digits, "
                "'_', '.' or '-' (not '.' or '..')");
}

TEST(ParsePipelineYaml, RefusesTextThatIsNotUtf8) {
  EXPECT_EQ(ParseError("pipeline:\n  name: \xff\n"),
            "p.yml:2: not UTF-8 text (byte 0xff at offset 18); save the file as UTF-8");
}

TEST(Validate, ProgramOfEachKind) {
  EXPECT_EQ(ValidateError(Edit("      script_name: fit.py\n", "")),
            At(LineOf("    fit:")) +
                "step 'fit': key 'script_name': required for a PythonScriptStep: the script to "
                "run");
  EXPECT_EQ(ValidateError(
                Edit("      script_name: fit.py", "      script_name: fit.py\n      command: ls")),
            At(LineOf("      script_name: fit.py") + 1) +
                "step 'fit': key 'command': only a CommandStep has a command; this is a "
                "PythonScriptStep");
  EXPECT_EQ(ValidateError(Edit("      script_name: fit.py", "      type: CommandStep")),
            At(LineOf("    fit:")) +
                "step 'fit': key 'command': required for a CommandStep: the command line to run");
  EXPECT_EQ(ValidateError(Edit("      script_name: fit.py", "      script_name: ../fit.py")),
            At(LineOf("      script_name: fit.py")) +
                "step 'fit': key 'script_name': '../fit.py' must be a path inside the source "
                "directory");
  EXPECT_EQ(ValidateError(Edit("      parallel_run_config: conf/parallel.yml\n", "")),
            At(LineOf("    score:")) +
                "step 'score': key 'parallel_run_config': required for a ParallelRunStep: a file "
                "path or the fields");
  EXPECT_NE(ValidateError(Edit("      type: ParallelRunStep", "      type: PythonScriptStep"))
                .find("step 'score': key 'parallel_run_config': only a ParallelRunStep has one"),
            std::string::npos);
  EXPECT_NE(ValidateError(Edit("    fit:\n", "    fit:\n      type: HyperDriveStep\n"))
                .find("step 'fit': key 'hyperdrive': required for a HyperDriveStep"),
            std::string::npos);
}

TEST(Validate, InputSources) {
  EXPECT_EQ(ValidateError(Edit("          source: churn_train", "          source: churn_tran")),
            At(LineOf("        train:")) +
                "step 'fit': key 'inputs.train.source': 'churn_tran' is not a data reference, a "
                "datapath parameter or any step's output destination");
  EXPECT_EQ(ValidateError(Edit("          source: churn_train", "          source: churn_model")),
            At(LineOf("        train:")) +
                "step 'fit': key 'inputs.train.source': 'churn_model' is this step's own output; "
                "a step cannot read what it writes");
  EXPECT_EQ(ValidateError(Edit("          source: raw_path", "          source: epochs")),
            At(LineOf("        raw:")) +
                "step 'prepare': key 'inputs.raw.source': parameter 'epochs' is a int; an input's "
                "source must be a datapath parameter, a data reference or an output destination");
  EXPECT_EQ(ValidateError(Edit("          source: churn_model", "          source: nowhere")),
            At(LineOf("        model:\n          source: churn_model")) +
                "step 'score': key 'side_inputs.model.source': 'nowhere' is not a data "
                "reference, a datapath parameter or any step's output destination");
  EXPECT_EQ(ValidateError(Edit("          source: raw_path", "          source: ''")),
            At(LineOf("        raw:")) +
                "step 'prepare': key 'inputs.raw.source': required: a data reference, a datapath "
                "parameter or another step's output destination");
}

TEST(Validate, OutputDestinationsArePipelineWide) {
  EXPECT_EQ(ValidateError(
                Edit("          destination: churn_model", "          destination: churn_train")),
            At(LineOf("        model:")) +
                "step 'fit': key 'outputs.model.destination': 'churn_train' is also the "
                "destination of step 'prepare' output 'train_set'; destinations are "
                "pipeline-wide, so give each output its own");
  // An output without a destination uses its name, which counts too.
  EXPECT_NE(
      ValidateError(Edit("          destination: churn_model", "          destination: report"))
          .find("'report' is also the destination of step 'prepare' output 'report'"),
      std::string::npos);
  EXPECT_EQ(
      ValidateError(Edit("          destination: churn_model", "          destination: lookup")),
      At(LineOf("        model:")) +
          "step 'fit': key 'outputs.model.destination': 'lookup' is also the name of a data "
          "reference, so inputs naming it are ambiguous; rename one");
}

TEST(Validate, Placeholders) {
  EXPECT_EQ(ValidateError(Edit("      - input:raw", "      - input:rwa")),
            At(LineOf("      - input:raw")) +
                "step 'prepare': key 'arguments[1]': input:rwa names no input of the step; "
                "declare it under inputs");
  EXPECT_EQ(ValidateError(Edit("      - output:train_set", "      - output:train")),
            At(LineOf("      - output:train_set")) +
                "step 'prepare': key 'arguments[3]': output:train names no output of the step; "
                "declare it under outputs");
  EXPECT_EQ(ValidateError(Edit("\"parameter:lr\"", "\"parameter:rate\"")),
            At(LineOf("\"parameter:lr\"")) +
                "step 'fit': key 'arguments[5]': parameter:rate names no parameter of the step; "
                "declare it under the step's parameters (a pipeline parameter is reached by "
                "{source: NAME})");
  EXPECT_EQ(ValidateError(Edit("      - side_input:model", "      - input:model")),
            At(LineOf("      - side_input:model")) +
                "step 'score': key 'arguments[0]': input:model names no input of the step (it is "
                "a side input: write side_input:model)");
  EXPECT_EQ(ValidateError(Edit("      - side_input:model", "      - side_input:people")),
            At(LineOf("      - side_input:model")) +
                "step 'score': key 'arguments[0]': side_input:people names no side input of the "
                "step (it is an input: write input:people)");
}

TEST(Validate, StepParameterSources) {
  EXPECT_EQ(ValidateError(Edit("          source: epochs", "          source: epoch")),
            At(LineOf("        epochs:\n          source")) +
                "step 'fit': key 'parameters.epochs.source': 'epoch' is not a pipeline parameter; "
                "the pipeline declares: epochs, rate, raw_path");
  EXPECT_EQ(ValidateError(Edit("        lr: 0.5", "        lr:")),
            At(LineOf("        lr: 0.5")) +
                "step 'fit': key 'parameters.lr': give a value, or {source: NAME} to take a "
                "pipeline parameter's");
}

TEST(Validate, ParameterDefaultsMatchTheirTypes) {
  const std::vector<std::pair<std::string, json>> bad = {
      {"int", "x"},
      {"int", 1.5},
      {"float", "1"},
      {"bool", 1},
      {"string", 3},
      {"datapath", "d/p"},
      {"datapath", {{"datastore", "d"}}},
  };
  for (const auto& [type, value] : bad) {
    auto spec =
        PipelineFromJson({{"parameters", {{{"name", "p"}, {"type", type}, {"default", value}}}},
                          {"steps", {{{"name", "a"}, {"type", "CommandStep"}, {"command", "x"}}}}});
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto g = Validate(*spec);
    ASSERT_FALSE(g.ok()) << type << " " << value;
    EXPECT_EQ(
        g.status().message().rfind(
            "key 'parameters.p.default': the default of a " + type + " parameter: expected", 0),
        0u)
        << g.status().message();
  }
  const std::vector<std::pair<std::string, json>> good = {
      {"int", 3},       {"float", 1},   {"float", 1.5},
      {"bool", false},  {"string", ""}, {"datapath", {{"datastore", "d"}, {"path", "p"}}},
      {"int", nullptr},
  };
  for (const auto& [type, value] : good) {
    auto spec =
        PipelineFromJson({{"parameters", {{{"name", "p"}, {"type", type}, {"default", value}}}},
                          {"steps", {{{"name", "a"}, {"type", "CommandStep"}, {"command", "x"}}}}});
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_TRUE(Validate(*spec).ok())
        << type << " " << value << ": " << Validate(*spec).status().message();
  }
}

TEST(Validate, RunAfter) {
  EXPECT_EQ(ValidateError(Edit("      run_after: [prepare]", "      run_after: [prep]")),
            At(LineOf("      run_after: [prepare]")) +
                "step 'fit': key 'run_after': 'prep' is not a step of this pipeline");
  EXPECT_EQ(ValidateError(Edit("      run_after: [prepare]", "      run_after: [fit]")),
            At(LineOf("      run_after: [prepare]")) +
                "step 'fit': key 'run_after': a step cannot run after itself");
}

TEST(Validate, BindModes) {
  EXPECT_EQ(ValidateError(Edit("          source: churn_train\n          bind_mode: download",
                               "          source: churn_train\n          bind_mode: upload")),
            At(LineOf("        train:")) +
                "step 'fit': key 'inputs.train.bind_mode': 'upload' is not a bind mode for an "
                "input; use mount or download");
  EXPECT_EQ(
      ValidateError(Edit("          datastore: workspaceblobstore\n          bind_mode: mount",
                         "          datastore: workspaceblobstore\n          bind_mode: download")),
      At(LineOf("        train_set:")) +
          "step 'prepare': key 'outputs.train_set.bind_mode': 'download' is not a bind mode "
          "for an output; use mount or upload");
  EXPECT_EQ(ValidateError(Edit("      bind_mode: download\n    customers",
                               "      bind_mode: copy\n    customers")),
            At(LineOf("    lookup:")) +
                "key 'data_references.lookup.bind_mode': 'copy' is not a bind mode here; use mount "
                "or download");
}

TEST(Validate, DataReferences) {
  EXPECT_EQ(ValidateError(Edit("      dataset_name: customers_v",
                               "      datastore: x\n      dataset_name: customers_v")),
            At(LineOf("    customers:")) +
                "key 'data_references.customers': give a dataset_name or a datastore and "
                "path_on_datastore, not both");
  EXPECT_EQ(ValidateError(Edit("      dataset_name: customers_v\n      version: 3",
                               "      bind_mode: mount")),
            At(LineOf("    customers:")) +
                "key 'data_references.customers': says nothing to read; give a datastore and "
                "path_on_datastore, or a dataset_name");
  EXPECT_EQ(ParseError(Edit("      version: 3", "      version: -2")),
            At(LineOf("      version: 3")) +
                "key 'data_references.customers.version': expected a dataset version number (1, "
                "2, ...) or 'latest', got '-2'");
  EXPECT_EQ(ValidateError(Edit("    customers:", "    raw_path:")),
            "p.yml:" + std::to_string(LineOf("    customers:")) +
                ": key 'data_references.raw_path': a datapath parameter has this name too, so "
                "inputs naming it are ambiguous; rename one");
}

TEST(Validate, CycleListsItsSteps) {
  // fit reads prepare's output; prepare now reads fit's.
  std::string e =
      ValidateError(Edit("          source: raw_path", "          source: churn_model"));
  EXPECT_EQ(e, At(LineOf("        raw:")) +
                   "step 'prepare': key 'inputs.raw.source': the steps form a cycle: prepare -> "
                   "fit -> prepare (each needs the one before it done first); remove one of these "
                   "links");
  // Three steps through run_after; the cycle starts at the first written and steps outside it
  // (d, downstream) are not listed.
  const std::string text = R"(pipeline:
  steps:
    d:
      type: CommandStep
      command: x
      run_after: [c]
    a:
      type: CommandStep
      command: x
      run_after: [c]
    b:
      type: CommandStep
      command: x
      run_after: [a]
    c:
      type: CommandStep
      command: x
      run_after: [b]
)";
  EXPECT_EQ(ValidateError(text),
            "p.yml:10: step 'a': key 'run_after': the steps form a cycle: a -> b -> c -> a (each "
            "needs the one before it done first); remove one of these links");
}

TEST(Validate, SideInputsOnlyInParallelRunSteps) {
  EXPECT_EQ(
      ValidateError(Edit("      inputs:\n        train:", "      side_inputs:\n        train:")),
      At(LineOf("        train:")) +
          "step 'fit': key 'side_inputs.train': side inputs belong to ParallelRunStep steps "
          "only");
}

TEST(Json, RoundTripIsExact) {
  const PipelineSpec p = MustParse(kPipeline);
  const json j = PipelineToJson(p);
  auto back = PipelineFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(PipelineToJson(*back), j);
  EXPECT_EQ(back->file, "");  // JSON has no file and no lines
  EXPECT_EQ(back->steps[2].inputs[1].side, true);
  EXPECT_EQ(back->steps[0].arguments[1].kind, Argument::Kind::kInput);
  EXPECT_EQ(back->steps[1].parameters[1].value, json(0.5));
  EXPECT_TRUE(Validate(*back).ok()) << Validate(*back).status().ToString();

  // The contract's shapes.
  EXPECT_EQ(j["steps"][0]["arguments"],
            (json{"--raw", {{"input", "raw"}}, "--train", {{"output", "train_set"}}, "7"}));
  EXPECT_EQ(j["steps"][1]["parameters"][0], (json{{"name", "epochs"}, {"source", "epochs"}}));
  EXPECT_EQ(j["steps"][1]["parameters"][1], (json{{"name", "lr"}, {"value", 0.5}}));
  EXPECT_EQ(j["parameters"][1],
            (json{{"name", "raw_path"},
                  {"type", "datapath"},
                  {"default", {{"datastore", "workspaceblobstore"}, {"path", "churn/raw.csv"}}}}));
  EXPECT_EQ(j["data_references"][1], (json{{"name", "customers"},
                                           {"datastore", ""},
                                           {"path", ""},
                                           {"dataset_name", "customers_v"},
                                           {"dataset_version", 3},
                                           {"bind_mode", "mount"}}));
  EXPECT_EQ(
      j["steps"][2]["inputs"][1],
      (json{{"name", "model"}, {"source", "churn_model"}, {"bind_mode", "mount"}, {"side", true}}));

  // Every field set to something other than its default survives.
  PipelineSpec q;
  q.name = "n";
  q.description = "d";
  q.default_compute = "c";
  q.continue_on_step_failure = true;
  q.parameters.push_back({"p", ParamType::kBool, true, 0});
  q.data_references.push_back({"r", "ds", "a/b", "", 0, "download", 0});
  Step s;
  s.name = "s";
  s.type = "HyperDriveStep";
  s.compute = "gpu";
  s.runconfig = "x.runconfig";
  s.source_directory = "src";
  s.snapshot_id = std::string(64, 'a');
  s.script_name = "t.py";
  s.python = "python3.11";
  s.arguments = {{Argument::Kind::kParameter, "k", 0}, {Argument::Kind::kSideInput, "m", 0}};
  s.inputs.push_back({"i", "r", "download", true, 0});
  s.outputs.push_back({"o", "dest", "ds2", "x/y", "upload", "reg", 0});
  s.parameters.push_back({"k", json::array({1, 2}), "", 0});
  s.run_after = {"t"};
  s.allow_reuse = false;
  s.run_options = {{"environment_variables", {{"A", "1"}}}, {"node_count", 2}};
  s.hyperdrive = {{"max_total_runs", 4}};
  q.steps.push_back(s);
  const json qj = PipelineToJson(q);
  auto qb = PipelineFromJson(qj);
  ASSERT_TRUE(qb.ok()) << qb.status().ToString();
  EXPECT_EQ(PipelineToJson(*qb), qj);
  EXPECT_EQ(qb->steps[0].outputs[0].register_name, "reg");
  EXPECT_EQ(qb->steps[0].run_options, s.run_options);
}

TEST(Json, AbsentKeysAreDefaults) {
  auto p = PipelineFromJson({{"steps", {{{"name", "a"}, {"script_name", "a.py"}}}}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->steps[0].type, "PythonScriptStep");
  EXPECT_TRUE(p->steps[0].allow_reuse);
  EXPECT_EQ(p->steps[0].run_options, json::object());
  EXPECT_TRUE(p->steps[0].parallel_run_config.is_null());
  EXPECT_FALSE(p->continue_on_step_failure);
  auto in = PipelineFromJson({{"data_references", {{{"name", "r"}, {"datastore", "d"}}}},
                              {"steps",
                               {{{"name", "a"},
                                 {"script_name", "a.py"},
                                 {"inputs", {{{"name", "x"}, {"source", "r"}}}}}}}});
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->steps[0].inputs[0].bind_mode, "mount");
  EXPECT_EQ(in->data_references[0].bind_mode, "mount");
  EXPECT_TRUE(Validate(*in).ok()) << Validate(*in).status().ToString();
}

TEST(Json, ErrorsNameTheStepAndTheKey) {
  auto err = [](const json& j) {
    auto r = PipelineFromJson(j);
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(
      err({{"steps", {{{"name", "train"}, {"scrpit_name", "t.py"}}}}})
          .rfind("step 'train': key 'scrpit_name': unknown key; the keys allowed here are: name, "
                 "type,",
                 0),
      0u);
  EXPECT_EQ(err({{"steps", {{{"name", "train"}, {"inputs", {{{"name", "x"}, {"sorce", "y"}}}}}}}}),
            "step 'train': key 'inputs[0].sorce': unknown key; the keys allowed here are: name, "
            "source, bind_mode, side");
  EXPECT_EQ(err({{"steps", {{{"name", "train"}, {"outputs", {{{"name", 3}}}}}}}}),
            "step 'train': key 'outputs[0].name': expected a string");
  EXPECT_EQ(err({{"steps", {{{"name", "train"}, {"allow_reuse", "yes"}}}}}),
            "step 'train': key 'allow_reuse': expected true or false");
  EXPECT_EQ(
      err({{"steps", {{{"name", "train"}, {"arguments", {{{"input", "a"}, {"output", "b"}}}}}}}}),
      "step 'train': key 'arguments[0]': expected a string or one of {\"input\": NAME}, "
      "{\"output\": NAME}, {\"parameter\": NAME}, {\"side_input\": NAME}");
  EXPECT_EQ(err({{"steps", {{{"name", "train"}, {"arguments", {5}}}}}}),
            "step 'train': key 'arguments[0]': expected a string or one of {\"input\": NAME}, "
            "{\"output\": NAME}, {\"parameter\": NAME}, {\"side_input\": NAME}");
  EXPECT_EQ(err({{"steps",
                  {{{"name", "train"},
                    {"parameters", {{{"name", "k"}, {"value", 1}, {"source", "p"}}}}}}}}),
            "step 'train': key 'parameters[0]': give either a value or a source, not both");
  EXPECT_EQ(err({{"steps", {{{"name", "train"}, {"run_options", "fast"}}}}}),
            "step 'train': key 'run_options': expected an object");
  EXPECT_EQ(err({{"steps", {{{"script_name", "t.py"}, {"bogus", 1}}}}})
                .rfind("steps[0]: key 'bogus': unknown key", 0),
            0u);
  EXPECT_EQ(err({{"stpes", json::array()}}).rfind("key 'stpes': unknown key", 0), 0u);
  EXPECT_EQ(err({{"parameters", {{{"name", "p"}, {"type", "number"}}}}}),
            "key 'parameters[0].type': 'number' is not a parameter type; use string, int, float, "
            "bool or datapath");
  EXPECT_EQ(err({{"data_references", {{{"name", "r"}, {"dataset_version", "3"}}}}}),
            "key 'data_references[0].dataset_version': expected an integer");
  EXPECT_EQ(err({{"steps", {1}}}), "key 'steps[0]': expected an object");
  EXPECT_EQ(err(json::array()), "a pipeline must be a JSON object");
  // Validate's errors carry no file for a spec from JSON.
  auto spec = PipelineFromJson({{"steps",
                                 {{{"name", "a"},
                                   {"script_name", "a.py"},
                                   {"inputs", {{{"name", "x"}, {"source", "nope"}}}}}}}});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(Validate(*spec).status().message(),
            "step 'a': key 'inputs.x.source': 'nope' is not a data reference, a datapath "
            "parameter or any step's output destination");
}

TEST(BindParameters, DefaultsOverridesAndTypes) {
  const PipelineSpec p = MustParse(kPipeline);
  auto b = BindParameters(p, {});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->at("epochs"), json(12));
  EXPECT_EQ(b->at("rate"), json(0.25));
  EXPECT_EQ(b->at("raw_path"),
            (json{{"datastore", "workspaceblobstore"}, {"path", "churn/raw.csv"}}));

  // Strings, as the CLI's -p gives them, are read as the parameter's type.
  b = BindParameters(p, {{"epochs", "30"}, {"rate", "1e-3"}, {"raw_path", "other/x/y.csv"}});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->at("epochs"), json(30));
  EXPECT_EQ(b->at("rate"), json(0.001));
  EXPECT_EQ(b->at("raw_path"), (json{{"datastore", "other"}, {"path", "x/y.csv"}}));
  // JSON values as they are; an integer for a float becomes a float.
  b = BindParameters(p, {{"epochs", 5}, {"rate", 2}});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->at("epochs"), json(5));
  EXPECT_TRUE(b->at("rate").is_number_float());

  auto err = [&](const std::map<std::string, json>& given) {
    auto r = BindParameters(p, given);
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(err({{"epochs", "ten"}}), "parameter 'epochs' (int): expected an integer, got \"ten\"");
  EXPECT_EQ(err({{"epochs", "3.5"}}), "parameter 'epochs' (int): expected an integer, got \"3.5\"");
  EXPECT_EQ(err({{"epochs", 3.5}}), "parameter 'epochs' (int): expected an integer, got 3.5");
  EXPECT_EQ(err({{"rate", "fast"}}),
            "parameter 'rate' (float): expected a finite number, got \"fast\"");
  EXPECT_EQ(err({{"rate", "inf"}}),
            "parameter 'rate' (float): expected a finite number, got \"inf\"");
  EXPECT_EQ(err({{"raw_path", "nostore"}}),
            "parameter 'raw_path' (datapath): expected DATASTORE/PATH, got \"nostore\"");
  EXPECT_EQ(err({{"raw_path", 3}}).rfind("parameter 'raw_path' (datapath): expected a datapath", 0),
            0u);
  EXPECT_EQ(err({{"epoch", 3}}),
            "parameter 'epoch' is not a parameter of pipeline 'churn'; it declares: epochs, rate, "
            "raw_path");

  PipelineSpec q;
  q.name = "q";
  q.parameters.push_back({"flag", ParamType::kBool, nullptr, 0});
  q.parameters.push_back({"label", ParamType::kString, "x", 0});
  auto r = BindParameters(q, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "parameter 'flag' (bool) has no default; give it a value (-p flag=VALUE)");
  r = BindParameters(q, {{"flag", "True"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("flag"), json(true));
  r = BindParameters(q, {{"flag", "no"}});
  EXPECT_EQ(r.status().message(), "parameter 'flag' (bool): expected true or false, got \"no\"");
  r = BindParameters(q, {{"flag", false}, {"label", 7}});
  EXPECT_EQ(r.status().message(), "parameter 'label' (string): expected a string, got 7");
  r = BindParameters(q, {{"flag", false}, {"label", "7"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("label"), json("7"));
}

TEST(StepParameterValues, SubstitutesPipelineParameters) {
  const PipelineSpec p = MustParse(kPipeline);
  auto b = BindParameters(p, {{"epochs", "40"}});
  ASSERT_TRUE(b.ok());
  const auto v = StepParameterValues(p.steps[1], *b);
  EXPECT_EQ(v, (std::map<std::string, json>{
                   {"epochs", 40}, {"lr", 0.5}, {"mode", "fast"}, {"quoted", "12"}}));
}

TEST(ArgumentText, EachKindOfValue) {
  EXPECT_EQ(ArgumentText("a b"), "a b");
  EXPECT_EQ(ArgumentText(3), "3");
  EXPECT_EQ(ArgumentText(-3), "-3");
  EXPECT_EQ(ArgumentText(0.5), "0.5");
  EXPECT_EQ(ArgumentText(true), "true");
  EXPECT_EQ(ArgumentText(false), "false");
  EXPECT_EQ(ArgumentText(json{{"datastore", "ws"}, {"path", "a/b.csv"}}), "ws/a/b.csv");
  EXPECT_EQ(ArgumentText(json::array({1, 2})), "[1,2]");
  EXPECT_EQ(ArgumentText(nullptr), "");
}

class ReuseKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    step_ = MustParse(kPipeline).steps[1];
    step_.snapshot_id = std::string(64, 'c');
    step_.run_options = {{"environment", {{"name", "env"}, {"version", "1"}}}};
    in_.arguments = {"--data", "/mnt/x", "--epochs", "12"};
    in_.parameters = {{"epochs", 12}, {"lr", 0.5}};
    in_.input_content = {{"train", std::string(64, 'a')}};
    base_ = StepReuseKey(step_, in_);
  }
  Step step_;
  ReuseInputs in_;
  std::string base_;
};

TEST_F(ReuseKeyTest, IsAStableSha256) {
  EXPECT_EQ(base_.size(), 64u);
  EXPECT_EQ(StepReuseKey(step_, in_), base_);
  Step copy = step_;
  EXPECT_EQ(StepReuseKey(copy, in_), base_);
}

TEST_F(ReuseKeyTest, ChangesWithEachOfItsInputs) {
  std::set<std::string> keys = {base_};
  auto differs = [&](const Step& s, const ReuseInputs& in, const char* what) {
    const std::string k = StepReuseKey(s, in);
    EXPECT_TRUE(keys.insert(k).second) << what << " did not change the key";
  };
  Step s = step_;
  s.type = "CommandStep";
  differs(s, in_, "type");
  s = step_;
  s.snapshot_id = std::string(64, 'd');
  differs(s, in_, "snapshot");
  s = step_;
  s.script_name = "fit2.py";
  differs(s, in_, "script");
  s = step_;
  s.command = "python fit.py";
  differs(s, in_, "command");
  s = step_;
  s.python = "python3.12";
  differs(s, in_, "interpreter");
  s = step_;
  s.run_options["environment"]["version"] = "2";
  differs(s, in_, "environment");
  s = step_;
  s.run_options["environment_variables"] = {{"SEED", "1"}};
  differs(s, in_, "environment variables");
  s = step_;
  s.parallel_run_config = {{"mini_batch_size", 4}};
  differs(s, in_, "parallel config");
  s = step_;
  s.hyperdrive = {{"max_total_runs", 3}};
  differs(s, in_, "hyperdrive");
  s = step_;
  s.outputs[0].name = "model2";
  differs(s, in_, "output name");
  s = step_;
  s.outputs[0].bind_mode = "upload";
  differs(s, in_, "output bind mode");
  s = step_;
  s.arguments.push_back({Argument::Kind::kLiteral, "--verbose", 0});
  differs(s, in_, "argument template");
  ReuseInputs in = in_;
  in.arguments[3] = "13";
  differs(step_, in, "resolved arguments");
  in = in_;
  in.parameters["lr"] = 0.25;
  differs(step_, in, "parameter value");
  in = in_;
  in.parameters["lr"] = "0.5";  // the same text, another type
  differs(step_, in, "parameter type");
  in = in_;
  in.input_content["train"] = std::string(64, 'b');
  differs(step_, in, "input content");
  in = in_;
  in.input_content["train2"] = in.input_content["train"];
  in.input_content.erase("train");
  differs(step_, in, "input name");
  in = in_;
  in.arguments[1] = std::string("/mnt/\xff");  // not UTF-8: hashed, not thrown
  differs(step_, in, "invalid UTF-8 argument");
  in.arguments[1] = std::string("/mnt/\xfe");
  differs(step_, in, "another invalid UTF-8 argument");
}

TEST_F(ReuseKeyTest, IgnoresComputeAndInputLocations) {
  Step s = step_;
  s.compute = "another-cluster";
  EXPECT_EQ(StepReuseKey(s, in_), base_);
  s = step_;
  s.inputs[0].source = "elsewhere";  // the same content read from another place
  s.inputs[0].bind_mode = "mount";
  EXPECT_EQ(StepReuseKey(s, in_), base_);
  s = step_;
  s.runconfig = "other.runconfig";  // the CLI's file paths: their content is in run_options
  s.source_directory = "/home/me/other";
  s.allow_reuse = true;
  EXPECT_EQ(StepReuseKey(s, in_), base_);
}

}  // namespace
}  // namespace ferry::pipeline
