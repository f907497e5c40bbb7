// RunAgentWith against a fake server and a fake script runner, on real files in a temp home:
// the statuses a run goes through, what reaches the server (logs, metrics, artifacts), cancel,
// a server that drops requests for a while, the final flush, and a plan the agent cannot use.
#include "agent/agent.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/server_api.h"
#include "agent/supervisor.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "model/manifest.h"

namespace ferry::agent {
namespace {

using nlohmann::json;

// The server's side of the agent's calls, in memory, with the real server's rules: log bytes
// are written at their offset (a resend of what it has is a no-op, a post past its end is a
// gap), metric points are keyed by sequence number. Anything sent twice must be the same.
class FakeServer final : public ServerApi {
 public:
  json plan;
  std::map<std::string, std::string> blobs;  // hash -> content
  std::vector<json> statuses;
  std::string log;
  std::map<int64_t, model::MetricPoint> metrics;
  std::map<int64_t, model::RunValue> values;
  std::map<std::string, std::string> tags;
  json artifacts = json::array();  // from PostArtifacts
  std::vector<std::string> conflicts;
  int log_posts = 0, metric_posts = 0;
  // Set cancel_requested in acknowledgements once this many log bytes arrived (-1: never).
  int64_t cancel_after_log_bytes = -1;
  // The next `drop` log and metric posts fail (Unavailable): the first `lost_acks` of them
  // are stored and only their answer is lost, the rest never arrive.
  int drop = 0, lost_acks = 0;
  bool plan_unreachable = false;

  Result<json> GetPlan(int rank, std::chrono::seconds) override {
    if (plan_unreachable) return Status::Unavailable("no server is running");
    return plan;
  }
  Status PostStatus(const json& body) override {
    statuses.push_back(body);
    return Status::Ok();
  }
  Result<ShipAck> PostLogs(uint64_t offset, int rank, std::string_view bytes) override {
    ++log_posts;
    bool store = true, answer = true;
    Drop(&store, &answer);
    if (store) {
      if (offset > log.size()) return ShipAck{log.size(), false, true};
      std::string_view have = std::string_view(log).substr(offset);
      size_t common = std::min(have.size(), bytes.size());
      if (have.substr(0, common) != bytes.substr(0, common)) {
        conflicts.push_back("log bytes at " + std::to_string(offset) + " differ");
      }
      if (bytes.size() > have.size()) log.append(bytes.substr(have.size()));
    }
    if (!answer) return Status::Unavailable("connection reset");
    return ShipAck{log.size(), CancelNow(), false};
  }
  Result<ShipAck> PostValues(const std::vector<model::RunValue>& vs) override {
    for (const auto& v : vs) values[v.seq] = v;
    return ShipAck{0, CancelNow(), false};
  }
  Result<ShipAck> PostMetrics(const std::vector<model::MetricPoint>& points) override {
    ++metric_posts;
    bool store = true, answer = true;
    Drop(&store, &answer);
    if (store) {
      for (const auto& p : points) {
        auto [it, added] = metrics.emplace(p.seq, p);
        if (!added && (it->second.key != p.key || it->second.value != p.value)) {
          conflicts.push_back("metric " + std::to_string(p.seq) + " differs");
        }
      }
    }
    if (!answer) return Status::Unavailable("connection reset");
    return ShipAck{0, CancelNow(), false};
  }
  Status PostTags(const std::map<std::string, std::string>& t) override {
    for (auto& [k, v] : t) tags[k] = v;
    return Status::Ok();
  }
  Result<std::string> GetBlob(const std::string& hash) override {
    auto it = blobs.find(hash);
    if (it == blobs.end()) return Status::NotFound("blob " + hash);
    return it->second;
  }
  Status StreamBlob(const std::string& hash, const std::function<Status()>& begin,
                    const std::function<Status(std::string_view)>& write) override {
    auto it = blobs.find(hash);
    if (it == blobs.end()) return Status::NotFound("blob " + hash);
    FERRY_RETURN_IF_ERROR(begin());
    return write(it->second);
  }
  Result<std::string> FetchBlobs(const std::vector<std::string>&) override {
    return Status::FailedPrecondition("not used without a blob cache");
  }
  Status PutBlobs(std::string_view records) override {
    while (!records.empty()) {
      size_t nl = records.find('\n');
      if (nl == std::string_view::npos) return Status::InvalidArgument("bad blob records");
      std::string_view head = records.substr(0, nl);
      size_t sp = head.find(' ');
      std::string hash(head.substr(0, sp));
      size_t len = std::stoul(std::string(head.substr(sp + 1)));
      std::string content(records.substr(nl + 1, len));
      if (Sha256Hex(content) != hash) return Status::InvalidArgument("blob " + hash + " corrupt");
      blobs[hash] = content;
      records.remove_prefix(nl + 1 + len);
    }
    return Status::Ok();
  }
  Status PutBlobFrom(const std::string& hash,
                     const std::function<Result<std::unique_ptr<ByteSource>>()>& open) override {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, open());
    FERRY_ASSIGN_OR_RETURN(std::string content, ReadWhole(*source));
    if (Sha256Hex(content) != hash) return Status::InvalidArgument("blob " + hash + " corrupt");
    blobs[hash] = content;
    ++streamed_blobs;
    return Status::Ok();
  }
  int streamed_blobs = 0;
  Status PostArtifacts(const json& files) override {
    for (const auto& f : files) artifacts.push_back(f);
    return Status::Ok();
  }
  std::string Url() override { return ""; }
  void SetInterruptible(bool) override {}

  std::vector<std::string> StatusNames() const {
    std::vector<std::string> names;
    for (const auto& s : statuses) names.push_back(s.value("status", ""));
    return names;
  }
  const json& Final() const { return statuses.back(); }

 private:
  void Drop(bool* store, bool* answer) {
    if (drop <= 0) return;
    --drop;
    *answer = false;
    if (lost_acks > 0) {
      --lost_acks;
    } else {
      *store = false;
    }
  }
  bool CancelNow() const {
    return cancel_after_log_bytes >= 0 &&
           static_cast<int64_t>(log.size()) >= cancel_after_log_bytes;
  }
};

// What a fake script does: at start it writes `output` to its stdout, `metric_lines` to
// FERRY_METRICS_FILE and `files` into its working directory; it exits after `polls` looks
// (-1: only when signalled), writing `output_at_exit` and `metrics_at_exit` as it goes.
struct ScriptSpec {
  std::string output;
  std::string metric_lines;
  std::map<std::string, std::string> files;
  std::string output_at_exit;
  std::string metrics_at_exit;
  int exit_code = 0;
  int polls = 3;
};

void Append(const std::string& path, const std::string& bytes) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << path;
  ASSERT_TRUE(WriteAll(fd.get(), bytes, path).ok());
}

class FakeScript final : public Script {
 public:
  FakeScript(const ScriptSpec& spec, const SpawnOptions& so, std::vector<int>* signals)
      : spec_(spec), so_(so), signals_(signals) {}
  pid_t pid() const override { return 0; }
  std::optional<int> TryWait() override {
    if (status_) return status_;
    if (!signals_->empty() && (signals_->back() == SIGTERM || signals_->back() == SIGKILL)) {
      Exit();
      status_ = signals_->back();  // killed by the signal: WIFSIGNALED
    } else if (spec_.polls >= 0 && ++polls_ >= spec_.polls) {
      Exit();
      status_ = spec_.exit_code << 8;
    }
    return status_;
  }
  int Wait() override {
    while (!TryWait()) signals_->push_back(SIGKILL);
    return *status_;
  }
  void SignalGroup(int sig) override { signals_->push_back(sig); }
  void Unguard() override { unguarded_ = true; }

 private:
  void Exit() {
    if (!spec_.output_at_exit.empty()) {
      ASSERT_TRUE(WriteAll(so_.stdout_fd, spec_.output_at_exit, "stdout").ok());
    }
    if (!spec_.metrics_at_exit.empty())
      Append(so_.env_set.at("FERRY_METRICS_FILE"), spec_.metrics_at_exit);
  }
  ScriptSpec spec_;
  SpawnOptions so_;
  std::vector<int>* signals_;
  std::optional<int> status_;
  int polls_ = 0;
  bool unguarded_ = false;
};

class FakeRunner final : public ScriptRunner {
 public:
  ScriptSpec spec;
  std::vector<SpawnOptions> started;
  std::vector<int> signals;  // sent to the script's group
  bool fail_start = false;

  Result<std::unique_ptr<Script>> Start(const SpawnOptions& so, const ScriptGuard&) override {
    if (fail_start) return Status::NotFound("python3: not found");
    started.push_back(so);
    if (!spec.output.empty()) {
      EXPECT_TRUE(WriteAll(so.stdout_fd, spec.output, "stdout").ok());
    }
    if (!spec.metric_lines.empty()) Append(so.env_set.at("FERRY_METRICS_FILE"), spec.metric_lines);
    for (const auto& [path, content] : spec.files) {
      std::string full = JoinPath(so.cwd, path);
      EXPECT_TRUE(MakeDirs(full.substr(0, full.rfind('/'))).ok());
      EXPECT_TRUE(WriteFileReplace(full, content).ok());
    }
    return std::unique_ptr<Script>(std::make_unique<FakeScript>(spec, so, &signals));
  }
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_agent_test_XXXXXX";
    home_ = ::mkdtemp(tmpl);
    ::setenv("FERRY_SYSTEM_METRICS_INTERVAL", "0", 1);
    ::setenv("FERRY_WORKDIR_POOL", "0", 1);
    ::unsetenv("FERRY_KEEP_WORK_DIRS");
    ::unsetenv("FERRY_PREEMPTIBLE");
    options_.run_id = "run-1";
    options_.home = home_;
    options_.token = "t";
    options_.cancel_grace_s = 0.2;
    // The snapshot: one script file.
    std::string script = "print('hello')\n";
    std::string h = Sha256Hex(script);
    server_.blobs[h] = script;
    model::Manifest m;
    m.entries.push_back({"train.py", 0644, script.size(), h});
    std::string text = m.Serialize();
    std::string id = Sha256Hex(text);
    server_.blobs[id] = text;
    server_.plan = {{"run",
                     {{"id", "run-1"},
                      {"status", "Preparing"},
                      {"script", "train.py"},
                      {"arguments", {"--lr", "0.1"}},
                      {"experiment", "exp"},
                      {"attempt", 1}}},
                    {"manifest_id", id},
                    {"log_size", 0},
                    {"next_metric_seq", 0}};
  }
  void TearDown() override { (void)RemoveAll(home_); }

  int Run() { return RunAgentWith(options_, &server_, &runner_); }

  std::string home_;
  AgentOptions options_;
  FakeServer server_;
  FakeRunner runner_;
};

TEST_F(AgentTest, HappyPathShipsEverythingAndCompletes) {
  runner_.spec.output = "epoch 1\nepoch 2\n";
  runner_.spec.metric_lines =
      "{\"k\":\"loss\",\"v\":0.5,\"s\":0}\n{\"k\":\"loss\",\"v\":0.25,\"s\":1}\n"
      "{\"tags\":{\"phase\":\"train\"}}\n";
  runner_.spec.files = {{"outputs/model.txt", "weights"}};
  ASSERT_EQ(Run(), 0);

  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Running", "Completed"}));
  const json& fin = server_.Final();
  EXPECT_EQ(fin["exit_code"], 0);
  EXPECT_EQ(fin["finalizing_reason"], "script exited with code 0");
  ASSERT_EQ(runner_.started.size(), 1u);
  const auto& argv = runner_.started[0].argv;
  EXPECT_EQ(std::vector<std::string>(argv.begin(), argv.end()),
            (std::vector<std::string>{"python3", "train.py", "--lr", "0.1"}));
  EXPECT_EQ(runner_.started[0].env_set.at("FERRY_RUN_ID"), "run-1");
  EXPECT_EQ(runner_.started[0].env_set.count("FERRY_RUN_TOKEN"), 0u);
  EXPECT_TRUE(runner_.started[0].die_with_parent);

  EXPECT_EQ(server_.log, "epoch 1\nepoch 2\n");
  ASSERT_EQ(server_.metrics.size(), 2u);
  EXPECT_EQ(server_.metrics.at(0).key, "loss");
  EXPECT_EQ(server_.metrics.at(1).value, 0.25);
  EXPECT_EQ(server_.metrics.at(1).step, 1);
  EXPECT_EQ(server_.tags.at("phase"), "train");
  EXPECT_TRUE(server_.conflicts.empty());

  std::map<std::string, std::string> artifacts;
  for (const auto& a : fin["artifacts"]) {
    artifacts[a["path"]] = server_.blobs.at(a["hash"].get<std::string>());
  }
  EXPECT_EQ(artifacts.at("outputs/model.txt"), "weights");
  EXPECT_EQ(artifacts.at("logs/std_log.txt"), "epoch 1\nepoch 2\n");
  EXPECT_EQ(artifacts.count("logs/ferry-agent.txt"), 1u);
  // The working copy is freed after the final status (FERRY_WORKDIR_POOL=0: removed).
  EXPECT_FALSE(PathExists(JoinPath(home_, "work/run-1")));
}

TEST_F(AgentTest, DatasetInputsAreMadeOncePerNodeAndOutputsGetADirectory) {
  // A dataset version of two files in the workspace's store.
  model::Manifest m;
  std::vector<std::string> data_blobs;
  for (const auto& [path, content] :
       std::map<std::string, std::string>{{"a.csv", "1,2\n"}, {"sub/b.csv", "3\n"}}) {
    server_.blobs[Sha256Hex(content)] = content;
    data_blobs.push_back(Sha256Hex(content));
    m.entries.push_back({path, 0644, content.size(), Sha256Hex(content)});
  }
  const std::string manifest = Sha256Hex(m.Serialize());
  server_.blobs[manifest] = m.Serialize();
  json input = {{"name", "train"},
                {"mode", "mount"},
                {"dataset",
                 {{"name", "d"},
                  {"version", 1},
                  {"manifest", manifest},
                  {"datastore", "workspaceblobstore"}}}};
  json copy = input;
  copy["name"] = "copy";
  copy["mode"] = "download";
  server_.plan["run"]["inputs"] = {input, copy};
  server_.plan["run"]["outputs"] = {
      {{"name", "model"}, {"datastore", "workspaceblobstore"}, {"path", "out"}}};
  server_.plan["run"]["arguments"] = {
      "--data=DatasetConsumptionConfig:train", "DatasetConsumptionConfig:copy",
      "OutputFileDatasetConfig:model", "DatasetConsumptionConfig:x"};
  ASSERT_EQ(Run(), 0);
  const SpawnOptions& so = runner_.started.at(0);
  const std::string tree = JoinPath(home_, "datacache/" + manifest);
  const std::string work = so.cwd;
  EXPECT_EQ(so.argv.at(2), "--data=" + tree);
  EXPECT_EQ(so.argv.at(3), JoinPath(home_, "work/run-1.agent/inputs/copy"));
  EXPECT_EQ(so.argv.at(4), work + "/outputs/datasets/model");
  EXPECT_EQ(so.argv.at(5), "DatasetConsumptionConfig:x");  // no such input: left as it is
  EXPECT_EQ(so.env_set.at("FERRY_INPUT_train"), tree);
  EXPECT_EQ(*ReadFile(tree + "/sub/b.csv"), "3\n");
  struct stat st {};
  ASSERT_EQ(::stat((tree + "/a.csv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);  // the node's copy is read-only
  EXPECT_EQ(json::parse(so.env_set.at("FERRY_INPUTS"))["copy"]["mode"], "download");
  std::string info;
  for (const auto& a : server_.Final()["artifacts"]) {
    if (a["path"] == "logs/ferry-agent.txt") info = server_.blobs.at(a["hash"].get<std::string>());
  }
  EXPECT_NE(info.find("input 'train': its files fetched"), std::string::npos) << info;

  // The next run on the node finds the files there: the server need not have them.
  for (const auto& h : data_blobs) server_.blobs.erase(h);
  server_.plan["run"]["inputs"] = json::array({input});
  runner_.started.clear();
  ASSERT_EQ(Run(), 0) << server_.Final().dump();
  ASSERT_EQ(runner_.started.size(), 1u) << server_.Final().dump();
  EXPECT_EQ(runner_.started.at(0).env_set.at("FERRY_INPUT_train"), tree);
}

TEST_F(AgentTest, AnExternalFileThatChangedFailsTheRunNamingIt) {
  const std::string root = JoinPath(home_, "shared");
  ASSERT_TRUE(MakeDirs(root + "/raw").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/raw/a.csv", "now longer\n").ok());
  json files = {
      {"format", "ferry-external-files/1"},
      {"datastore", "shared"},
      {"files", {{{"path", "a.csv"}, {"source", "raw/a.csv"}, {"size", 4}, {"modified_at", 1.0}}}}};
  const std::string manifest = Sha256Hex(files.dump());
  server_.blobs[manifest] = files.dump();
  server_.plan["run"]["inputs"] = {
      {{"name", "raw"},
       {"mode", "mount"},
       {"external_root", root},
       {"dataset",
        {{"name", "raw"}, {"version", 2}, {"manifest", manifest}, {"datastore", "shared"}}}}};
  Run();
  ASSERT_TRUE(runner_.started.empty());
  const json& fin = server_.Final();
  EXPECT_EQ(fin["status"], "Failed");
  const std::string error = fin["error"].get<std::string>();
  EXPECT_NE(error.find("'raw/a.csv' of datastore 'shared' changed since dataset version raw:2"),
            std::string::npos)
      << error;
}

TEST_F(AgentTest, LargeOutputsAreFinalizingFirstThenRegistered) {
  for (int i = 0; i < 1001; ++i) runner_.spec.files["outputs/f" + std::to_string(i)] = "x";
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.StatusNames(),
            (std::vector<std::string>{"Running", "Finalizing", "Completed"}));
  EXPECT_FALSE(server_.Final().contains("artifacts"));
  EXPECT_GE(server_.artifacts.size(), 1001u);
}

TEST_F(AgentTest, ALargeOutputIsHashedAndUploadedInPiecesBesideSmallOnesInABatch) {
  std::string big(20 << 20, '\0');  // over the 16 MiB at which an output goes alone
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  runner_.spec.files = {{"outputs/model.bin", big}, {"outputs/small.txt", "small"}};
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.StatusNames(),
            (std::vector<std::string>{"Running", "Finalizing", "Completed"}));
  EXPECT_EQ(server_.streamed_blobs, 1);  // only the large one went through PutBlobFrom
  std::map<std::string, json> by_path;
  for (const auto& a : server_.artifacts) by_path[a["path"]] = a;
  ASSERT_TRUE(by_path.count("outputs/model.bin"));
  EXPECT_EQ(by_path["outputs/model.bin"]["hash"], Sha256Hex(big));
  EXPECT_EQ(by_path["outputs/model.bin"]["size"], big.size());
  EXPECT_EQ(server_.blobs.at(Sha256Hex(big)), big);
  EXPECT_EQ(server_.blobs.at(Sha256Hex("small")), "small");
}

TEST_F(AgentTest, ScriptFailureIsFailedWithItsExitCodeAndLastLines) {
  runner_.spec.output = "Traceback (most recent call last):\nValueError: bad\n";
  runner_.spec.exit_code = 3;
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Running", "Failed"}));
  const json& fin = server_.Final();
  EXPECT_EQ(fin["exit_code"], 3);
  EXPECT_EQ(fin["reason"], "script exited with code 3");
  EXPECT_NE(fin["error"].get<std::string>().find("ValueError: bad"), std::string::npos);
}

TEST_F(AgentTest, ScriptThatCannotStartFailsTheRun) {
  runner_.fail_start = true;
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Failed"}));
  EXPECT_EQ(server_.Final()["reason"], "the script could not be started");
}

TEST_F(AgentTest, CancelMidRunStopsTheScriptAndIsCanceled) {
  runner_.spec.output = "working\n";
  runner_.spec.polls = -1;  // runs until it is stopped
  runner_.spec.output_at_exit = "got SIGTERM\n";
  server_.cancel_after_log_bytes = 1;  // the user cancels once the run has started
  ASSERT_EQ(Run(), 0);
  ASSERT_FALSE(runner_.signals.empty());
  EXPECT_EQ(runner_.signals.front(), SIGTERM);
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Running", "Canceled"}));
  EXPECT_EQ(server_.Final()["reason"], "canceled by the user");
  EXPECT_EQ(server_.Final()["exit_code"], 128 + SIGTERM);
  EXPECT_EQ(server_.log, "working\ngot SIGTERM\n");
}

TEST_F(AgentTest, CanceledBeforeStartRunsNothing) {
  server_.plan["run"]["cancel_requested"] = true;
  ASSERT_EQ(Run(), 0);
  EXPECT_TRUE(runner_.started.empty());
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Canceled"}));
}

TEST_F(AgentTest, ServerDroppingRequestsLosesAndDoublesNothing) {
  std::string out, lines;
  for (int i = 0; i < 50; ++i) {
    out += "line " + std::to_string(i) + "\n";
    lines += "{\"k\":\"m\",\"v\":" + std::to_string(i) + ",\"s\":" + std::to_string(i) + "}\n";
  }
  runner_.spec.output = out;
  runner_.spec.metric_lines = lines;
  runner_.spec.polls = 25;
  // Six failed posts of each kind: the first four reach the server but their answers are
  // lost, the others never arrive. The agent sends again from what it knows was acknowledged.
  server_.drop = 12;
  server_.lost_acks = 8;
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.drop, 0);
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Running", "Completed"}));
  EXPECT_EQ(server_.log, out);
  ASSERT_EQ(server_.metrics.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(server_.metrics.at(i).value, i) << i;
    EXPECT_EQ(server_.metrics.at(i).step, i) << i;
  }
  EXPECT_TRUE(server_.conflicts.empty()) << server_.conflicts.front();
  EXPECT_GT(server_.log_posts + server_.metric_posts, 12);
}

TEST_F(AgentTest, FinalFlushShipsWhatTheScriptWroteAsItEnded) {
  runner_.spec.output = "start\n";
  runner_.spec.polls = 1;
  runner_.spec.output_at_exit = "last words\n";
  runner_.spec.metrics_at_exit = "{\"k\":\"acc\",\"v\":0.9}";  // no newline: complete anyway
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.log, "start\nlast words\n");
  ASSERT_EQ(server_.metrics.size(), 1u);
  EXPECT_EQ(server_.metrics.begin()->second.key, "acc");
  EXPECT_EQ(server_.Final()["status"], "Completed");
}

TEST_F(AgentTest, NonNumericValuesShipApartFromThePoints) {
  runner_.spec.metric_lines =
      "{\"k\":\"loss\",\"v\":0.5,\"s\":0}\n"
      "{\"k\":\"model\",\"x\":\"ridge\",\"y\":\"string\",\"s\":null,\"t\":5.5}\n"
      "{\"k\":\"citrus\",\"x\":{\"fruit\":\"lime\",\"size\":3},\"y\":\"row\",\"s\":2}\n"
      "{\"k\":\"bad\",\"v\":\"text\"}\n";  // a str in "v" is no number: skipped
  ASSERT_EQ(Run(), 0);
  ASSERT_EQ(server_.metrics.size(), 1u);
  EXPECT_EQ(server_.metrics.at(0).key, "loss");
  ASSERT_EQ(server_.values.size(), 2u);
  // Sequence numbers are the lines': unique in the run, shared with the points.
  const model::RunValue& s = server_.values.at(1);
  EXPECT_EQ(s.key, "model");
  EXPECT_EQ(s.type, "string");
  EXPECT_EQ(s.value, "\"ridge\"");
  EXPECT_EQ(s.time, 5.5);
  const model::RunValue& row = server_.values.at(2);
  EXPECT_EQ(row.type, "row");
  EXPECT_EQ(json::parse(row.value), json::parse("{\"fruit\":\"lime\",\"size\":3}"));
  EXPECT_EQ(row.step, 2);
}

TEST_F(AgentTest, RequeuedRunContinuesItsLogAndMetrics) {
  server_.log = "earlier attempt\n";
  server_.plan["log_size"] = server_.log.size();
  server_.plan["next_metric_seq"] = 7;
  server_.plan["run"]["status"] = "Queued";
  server_.plan["run"]["attempt"] = 2;
  runner_.spec.output = "again\n";
  runner_.spec.metric_lines = "{\"k\":\"loss\",\"v\":1}\n";
  ASSERT_EQ(Run(), 0);
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Preparing", "Running", "Completed"}));
  EXPECT_EQ(server_.log, "earlier attempt\nagain\n");
  ASSERT_EQ(server_.metrics.size(), 1u);
  EXPECT_EQ(server_.metrics.begin()->first, 7);
  EXPECT_EQ(runner_.started[0].env_set.at("FERRY_ATTEMPT"), "2");
}

TEST_F(AgentTest, BadPlanIsAClearErrorNotACrash) {
  server_.plan.erase("manifest_id");
  EXPECT_EQ(Run(), 2);
  EXPECT_TRUE(runner_.started.empty());
  ASSERT_EQ(server_.StatusNames(), (std::vector<std::string>{"Failed"}));
  EXPECT_NE(server_.Final()["error"].get<std::string>().find("manifest_id"), std::string::npos);
}

TEST_F(AgentTest, UnreachablePlanEndsTheAgentWithoutAStatus) {
  server_.plan_unreachable = true;
  EXPECT_EQ(Run(), 2);
  EXPECT_TRUE(server_.statuses.empty());
}

TEST_F(AgentTest, MissingSnapshotBlobFailsPreparing) {
  server_.blobs.clear();
  ASSERT_EQ(Run(), 0);
  EXPECT_TRUE(runner_.started.empty());
  EXPECT_EQ(server_.StatusNames(), (std::vector<std::string>{"Failed"}));
  EXPECT_EQ(server_.Final()["reason"], "preparing the working directory failed");
}

}  // namespace
}  // namespace ferry::agent
