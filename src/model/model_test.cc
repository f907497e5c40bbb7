// Unit tests for the run status machine and manifests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "model/assets.h"
#include "model/manifest.h"
#include "model/run.h"
#include "model/run_options.h"

namespace ferry::model {
namespace {

TEST(RunStatus, Transitions) {
  EXPECT_TRUE(IsLegalTransition(RunStatus::kQueued, RunStatus::kPreparing));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kPreparing, RunStatus::kRunning));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kRunning, RunStatus::kFinalizing));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kFinalizing, RunStatus::kCompleted));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kQueued, RunStatus::kCanceled));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kRunning, RunStatus::kFailed));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kQueued, RunStatus::kCompleted));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kCompleted, RunStatus::kFailed));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kCanceled, RunStatus::kQueued));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kRunning, RunStatus::kRunning));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kRunning, RunStatus::kPreempted));
  EXPECT_TRUE(IsLegalTransition(RunStatus::kPreempted, RunStatus::kQueued));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kPreempted, RunStatus::kRunning));
  EXPECT_FALSE(IsLegalTransition(RunStatus::kQueued, RunStatus::kPreempted));
  EXPECT_FALSE(IsTerminal(RunStatus::kPreempted));
}

TEST(RunStatus, ParseNamesAllowedValues) {
  EXPECT_EQ(*ParseRunStatus("Running"), RunStatus::kRunning);
  auto bad = ParseRunStatus("running");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("allowed: Queued"), std::string::npos);
}

TEST(Experiment, NamesAreWhatMlflowAccepts) {
  std::string accents;
  for (int i = 0; i < 500; ++i) accents += "\xc3\xa9";  // 500 characters, 1000 bytes
  for (const std::string& ok :
       {std::string("mnist"), std::string("My Experiment"), std::string("team/vision #3?"),
        std::string("100% done"), std::string("  spaced  "), std::string("实验"),
        std::string(500, 'x'), accents}) {
    EXPECT_TRUE(ValidateExperimentName(ok).ok()) << ok;
  }
  EXPECT_FALSE(ValidateExperimentName("").ok());
  EXPECT_FALSE(ValidateExperimentName(std::string(501, 'x')).ok());
  EXPECT_FALSE(ValidateExperimentName("bad \xff\xfe").ok());
  EXPECT_FALSE(ValidateExperimentName("\xed\xa0\x80").ok());  // a surrogate
  EXPECT_FALSE(ValidateExperimentName("\xc0\xaf").ok());      // overlong '/'
  EXPECT_FALSE(ValidateExperimentName(std::string("a\0b", 3)).ok());
  EXPECT_NE(ValidateExperimentName(std::string(501, 'x')).message().find("500"), std::string::npos);
}

TEST(Experiment, RunIdPrefixKeepsOldNamesAndMakesOthersSafe) {
  EXPECT_EQ(RunIdPrefix("mnist-v2.1_a"), "mnist-v2.1_a");  // names valid before: ids unchanged
  EXPECT_EQ(RunIdPrefix("My Experiment"), "My_Experiment");
  EXPECT_EQ(RunIdPrefix("team/vision #3?"), "team_vision_3");
  EXPECT_EQ(RunIdPrefix(" 100%,done "), "100_done");
  const std::string hashed = RunIdPrefix("实验");
  EXPECT_EQ(hashed.rfind("exp-", 0), 0u);
  EXPECT_EQ(hashed.size(), 12u);
  EXPECT_NE(hashed, RunIdPrefix("测试"));
  EXPECT_EQ(RunIdPrefix("/ / /").rfind("exp-", 0), 0u);
  EXPECT_EQ(RunIdPrefix(std::string(100, 'a') + " b").size(), 64u);
  for (const char* name : {"My Experiment", "a/b", "x#y?z%", "实验", "a,b"}) {
    for (char c : RunIdPrefix(name)) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')
          << name;
    }
  }
}

TEST(Manifest, PathValidation) {
  EXPECT_TRUE(ValidateRelativePath("a/b.txt").ok());
  EXPECT_TRUE(ValidateRelativePath("..a/b..").ok());
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/"}) {
    EXPECT_FALSE(ValidateRelativePath(bad).ok()) << bad;
  }
  EXPECT_NE(ValidateRelativePath("a/../b").message().find("'a/../b'"), std::string::npos);
}

TEST(Manifest, RoundTripIsCanonical) {
  Manifest m;
  m.entries.push_back({"z.py", 0755, 3, Sha256Hex("abc")});
  m.entries.push_back({"a/b.txt", 0644, 0, Sha256Hex("")});
  ASSERT_TRUE(m.Normalize().ok());
  std::string text = m.Serialize();
  EXPECT_EQ(text.substr(0, 6), "644 0 ");
  auto parsed = Manifest::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->Serialize(), text);
  EXPECT_EQ(parsed->entries[1].mode, 0755u);
  EXPECT_EQ(parsed->TotalBytes(), 3u);
}

TEST(Manifest, ParseRejectsEscapesAndDisorder) {
  std::string h = Sha256Hex("x");
  auto r = Manifest::Parse("644 1 " + h + " ../evil\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 1"), std::string::npos);
  EXPECT_FALSE(Manifest::Parse("644 1 " + h + " /abs\n").ok());
  EXPECT_FALSE(Manifest::Parse("644 1 " + h + " b\n644 1 " + h + " a\n").ok());
  EXPECT_FALSE(Manifest::Parse("644 1 nothex a\n").ok());
  Manifest dup;
  dup.entries = {{"a", 0644, 1, h}, {"a", 0644, 1, h}};
  EXPECT_FALSE(dup.Normalize().ok());
}

TEST(Manifest, TextHasPathMatchesAFullScan) {
  Manifest m;
  for (int i = 0; i < 1000; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "dir%02d/file %03d.py", i % 37, i);
    m.entries.push_back({name, 0644, static_cast<uint64_t>(i), Sha256Hex(name)});
  }
  ASSERT_TRUE(m.Normalize().ok());
  std::string text = m.Serialize();
  for (auto& e : m.entries) EXPECT_TRUE(ManifestTextHasPath(text, e.path)) << e.path;
  for (const char* absent :
       {"", "a", "dir00", "dir00/file", "dir36/file 999.py", "zzz", "dir05/file 005.p"}) {
    EXPECT_FALSE(ManifestTextHasPath(text, absent)) << absent;
  }
  EXPECT_FALSE(ManifestTextHasPath("", "a"));
  Manifest one;
  one.entries.push_back({"only.py", 0644, 1, Sha256Hex("x")});
  EXPECT_TRUE(ManifestTextHasPath(one.Serialize(), "only.py"));
  EXPECT_FALSE(ManifestTextHasPath(one.Serialize(), "other.py"));
}

TEST(RunOptions, RoundTripAndLegacyRequirementsFile) {
  RunOptions o;
  o.environment_variables = {{"A", "1"}};
  o.max_run_duration_seconds = 60;
  o.gpus = 1;
  o.environment = {"pip", "req.txt", "", "", 0};
  o.docker.enabled = true;
  o.docker.base_image = "img:1";
  o.docker.arguments = {"--cap-add=SYS_PTRACE"};
  nlohmann::json j = nlohmann::json::object();
  RunOptionsToJson(o, &j);
  auto back = RunOptionsFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->environment_variables, o.environment_variables);
  EXPECT_EQ(back->gpus, 1);
  EXPECT_EQ(back->environment.file, "req.txt");
  EXPECT_EQ(back->docker.arguments, o.docker.arguments);
  EXPECT_TRUE(back->amlcompute.empty());
  EXPECT_FALSE(j.contains("amlcompute"));  // left out when unset
  o.amlcompute = {"STANDARD_D2_V2", "lowpriority", "pool", 3, true};
  j = nlohmann::json::object();
  RunOptionsToJson(o, &j);
  back = RunOptionsFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->amlcompute.vm_size, "STANDARD_D2_V2");
  EXPECT_EQ(back->amlcompute.vm_priority, "lowpriority");
  EXPECT_EQ(back->amlcompute.name, "pool");
  EXPECT_EQ(back->amlcompute.cluster_max_node_count, 3);
  EXPECT_TRUE(back->amlcompute.retain_cluster);
  auto legacy = RunOptionsFromJson(nlohmann::json{{"requirements_file", "r.txt"}});
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->environment.type, "pip");
  EXPECT_EQ(legacy->environment.file, "r.txt");
}

TEST(RunOptions, ErrorsNameTheField) {
  auto msg = [](const char* text) {
    auto r = RunOptionsFromJson(nlohmann::json::parse(text));
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_NE(msg(R"({"gpus": -1})").find("field 'gpus'"), std::string::npos);
  EXPECT_NE(msg(R"({"environment": {"type": "npm", "file": "x"}})").find("pip, conda"),
            std::string::npos);
  EXPECT_NE(msg(R"({"environment": {"type": "pip"}})").find("exactly one of"), std::string::npos);
  EXPECT_NE(msg(R"({"environment": {"type": "pip", "file": "../x"}})").find("environment.file"),
            std::string::npos);
  EXPECT_NE(msg(R"({"docker": {"enabled": true}})").find("docker.base_image"), std::string::npos);
  EXPECT_NE(msg(R"({"docker": {"enabled": true, "base_image": "i", "shm_size": "lots"}})")
                .find("docker.shm_size"),
            std::string::npos);
  EXPECT_NE(msg(R"({"environment_variables": {"FERRY_X": "1"}})").find("reserved"),
            std::string::npos);
  EXPECT_EQ(msg(R"({"amlcompute": {"vm_priority": "spot"}})"),
            "field 'amlcompute.vm_priority' must be dedicated or lowpriority (got 'spot')");
  EXPECT_NE(msg(R"({"amlcompute": {"cluster_max_node_count": -2}})")
                .find("field 'amlcompute.cluster_max_node_count'"),
            std::string::npos);
  EXPECT_NE(msg(R"({"amlcompute": {"retain_cluster": "yes"}})").find("amlcompute.retain_cluster"),
            std::string::npos);
  EXPECT_EQ(msg(R"({"environment": {"name": "torch"}})"),
            "ok");  // a reference, resolved by the server
  EXPECT_FALSE(ValidateEnvironmentName("../etc").ok());
  EXPECT_TRUE(ValidateEnvironmentName("torch-2.1_cuda.12").ok());
}

TEST(GlobTest, MatchesSegmentsAndAnyDepth) {
  EXPECT_TRUE(GlobMatch("dir/*.csv", "dir/a.csv"));
  EXPECT_FALSE(GlobMatch("dir/*.csv", "dir/sub/a.csv"));  // '*' stays in its segment
  EXPECT_TRUE(GlobMatch("dir/**/*.csv", "dir/a.csv"));    // '**' may be no segment
  EXPECT_TRUE(GlobMatch("dir/**/*.csv", "dir/x/y/a.csv"));
  EXPECT_FALSE(GlobMatch("dir/**/*.csv", "other/a.csv"));
  EXPECT_TRUE(GlobMatch("**", "a/b/c"));
  EXPECT_TRUE(GlobMatch("d?r/a*b*c.txt", "dir/aXbYc.txt"));
  EXPECT_FALSE(GlobMatch("d?r/a*b*c.txt", "dir/aXbY.txt"));
  EXPECT_TRUE(GlobMatch("/dir/a.csv", "dir/a.csv"));  // a leading '/' is the datastore's root
  EXPECT_EQ(GlobBase("dir/sub/**/*.csv"), "dir/sub");
  EXPECT_EQ(GlobBase("*.csv"), "");
  EXPECT_EQ(GlobBase("dir/a.csv"), "dir/a.csv");
  EXPECT_TRUE(HasGlob("a/*"));
  EXPECT_FALSE(HasGlob("a/b"));
}

TEST(RunOptionsTest, DataInputsAndOutputsRoundTripAndNameTheirFields) {
  nlohmann::json j = nlohmann::json::parse(R"({
    "inputs": [{"name": "train", "mode": "download", "path_on_compute": "data/train",
                "dataset": {"name": "iris", "version": "latest"}}],
    "outputs": [{"name": "model", "path": "out/{run-id}",
                 "register_on_complete": {"name": "trained"}}]})");
  auto o = RunOptionsFromJson(j);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_EQ(o->inputs.size(), 1u);
  EXPECT_EQ(o->inputs[0].mode, "download");
  EXPECT_EQ(o->inputs[0].dataset_version, 0);  // latest: the server fills it in
  EXPECT_EQ(o->outputs[0].register_name, "trained");
  nlohmann::json back = nlohmann::json::object();
  RunOptionsToJson(*o, &back);
  auto again = RunOptionsFromJson(back);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->inputs[0].path_on_compute, "data/train");
  EXPECT_EQ(again->outputs[0].path, "out/{run-id}");
  for (const auto& [body, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"inputs": [{"name": "1x", "dataset": {"name": "a"}}]})", "inputs[0].name"},
           {R"({"inputs": [{"name": "x", "mode": "fuse", "dataset": {}}]})", "inputs[0].mode"},
           {R"({"inputs": [{"name": "x"}]})", "inputs[0].dataset"},
           {R"({"inputs": [{"name": "x", "path_on_compute": "../up", "dataset": {}}]})",
            "inputs[0].path_on_compute"},
           {R"({"inputs": [{"name": "x", "dataset": {}}, {"name": "x", "dataset": {}}]})",
            "names two inputs"},
           {R"({"outputs": [{"name": "o-1"}]})", "outputs[0].name"}}) {
    auto bad = RunOptionsFromJson(nlohmann::json::parse(body));
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.status().message().find(words), std::string::npos) << bad.status().message();
  }
}

}  // namespace
}  // namespace ferry::model
