// Unit tests for the script environment's allow-list.
#include "agent/script_env.h"

#include <gtest/gtest.h>

namespace ferry::agent {
namespace {

TEST(ScriptEnv, OnlyTheAllowListOfTheNodePasses) {
  const char* node[] = {"PATH=/usr/bin",
                        "HOME=/home/u",
                        "LANG=C.UTF-8",
                        "LC_ALL=C",
                        "https_proxy=http://p:3128",
                        "NO_PROXY=localhost",
                        "CUDA_VISIBLE_DEVICES=1",
                        "NVIDIA_DRIVER_CAPABILITIES=compute",
                        "SLURM_JOB_ID=7",
                        "FERRY_TOKEN=secret",
                        "AWS_SECRET_ACCESS_KEY=k",
                        "FERRY_RUN_TOKEN=t",
                        "PYTHONPATH=/opt/x",
                        "LD_PRELOAD=/evil.so",
                        "CUDA_=edge",
                        "=novalue",
                        "NOEQUALS",
                        nullptr};
  auto env = ScriptEnvironment(
      node, {{"FERRY_RUN_ID", "r1"}, {"MY_VAR", "x"}, {"PATH", "/run/path"}}, {"LANG"});
  std::map<std::string, std::string> want = {
      {"PATH", "/run/path"},  // the run's value wins over the node's
      {"HOME", "/home/u"},
      {"LC_ALL", "C"},
      {"https_proxy", "http://p:3128"},
      {"NO_PROXY", "localhost"},
      {"CUDA_VISIBLE_DEVICES", "1"},
      {"NVIDIA_DRIVER_CAPABILITIES", "compute"},
      {"SLURM_JOB_ID", "7"},
      {"FERRY_RUN_ID", "r1"},
      {"MY_VAR", "x"}};
  EXPECT_EQ(env, want);
}

TEST(ScriptEnv, Names) {
  for (const char* yes :
       {"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANGUAGE", "http_proxy", "ALL_PROXY",
        "LC_CTYPE", "CUDA_HOME", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_FD"}) {
    EXPECT_TRUE(PassedToScript(yes)) << yes;
  }
  for (const char* no : {"FERRY_TOKEN", "FERRY_HOME", "MLFLOW_TRACKING_TOKEN", "SSH_AUTH_SOCK",
                         "PYTHONPATH", "LD_LIBRARY_PATH", "path", "LC_", "XDG_RUNTIME_DIR"}) {
    EXPECT_FALSE(PassedToScript(no)) << no;
  }
}

}  // namespace
}  // namespace ferry::agent
