// Tests of run configuration parsing: Azure ML's file shape, errors, unused fields.
#include "runconfig/runconfig.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "runconfig/conda_env.h"
#include "runconfig/dataset_spec.h"

namespace ferry::runconfig {
namespace {

// The shape `az ml folder attach` writes (Azure ML SDK v1), with its defaults.
constexpr const char* kAzureRunConfig = R"(# The script to run.
script: train.py
# The arguments to the script file.
arguments: [--alpha, '0.5']
# The name of the compute target to use for this run.
target: local
# Framework to execute inside. Allowed values are "Python", "PySpark", "CNTK", "TensorFlow", and "PyTorch".
framework: Python
# Communicator for the given framework.
communicator: None
# Maximum allowed duration for the run.
maxRunDurationSeconds:
# Number of nodes to use for running job.
nodeCount: 1
# Environment details.
environment:
  name:
  version:
  environmentVariables:
    EXAMPLE_ENV_VAR: EXAMPLE_VALUE
  python:
    userManagedDependencies: false
    interpreterPath: python
    condaDependenciesFile: aml_config/conda_dependencies.yml
    baseCondaEnvironment:
  docker:
    enabled: false
    baseImage: mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04
    sharedVolumes: true
    gpuSupport: false
    shmSize: 1g
    arguments: []
  spark:
    repositories: []
    packages: []
    precachePackages: true
history:
  outputCollection: true
  snapshotProject: true
  directoriesToWatch:
  - logs
spark:
  configuration:
    spark.app.name: Azure ML Experiment
    spark.yarn.maxAppAttempts: 1
hdi:
  yarnDeployMode: Cluster
tensorflow:
  workerCount: 1
  parameterServerCount: 1
mpi:
  processCountPerNode: 1
dataReferences: {}
data: {}
sourceDirectoryDataStore:
amlcompute:
  vmSize:
  vmPriority:
  retainCluster: false
  name:
  clusterMaxNodeCount: 1
)";

TEST(RunConfig, AzureFileLoadsUnchanged) {
  auto r = ParseRunConfig(kAzureRunConfig, "aml_config/local.runconfig");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RunConfig& c = r->config;
  EXPECT_EQ(c.script, "train.py");
  EXPECT_EQ(c.arguments, (std::vector<std::string>{"--alpha", "0.5"}));
  EXPECT_EQ(c.target, "local");
  EXPECT_EQ(c.framework, "Python");
  EXPECT_EQ(c.communicator, "None");
  EXPECT_FALSE(c.max_run_duration_seconds.has_value());
  EXPECT_EQ(c.node_count, 1);
  EXPECT_EQ(c.environment.variables.at("EXAMPLE_ENV_VAR"), "EXAMPLE_VALUE");
  EXPECT_FALSE(c.environment.python.user_managed_dependencies);
  EXPECT_EQ(c.environment.python.interpreter_path, "python");
  EXPECT_EQ(c.environment.python.conda_dependencies_file, "aml_config/conda_dependencies.yml");
  EXPECT_FALSE(c.environment.docker.enabled);
  EXPECT_EQ(c.environment.docker.shm_size, "1g");
  EXPECT_EQ(c.directories_to_watch, (std::vector<std::string>{"logs"}));
  EXPECT_EQ(c.worker_count, 1);
  EXPECT_EQ(c.process_count_per_node, 1);
  // Set fields Ferry does not use are listed (once), empty ones are not.
  std::vector<std::string> u = r->unused_fields;
  for (const char* f : {"environment.docker.gpuSupport", "environment.spark", "spark", "hdi"}) {
    EXPECT_NE(std::find(u.begin(), u.end(), f), u.end()) << f;
  }
  // Read, used only when target is amlcompute (the server ignores it for another target).
  EXPECT_EQ(c.amlcompute.cluster_max_node_count, 1);
  for (const char* f : {"dataReferences", "data", "sourceDirectoryDataStore", "amlcompute"}) {
    EXPECT_EQ(std::find(u.begin(), u.end(), f), u.end()) << f;
  }
}

// What azureml-core 1.61's RunConfiguration(framework="python").save() writes (abridged only
// where the sections are the same as above): the framework in lower case, a run-level docker
// section and environmentVariables, mpi.nodeCount and a pytorch section.
constexpr const char* kAzure161RunConfig = R"(script: train.py
arguments: []
target: local
framework: python
communicator: None
maxRunDurationSeconds:
nodeCount: 2
priority:
environment:
  name: default-environment
  version:
  environmentVariables:
    EXAMPLE_ENV_VAR: EXAMPLE_VALUE
  python:
    userManagedDependencies: true
    interpreterPath: python
    condaDependenciesFile: .azureml/conda_dependencies.yml
    baseCondaEnvironment:
  docker:
    enabled: false
    baseImage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20251130.v1
    baseDockerfile:
    buildContext:
    sharedVolumes: true
    shmSize: 2g
    arguments: []
    baseImageRegistry:
      address:
      username:
      password:
      registryIdentity:
    platform:
      os: Linux
      architecture: amd64
  r:
  inferencingStackVersion:
  assetId:
history:
  outputCollection: true
  snapshotProject: true
  directoriesToWatch:
  - logs
docker:
  useDocker: true
  sharedVolumes: true
  arguments: [--cap-add, SYS_PTRACE]
  shmSize: 8g
tensorflow:
  workerCount: 1
  parameterServerCount: 1
mpi:
  processCountPerNode: 1
  nodeCount: 1
pytorch:
  communicationBackend: nccl
  processCount:
  nodeCount: 1
paralleltask:
  maxRetriesPerWorker: 0
  workerCountPerNode: 1
  terminalExitCodes:
dataReferences: {}
data: {}
datacaches: []
outputData: {}
credentialPassthrough: false
command: ''
environmentVariables:
  RUN_LEVEL: yes-it-is
  EXAMPLE_ENV_VAR: from-the-run
applicationEndpoints: {}
)";

TEST(RunConfig, Azure161FileLoadsWithItsRunLevelSections) {
  auto r = ParseRunConfig(kAzure161RunConfig, ".azureml/x.runconfig");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RunConfig& c = r->config;
  EXPECT_EQ(c.framework, "Python");  // "python" as Azure writes it, stored in one spelling
  EXPECT_EQ(c.node_count, 2);        // the top-level count, not mpi's or pytorch's
  // The run-level docker section wins over the environment's.
  EXPECT_TRUE(c.environment.docker.enabled);
  EXPECT_EQ(c.environment.docker.shm_size, "8g");
  EXPECT_EQ(c.environment.docker.arguments, (std::vector<std::string>{"--cap-add", "SYS_PTRACE"}));
  EXPECT_EQ(c.environment.docker.base_image,
            "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20251130.v1");
  // So do the run-level environment variables (merged with the environment's).
  EXPECT_EQ(c.environment.variables.at("RUN_LEVEL"), "yes-it-is");
  EXPECT_EQ(c.environment.variables.at("EXAMPLE_ENV_VAR"), "from-the-run");
  EXPECT_EQ(c.pytorch_communication_backend, "Nccl");
  std::vector<std::string> u = r->unused_fields;
  for (const char* f : {"docker", "mpi.nodeCount", "pytorch", "pytorch.communicationBackend",
                        "environmentVariables", "command", "priority", "framework"}) {
    EXPECT_EQ(std::find(u.begin(), u.end(), f), u.end()) << f;
  }
  for (const char* f : {"paralleltask", "environment.docker.platform"}) {
    EXPECT_NE(std::find(u.begin(), u.end(), f), u.end()) << f;
  }
  auto j = nlohmann::json::parse(RunConfigToJson(c));
  EXPECT_EQ(j["docker"]["useDocker"], true);
  EXPECT_EQ(j["environmentVariables"]["RUN_LEVEL"], "yes-it-is");
}

TEST(RunConfig, EnumFieldsIgnoreCase) {
  auto r = ParseRunConfig(
      "framework: PYTORCH\ncommunicator: nccl\npriority: Low\nnodeCount: 2\n"
      "pytorch: {communicationBackend: GLOO, processCount: 8}\n",
      "x.runconfig");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->config.framework, "PyTorch");
  EXPECT_EQ(r->config.communicator, "Nccl");
  EXPECT_EQ(r->config.priority, "low");
  EXPECT_EQ(r->config.pytorch_communication_backend, "Gloo");
  EXPECT_EQ(r->config.process_count_per_node, 4);  // 8 processes over 2 nodes
  for (const char* fw : {"python", "tensorflow", "PySpark"}) {
    EXPECT_TRUE(ParseRunConfig(std::string("framework: ") + fw + "\n", "f").ok()) << fw;
  }
  auto bad = ParseRunConfig("framework: cntk\n", "f.runconfig");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "f.runconfig:1:12: field 'framework': 'cntk' is not allowed; use one of: Python, "
            "PyTorch, TensorFlow, PySpark");
  auto bad_docker = ParseRunConfig("docker:\n  useDocker: perhaps\n", "d.runconfig");
  ASSERT_FALSE(bad_docker.ok());
  EXPECT_NE(bad_docker.status().message().find("d.runconfig:2:14: field 'docker.useDocker'"),
            std::string::npos)
      << bad_docker.status().message();
}

TEST(RunConfig, FerryFields) {
  auto r = ParseRunConfig(
      "script: t.py\nresources:\n  gpus: 2\nrequirementsFile: req.txt\npriority: low\n"
      "maxRunDurationSeconds: 600\nnodeCount: 4\ncommunicator: Nccl\n",
      "x.yml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->config.gpus, 2);
  EXPECT_EQ(r->config.requirements_file, "req.txt");
  EXPECT_EQ(r->config.priority, "low");
  EXPECT_EQ(r->config.max_run_duration_seconds, 600);
  EXPECT_EQ(r->config.node_count, 4);
  EXPECT_EQ(r->config.communicator, "Nccl");
  EXPECT_TRUE(r->unused_fields.empty());
}

TEST(RunConfig, AmlComputeSectionForRunBasedCompute) {
  auto r = ParseRunConfig(
      "script: t.py\ntarget: amlcompute\namlcompute:\n  vmSize: STANDARD_D2_V2\n"
      "  vmPriority: LowPriority\n  retainCluster: true\n  name: pool\n"
      "  clusterMaxNodeCount: 3\n",
      "x.runconfig");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const AmlComputeSection& a = r->config.amlcompute;
  EXPECT_EQ(a.vm_size, "STANDARD_D2_V2");
  EXPECT_EQ(a.vm_priority, "lowpriority");
  EXPECT_TRUE(a.retain_cluster);
  EXPECT_EQ(a.name, "pool");
  EXPECT_EQ(a.cluster_max_node_count, 3);
  EXPECT_TRUE(r->unused_fields.empty());
  auto j = nlohmann::json::parse(RunConfigToJson(r->config));
  EXPECT_EQ(j["amlcompute"]["vmSize"], "STANDARD_D2_V2");
  EXPECT_EQ(j["amlcompute"]["clusterMaxNodeCount"], 3);
  // Azure's files carry the section empty (nulls) for other targets.
  auto empty = ParseRunConfig(
      "target: local\namlcompute:\n  vmSize:\n  vmPriority:\n  retainCluster: false\n  "
      "name:\n  clusterMaxNodeCount:\n",
      "y.runconfig");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->config.amlcompute.vm_size, "");
  auto bad = ParseRunConfig("amlcompute:\n  clusterMaxNodeCount: 0\n", "z.runconfig");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("z.runconfig:2:24: field 'amlcompute.clusterMaxNodeCount'"),
            std::string::npos)
      << bad.status().message();
}

TEST(RunConfig, ErrorsNameFileLineColumnFieldAndAllowedValues) {
  auto bad_enum = ParseRunConfig("script: t.py\ncommunicator: Mpi\n", "a.runconfig");
  ASSERT_FALSE(bad_enum.ok());
  EXPECT_EQ(
      bad_enum.status().message(),
      "a.runconfig:2:15: field 'communicator': 'Mpi' is not allowed; use one of: None, Gloo, Nccl, "
      "OpenMpi, IntelMpi, ParameterServer");
  auto bad_int = ParseRunConfig("nodeCount: two\n", "b.yml");
  ASSERT_FALSE(bad_int.ok());
  EXPECT_EQ(bad_int.status().message(),
            "b.yml:1:12: field 'nodeCount': expected an integer, got 'two'");
  auto too_small = ParseRunConfig("nodeCount: 0\n", "b.yml");
  EXPECT_NE(too_small.status().message().find("must be at least 1"), std::string::npos);
  auto bad_bool = ParseRunConfig("environment:\n  docker:\n    enabled: maybe\n", "c.yml");
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_EQ(bad_bool.status().message(),
            "c.yml:3:14: field 'environment.docker.enabled': expected true or false, got 'maybe'");
  auto bad_list = ParseRunConfig("arguments: --alpha\n", "d.yml");
  EXPECT_NE(bad_list.status().message().find("field 'arguments': expected a list"),
            std::string::npos);
  auto bad_yaml = ParseRunConfig("script: [unclosed\n", "e.yml");
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_NE(bad_yaml.status().message().find("e.yml:"), std::string::npos);
  EXPECT_NE(bad_yaml.status().message().find("not valid YAML"), std::string::npos);
  auto not_map = ParseRunConfig("- a\n- b\n", "f.yml");
  EXPECT_NE(not_map.status().message().find("expected a mapping"), std::string::npos);
}

TEST(RunConfig, MissingFileNamesIt) {
  auto r = LoadRunConfig("/nonexistent/dir/x.runconfig");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.runconfig"), std::string::npos);
}

TEST(RunConfig, EmptyFileIsAnEmptyConfiguration) {
  auto r = ParseRunConfig("", "empty.yml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->config.node_count, 1);
  EXPECT_TRUE(r->config.script.empty());
}

TEST(CondaEnv, AzureDefaultFileSplitsPythonCondaAndPip) {
  auto r = ParseCondaEnvironment(
      "name: project_environment\ndependencies:\n- python=3.11.2\n- pip=23.0\n- numpy\n- pip:\n"
      "  - azureml-defaults\n  - torch==2.1\nchannels:\n- anaconda\n- conda-forge\n",
      "conda_dependencies.yml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->python, "=3.11.2");
  EXPECT_EQ(r->conda_packages, std::vector<std::string>{"numpy"});
  EXPECT_EQ(r->pip, (std::vector<std::string>{"azureml-defaults", "torch==2.1"}));
  EXPECT_EQ(r->channels.size(), 2u);
}

TEST(CondaEnv, ErrorsNameFileLineAndField) {
  auto r = ParseCondaEnvironment("name: x\ndependencies:\n  - python=3.11\n  - {npm: [left-pad]}\n",
                                 "env.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("env.yml:4:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("allowed: pip"), std::string::npos);
  auto bad = ParseCondaEnvironment("dependencies: python\n", "env.yml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("field 'dependencies'"), std::string::npos);
  EXPECT_FALSE(ParseCondaEnvironment("", "e.yml").ok());
  EXPECT_FALSE(ParseCondaEnvironment("dependencies: [\n", "e.yml").ok());
}

TEST(CondaEnv, PythonVersionSpecs) {
  EXPECT_TRUE(PythonVersionMatches("=3.11", "3.11.7"));
  EXPECT_TRUE(PythonVersionMatches("3.11", "3.11.7"));
  EXPECT_TRUE(PythonVersionMatches("=3.11.*", "3.11.2"));
  EXPECT_FALSE(PythonVersionMatches("=3.1", "3.11.7"));
  EXPECT_FALSE(PythonVersionMatches("=3.9", "3.11.7"));
  EXPECT_TRUE(PythonVersionMatches(">=3.10,<3.12", "3.11.7"));
  EXPECT_FALSE(PythonVersionMatches(">=3.10,<3.11", "3.11.7"));
  EXPECT_TRUE(PythonVersionMatches("3.9|3.11", "3.11.0"));
  EXPECT_TRUE(PythonVersionMatches("", "3.11.0"));
  EXPECT_TRUE(PythonVersionMatches("==3.11.7", "3.11.7"));
  EXPECT_FALSE(PythonVersionMatches("==3.11.6", "3.11.7"));
}

TEST(CondaEnv, CondaPackagesAsPipRequirements) {
  auto pip = [](const std::string& spec) {
    auto r = CondaPackageAsPip(spec);
    return r.ok() ? *r : "error: " + r.status().message();
  };
  EXPECT_EQ(pip("numpy"), "numpy");
  EXPECT_EQ(pip("numpy=1.26"), "numpy==1.26.*");  // conda's '=' is a prefix match
  EXPECT_EQ(pip("numpy=1.26.*"), "numpy==1.26.*");
  EXPECT_EQ(pip("numpy==1.26.4"), "numpy==1.26.4");
  EXPECT_EQ(pip("numpy=1.26.4=py311h64a7726_0"), "numpy==1.26.4.*");  // the build string goes
  EXPECT_EQ(pip("numpy==1.26.4=py311h64a7726_0"), "numpy==1.26.4");
  EXPECT_EQ(pip("numpy 1.26.*"), "numpy==1.26.*");
  EXPECT_EQ(pip("scipy >=1.10, <2"), "scipy>=1.10,<2");
  EXPECT_EQ(pip("conda-forge::Scikit-Learn=1.4"), "scikit-learn==1.4.*");
  EXPECT_EQ(pip("pytorch=2.1"), "torch==2.1.*");  // conda's name for pip's torch
  EXPECT_EQ(pip("py-xgboost"), "xgboost");
  for (const char* only :
       {"cudatoolkit=11.8", "cudnn", "libgcc-ng>=12", "r-ggplot2", "nvidia::nccl"}) {
    auto r = CondaPackageAsPip(only);
    ASSERT_FALSE(r.ok()) << only;
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << only;
  }
}

TEST(CondaEnv, SdkRequirementsAreRecognised) {
  EXPECT_TRUE(IsSdkRequirement("azureml-defaults"));
  EXPECT_TRUE(IsSdkRequirement("azureml-dataset-runtime[fuse,pandas]>=1.0"));
  EXPECT_TRUE(IsSdkRequirement("azureml_core==1.61.0"));
  EXPECT_TRUE(IsSdkRequirement("ferry-defaults"));
  EXPECT_FALSE(IsSdkRequirement("azure-storage-blob"));
  EXPECT_FALSE(IsSdkRequirement("ferrytestpkg==1.0"));
}

TEST(DatasetSpec, AzureCliSpecsBecomeRegistrations) {
  auto file = ParseDatasetSpec(R"({"datasetType": "File",
      "parameters": {"path": {"datastoreName": "workspaceblobstore", "relativePath": "iris/"}},
      "registration": {"name": "iris", "description": "d", "tags": {"k": "v"}},
      "schemaVersion": 1})",
                               "spec.json");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ((*file)["kind"], "file");
  EXPECT_EQ((*file)["paths"][0]["path"], "iris/");
  EXPECT_EQ((*file)["tags"]["k"], "v");
  auto table = ParseDatasetSpec(
      "datasetType: Tabular\nparameters:\n  sourceType: parquet_files\n  path:\n"
      "    - dataPath: {datastoreName: shared, relativePath: 'a/*.parquet'}\n"
      "registration: {name: t}\n",
      "spec.yaml");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)["definition"]["format"], "parquet");
  EXPECT_EQ((*table)["paths"][0]["datastore"], "shared");
}

TEST(DatasetSpec, ErrorsNameTheFileAndField) {
  auto url = ParseDatasetSpec(R"({"parameters": {"path": "https://x/y.csv"},
      "registration": {"name": "n"}})",
                              "s.json");
  ASSERT_FALSE(url.ok());
  EXPECT_NE(url.status().message().find("s.json: field 'parameters.path' is a URL"),
            std::string::npos)
      << url.status().message();
  auto unnamed =
      ParseDatasetSpec("parameters: {path: {datastoreName: a, relativePath: b}}\n", "s.yaml");
  EXPECT_NE(unnamed.status().message().find("registration.name"), std::string::npos);
  auto kind = ParseDatasetSpec("datasetType: Blob\n", "s.yaml");
  EXPECT_NE(kind.status().message().find("datasetType"), std::string::npos);
  auto syntax = ParseDatasetSpec("a: [\n", "s.yaml");
  EXPECT_NE(syntax.status().message().find("s.yaml:"), std::string::npos);
}

}  // namespace
}  // namespace ferry::runconfig
