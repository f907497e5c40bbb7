// Unit tests for the kind table (kind.h): every row is whole, and each kind's attach refuses
// a bad request before it touches anything.
#include "compute/kind.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/fs.h"
#include "compute/ssh/ssh_target.h"

namespace ferry::compute {
namespace {

using nlohmann::json;

TEST(Kinds, EveryRowIsWhole) {
  std::set<std::string> names;
  for (const auto& k : Kinds()) {
    SCOPED_TRACE(k.name);
    EXPECT_TRUE(names.insert(k.name).second) << "two rows named " << k.name;
    EXPECT_NE(std::string(k.help), "");
    if (!k.attach) continue;
    // What can be attached can be made, is added by a CLI verb, and has an SDK class.
    EXPECT_NE(k.make, nullptr);
    EXPECT_TRUE(std::string(k.verb) == "attach" || std::string(k.verb) == "create") << k.verb;
    EXPECT_NE(std::string(k.sdk_class), "");
    std::set<std::string> flags;
    for (const auto& o : k.options) {
      EXPECT_EQ(std::string(o.flag).rfind("--", 0), 0u) << o.flag;
      EXPECT_TRUE(flags.insert(o.flag).second) << "flag twice: " << o.flag;
      if (o.type != KindOption::Type::kNodeSize) {
        EXPECT_NE(std::string(o.field), "") << o.flag;
      }
      EXPECT_NE(std::string(o.help), "") << o.flag;
      // Studio's form: a label; bounds only on integers, choices only on text.
      EXPECT_NE(std::string(o.label), "") << o.flag;
      if (o.min != KindOption::kNoBound || o.max != KindOption::kNoBound) {
        EXPECT_EQ(o.type, KindOption::Type::kInt) << o.flag;
      }
      if (o.min != KindOption::kNoBound && o.max != KindOption::kNoBound) {
        EXPECT_LT(o.min, o.max) << o.flag;
      }
      if (*o.choices) {
        EXPECT_EQ(o.type, KindOption::Type::kString) << o.flag;
      }
    }
    // A condition names another option of the row, by a value that option can take.
    for (const auto& o : k.options) {
      std::string when = o.shown_when;
      if (when.empty()) continue;
      auto eq = when.find('=');
      ASSERT_NE(eq, std::string::npos) << o.flag << ": " << when;
      std::string field = when.substr(0, eq), value = when.substr(eq + 1);
      const KindOption* other = nullptr;
      for (const auto& p : k.options) {
        if (field == p.field) other = &p;
      }
      ASSERT_NE(other, nullptr) << o.flag << ": no option fills '" << field << "'";
      EXPECT_NE(other, &o) << o.flag;
      if (other->type == KindOption::Type::kFlag) {
        EXPECT_TRUE(value == "true" || value == "false") << o.flag << ": " << when;
      } else {
        std::string bars = std::string("|") + other->choices + "|";
        EXPECT_NE(bars.find("|" + value + "|"), std::string::npos) << o.flag << ": " << when;
      }
    }
  }
  EXPECT_TRUE(names.count("local"));
}

TEST(Kinds, FormFieldsReachTheJson) {
  json j = json::parse(KindsJson());
  auto option = [&](const std::string& kind, const std::string& flag) {
    for (const auto& k : j["kinds"]) {
      if (k["name"] != kind) continue;
      for (const auto& o : k["options"]) {
        if (o["flag"] == flag) return o;
      }
    }
    return json();
  };
  json port = option("ssh", "--port");
  EXPECT_EQ(port["label"], "Port");
  EXPECT_EQ(port["min"], 1);
  EXPECT_EQ(port["max"], 65535);
  EXPECT_EQ(port["shown_when"], "");
  json provider = option("cluster", "--provider");
  EXPECT_EQ(provider["choices"], json({"netns", "command"}));
  EXPECT_FALSE(provider.contains("min"));
  EXPECT_EQ(option("cluster", "--start-command")["shown_when"], "provider=command");
  EXPECT_EQ(option("slurm", "--key")["shown_when"], "local=false");
  EXPECT_EQ(option("ssh", "--key")["shown_when"], "");  // the shared helper's rows stay apart
  EXPECT_EQ(option("cluster", "--node-size")["fields"], json({"cpus", "memory_mb", "gpus"}));
  // Which kinds have a host key to trust again: those with a trust operation.
  for (const auto& k : j["kinds"]) {
    EXPECT_EQ(k["host_key"], FindKind(k["name"].get<std::string>())->trust != nullptr) << k;
  }
  EXPECT_EQ(j["kinds"][0]["host_key"], false);  // local
}

TEST(Kinds, FindsByNameOnly) {
  ASSERT_NE(FindKind("ssh"), nullptr);
  EXPECT_EQ(std::string(FindKind("slurm")->sdk_class), "SlurmCompute");
  EXPECT_TRUE(FindKind("instance")->powered);
  EXPECT_TRUE(FindKind("cluster")->provisions);
  EXPECT_EQ(FindKind("SSH"), nullptr);
  EXPECT_EQ(FindKind(""), nullptr);
  EXPECT_EQ(FindKind("local")->attach, nullptr);
  EXPECT_EQ(AttachableKindNames(), "ssh, instance, slurm, cluster");
}

TEST(Kinds, TableAsJsonHasEveryOption) {
  json j = json::parse(KindsJson());
  ASSERT_EQ(j["kinds"].size(), Kinds().size());
  for (size_t i = 0; i < Kinds().size(); ++i) {
    EXPECT_EQ(j["kinds"][i]["name"], Kinds()[i].name);
    EXPECT_EQ(j["kinds"][i]["options"].size(), Kinds()[i].options.size());
    for (const auto& o : j["kinds"][i]["options"]) {
      EXPECT_TRUE(o["choices"].is_array()) << o;
      EXPECT_TRUE(o["label"].is_string() && !o["label"].get<std::string>().empty()) << o;
    }
  }
  EXPECT_EQ(j["kinds"][1]["options"][0]["type"], "string");
}

TEST(Kinds, ServerUrlAndBind) {
  EXPECT_EQ(ServerUrl("10.0.0.1", 80), "http://10.0.0.1:80");
  EXPECT_EQ(ServerUrl("fd00::1", 80), "http://[fd00::1]:80");
  EXPECT_TRUE(BindUnreachableForNodes("127.0.0.1"));
  EXPECT_TRUE(BindUnreachableForNodes("0.0.0.0"));
  EXPECT_FALSE(BindUnreachableForNodes("10.0.0.1"));
  // An SSH host's reverse tunnel reaches the server where it listens.
  EXPECT_EQ(ReverseTunnelAddress(""), "127.0.0.1");
  EXPECT_EQ(ReverseTunnelAddress("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(ReverseTunnelAddress("10.77.8.1"), "10.77.8.1");
  EXPECT_EQ(ReverseTunnelAddress("fd00::1"), "[fd00::1]");
}

// Each kind's attach validates the request before it probes, writes or starts anything.
class KindAttach : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-kind-XXXXXX";
    home_ = ::mkdtemp(tmpl);
    host_.home = home_;
    host_.server_port = [] { return 8123; };
    host_.server_bind = "127.0.0.1";
    host_.user_exists = [](const std::string& u) { return u == "ann"; };
  }
  void TearDown() override { (void)RemoveAll(home_); }
  Status Attach(const char* kind, json body) {
    body["kind"] = kind;
    return FindKind(kind)->attach("t1", body, host_).status();
  }
  std::string home_;
  KindHost host_;
};

TEST_F(KindAttach, SshNamesWhatIsMissingOrWrong) {
  EXPECT_EQ(Attach("ssh", {{"user", "u"}}).message(), "field 'host' is required");
  EXPECT_EQ(Attach("ssh", {{"host", "h"}, {"user", "u"}}).message(),
            "give exactly one of a key file (--key) or a password (--password-file)");
  EXPECT_EQ(Attach("ssh", {{"host", "h"}, {"user", "u"}, {"key_file", "k"}}).message(),
            "field 'key_file' must be an absolute path on the server's machine");
  EXPECT_EQ(Attach("ssh", {{"host", "h"}, {"user", "u"}, {"max_concurrent_runs", 0}}).message(),
            "field 'max_concurrent_runs' must be 1-1024, got 0");
  EXPECT_EQ(Attach("instance", {{"host", "h"}, {"user", "u"}, {"owner", "bob"}}).message(),
            "owner 'bob' is not a user; create it with 'ferry user add'");
  EXPECT_FALSE(PathExists(JoinPath(home_, "ssh")));  // nothing written before the checks pass
}

TEST_F(KindAttach, SlurmNeedsOneWayInAndANodeReachableServer) {
  EXPECT_EQ(Attach("slurm", {{"local", true}, {"login", "u@h"}, {"shared_dir", "/s"}}).message(),
            "give exactly one of --local or --login USER@HOST");
  EXPECT_EQ(Attach("slurm", {{"local", false}, {"shared_dir", "/s"}}).message(),
            "give exactly one of --local or --login USER@HOST");
  EXPECT_EQ(Attach("slurm", {{"login", "host-only"}, {"shared_dir", "/s"}}).message(),
            "field 'login': 'host-only' is not USER@HOST");
  EXPECT_EQ(Attach("slurm", {{"local", true}, {"shared_dir", "rel"}}).message(),
            "field 'shared_dir' must be an absolute path that every node sees");
  Status st = Attach("slurm", {{"local", true}, {"shared_dir", "/s"}});
  EXPECT_NE(st.message().find("the cluster's nodes must reach this server"), std::string::npos)
      << st.message();
}

TEST_F(KindAttach, ClusterValidatesAndAsksTheQuotaFirst) {
  EXPECT_EQ(Attach("cluster", {{"max_nodes", "2"}, {"provider", "netns"}}).message(),
            "field 'max_nodes' must be an integer");
  int asked = 0;
  host_.check_quota = [&](const std::string& name, int64_t cores, int64_t gpus) {
    ++asked;
    EXPECT_EQ(name, "t1");
    EXPECT_EQ(cores, 3 * 2);
    EXPECT_EQ(gpus, 0);
    return Status::FailedPrecondition("over quota");
  };
  EXPECT_EQ(Attach("cluster", {{"max_nodes", 3}, {"cpus", 2}, {"provider", "netns"}}).message(),
            "over quota");
  EXPECT_EQ(asked, 1);
  EXPECT_FALSE(PathExists(JoinPath(home_, "clusters")));
}

}  // namespace
}  // namespace ferry::compute
