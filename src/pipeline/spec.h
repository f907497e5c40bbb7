// Pipelines (Azure ML SDK v1 / CLI v1 "ML pipelines"): a pipeline is a set of steps, each a
// run on its own compute target, joined by the data one step writes and another reads and by
// explicit run_after ordering. This header is the one definition every part shares:
//   - the CLI parses CLI v1's pipeline YAML into it (ParsePipelineYaml; errors carry file:line);
//   - the SDK and the CLI send it to the server as JSON (PipelineToJson / PipelineFromJson,
//     the body of POST /api/v1/pipeline-runs; errors name the step and the key);
//   - the server checks it (Validate: names, kinds, placeholders, sources, cycles) before
//     anything runs, binds the run's parameter values (BindParameters) and derives each step's
//     reuse key from what the step would run and the content of its inputs (StepReuseKey).
// Pure logic: no store, no network. docs/pipelines.md describes the format for users.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::pipeline {

// A pipeline parameter's type (CLI v1: string, int, float, bool, datapath).
enum class ParamType { kString, kInt, kFloat, kBool, kDataPath };
const char* ParamTypeName(ParamType t);

struct Parameter {
  std::string name;
  ParamType type = ParamType::kString;
  // string/int/float/bool as JSON, or {"datastore": NAME, "path": PATH} for datapath.
  // null: no default (a value must be given at submit).
  nlohmann::json default_value;
  int line = 0;  // where the YAML defined it (0: not from a file)
};

// Data the pipeline reads from outside: a datastore path or a registered dataset.
struct DataReference {
  std::string name;
  std::string datastore;  // with path: datastore + path_on_datastore ("" = the default)
  std::string path;
  std::string dataset_name;         // or a registered dataset
  int64_t dataset_version = 0;      // 0 = latest
  std::string bind_mode = "mount";  // mount | download
  int line = 0;
};

// A step's input: `source` names a data reference, a datapath parameter, or another step's
// output destination. side inputs (ParallelRunStep) are inputs every worker sees whole.
struct StepInput {
  std::string name;  // the step's own name for it (input:NAME in arguments)
  std::string source;
  std::string bind_mode = "mount";  // mount | download
  bool side = false;
  int line = 0;
};

// A step's output: files the script writes to its output directory become a content-addressed
// data version under `destination`, the pipeline-wide name consumers use as their source.
struct StepOutput {
  std::string name;                 // the step's own name for it (output:NAME in arguments)
  std::string destination;          // pipeline-wide; "" = name
  std::string datastore;            // "" = the workspace's default datastore
  std::string path;                 // on the datastore; "" = pipelines/{run-id}/{output-name}
  std::string bind_mode = "mount";  // mount | upload (both: a directory the script fills)
  std::string register_name;        // register_on_complete: a dataset version of this name
  int line = 0;
};

// A step parameter: a literal value, or the value of a pipeline parameter (`source`).
struct StepParameter {
  std::string name;
  nlohmann::json value;  // when source is empty
  std::string source;
  int line = 0;
};

// One element of a step's arguments: a literal, or a placeholder (input:X, output:X,
// parameter:X, side_input:X) replaced when the step's run is made.
struct Argument {
  enum class Kind { kLiteral, kInput, kOutput, kParameter, kSideInput };
  Kind kind = Kind::kLiteral;
  std::string text;  // the literal, or the name the placeholder refers to
  int line = 0;
};

struct Step {
  std::string name;  // unique in the pipeline (the key of the YAML's steps map)
  std::string type = "PythonScriptStep";  // see Validate for the kinds known
  std::string compute;                    // "" = the pipeline's default_compute
  // From the YAML only; the CLI turns them into run_options and snapshot_id.
  std::string runconfig;
  std::string source_directory;
  std::string snapshot_id;  // the source directory's snapshot (SHA-256 of its manifest)
  std::string script_name;  // PythonScriptStep, ParallelRunStep's driver
  std::string command;      // CommandStep: a shell command line
  std::string python;       // interpreter on the target ("" = python3)
  std::vector<Argument> arguments;
  std::vector<StepInput> inputs;  // side inputs too (side = true)
  std::vector<StepOutput> outputs;
  std::vector<StepParameter> parameters;
  std::vector<std::string> run_after;  // steps that must complete first
  bool allow_reuse = true;
  // model::RunOptions as JSON (environment, docker, node_count, ...): the step's run
  // configuration.
  nlohmann::json run_options = nlohmann::json::object();
  nlohmann::json parallel_run_config;  // ParallelRunStep: ParallelRunConfig's fields
  nlohmann::json hyperdrive;           // HyperDriveStep: the sweep definition
  int line = 0;
  // From YAML: the line of each key the step's mapping holds ("run_after" -> 12), so errors
  // about a key point at it rather than at the step's name. Not part of the JSON form.
  std::map<std::string, int> key_lines;
};

struct PipelineSpec {
  std::string name;
  std::string description;
  std::string default_compute;  // "" = local
  bool continue_on_step_failure = false;
  std::vector<Parameter> parameters;
  std::vector<DataReference> data_references;
  std::vector<Step> steps;  // in the order written
  std::string file;         // the YAML file it came from ("" for JSON), for error messages
};

// CLI v1's pipeline YAML (a top-level `pipeline:` map). Errors read
// "FILE:LINE: step 'NAME': key 'KEY': what is wrong; what to do".
Result<PipelineSpec> ParsePipelineYaml(std::string_view text, const std::string& file);

nlohmann::json PipelineToJson(const PipelineSpec& spec);
// The JSON form (what the SDK sends). Errors name the step and the key.
Result<PipelineSpec> PipelineFromJson(const nlohmann::json& j);

// The dependency graph of a valid pipeline.
struct Graph {
  std::vector<size_t> order;                 // step indices, each after all it depends on
  std::vector<std::vector<size_t>> depends;  // per step: the steps it waits for (sorted)
  std::map<std::string, size_t> producer;    // output destination -> the step writing it
};

// Checks everything that can be checked without the workspace: unique names, known step
// types (AdlaStep, DatabricksStep, AzureBatchStep, DataTransferStep and KustoStep are refused
// with a message), placeholders naming a declared input/output/parameter, every input's
// source (a data reference, a datapath parameter or an output), parameters' sources and
// types, run_after names, and no cycles (the error lists the cycle's steps). Errors name the
// step, the key and, for a spec from YAML, FILE:LINE.
Result<Graph> Validate(const PipelineSpec& spec);

// The values of one pipeline run: each parameter's default, overridden by `given`, checked
// against its type. Strings are accepted for int/float/bool (the CLI's -p name=value).
// Unknown names and missing values (no default) are errors naming the parameter.
Result<std::map<std::string, nlohmann::json>> BindParameters(
    const PipelineSpec& spec, const std::map<std::string, nlohmann::json>& given);

// A step's parameter values with pipeline parameters substituted.
std::map<std::string, nlohmann::json> StepParameterValues(
    const Step& step, const std::map<std::string, nlohmann::json>& bound);

// A JSON value as a command-line argument: strings as they are, numbers and booleans as
// JSON writes them ("3", "0.5", "true"), datapaths as DATASTORE/PATH.
std::string ArgumentText(const nlohmann::json& value);

// What a step's reuse key is made of. input_content maps each input's name to the content
// identity of the data it would read (a manifest hash: for the workspace store the files'
// SHA-256s, for other stores their sizes, times and ETags), never to a path.
struct ReuseInputs {
  std::vector<std::string> arguments;  // with placeholders resolved except input/output paths
  std::map<std::string, nlohmann::json> parameters;
  std::map<std::string, std::string> input_content;
};
// SHA-256 hex over the step's type, snapshot, script/command, interpreter, run options
// (environment included), parallel/hyperdrive definitions, output names and bind modes, and
// `in`. The compute target is not part of it: the same code on the same data in the same
// environment gives the same result wherever it runs.
std::string StepReuseKey(const Step& step, const ReuseInputs& in);

}  // namespace ferry::pipeline
