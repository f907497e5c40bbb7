// Unit tests of the REST API's admission and handlers: an Api over a real SqliteStore and blob
// store in a temp dir, a fake compute target, and HttpRequests built by hand (no sockets).
#include "server/api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <variant>

#include "common/byte_source.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/seal.h"
#include "compute/compute_target.h"
#include "model/manifest.h"
#include "scheduler/scheduler.h"
#include "server/auth.h"
#include "server/log_store.h"
#include "server/targets.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace ferry::server {
namespace {

using nlohmann::json;

class FixedClock final : public Clock {
 public:
  double Now() const override { return 1700000000.0; }
};

// A target that launches nothing (the scheduler is never started here).
class FakeTarget final : public compute::ComputeTarget {
 public:
  const std::string& name() const override { return name_; }
  std::string kind() const override { return "local"; }
  compute::Capabilities capabilities() const override { return {}; }
  int max_concurrent_runs() const override { return 2; }
  Result<std::string> Launch(const compute::RunPlan&) override { return std::string("job"); }
  std::vector<compute::JobState> Poll(const std::vector<std::string>& handles) override {
    return std::vector<compute::JobState>(handles.size(), compute::JobState::kAlive);
  }
  Status Cancel(const std::string&) override { return Status::Ok(); }
  std::string Describe() const override { return "{}"; }

 private:
  std::string name_ = "local";
};

struct Reply {
  int status = 0;
  std::string body;
  json j;  // the body parsed, when it is JSON
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry_api_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = store::OpenSqliteMetadataStore(dir_ + "/ferry.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto blobs = store::OpenFsBlobStore(dir_ + "/blobs");
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    logs_ = std::make_unique<LogStore>(dir_ + "/runs");
    scheduler::SchedulerOptions so;
    so.token_for = [](const std::string& id) { return RunToken(kSecret, id); };
    sched_ = std::make_unique<scheduler::Scheduler>(store_.get(), &clock_, so);
    sched_->AddTarget(&target_);
    ASSERT_TRUE(store_->EnsureTarget({"local", "local", "{}", clock_.Now()}).ok());
    TargetManagerDeps td;
    td.store = store_.get();
    td.scheduler = sched_.get();
    td.clock = &clock_;
    td.home = dir_;
    targets_ = std::make_unique<TargetManager>(td);
    users_ = std::make_unique<UserDirectory>(store_.get());
    reader_ = AddUser("rita", "reader");
    contributor_ = AddUser("carl", "contributor");
    other_contributor_ = AddUser("cora", "contributor");
    admin_ = AddUser("ada", "admin");

    ApiDeps d;
    d.store = store_.get();
    d.blobs = blobs_.get();
    d.logs = logs_.get();
    d.scheduler = sched_.get();
    d.targets = targets_.get();
    d.clock = &clock_;
    d.users = users_.get();
    d.workspace_token = kWorkspaceToken;
    d.run_secret = kSecret;
    auto sealer = Sealer::Open(dir_ + "/seal.key");
    ASSERT_TRUE(sealer.ok()) << sealer.status().ToString();
    sealer_.emplace(std::move(sealer).value());
    d.sealer = &*sealer_;
    d.notify = [this](const std::string& channel) { notified_.push_back(channel); };
    d.shutdown = [this] { shutdown_ = true; };
    api_ = std::make_unique<Api>(std::move(d));
  }

  void TearDown() override {
    api_.reset();
    targets_.reset();
    sched_.reset();
    store_.reset();
    blobs_.reset();
    (void)RemoveAll(dir_);
  }

  std::string AddUser(const std::string& name, const std::string& role) {
    std::string token = "fu_" + RandomHex(24);
    EXPECT_TRUE(store_->CreateUser({name, role, Sha256Hex(token), clock_.Now()}).ok());
    EXPECT_TRUE(users_->Reload().ok());
    return token;
  }

  // What the HTTP server does with a request: admission from the head (a body over the
  // admitted limit is answered 413 unread), then the handler with the body.
  Reply Call(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = "", std::map<std::string, std::string> query = {}) {
    net::HttpRequest req;
    req.method = method;
    req.path = path;
    req.query = std::move(query);
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    net::Admission a = api_->Admit(req);
    last_admission_ = a;
    if (a.reject) return ToReply(*a.reject);
    if (body.size() > a.max_body_bytes) return Reply{413, "", json()};
    if (a.sink) {
      if (Status st = a.sink->Write(body); !st.ok()) return Reply{500, st.ToString(), json()};
    } else {
      req.body = body;
    }
    net::HandlerResult r = api_->Handle(req);
    if (auto* resp = std::get_if<net::HttpResponse>(&r)) return ToReply(*resp);
    if (auto* lp = std::get_if<net::LongPoll>(&r)) {
      auto resp = lp->poll(true);
      if (resp) return ToReply(*resp);
    }
    ADD_FAILURE() << method << " " << path << ": not a plain response";
    return Reply{};
  }

  static Reply ToReply(const net::HttpResponse& r) {
    Reply out{r.status, r.body, json()};
    if (r.body_source) {  // a streamed body (a file), read here as the server would send it
      auto whole = ReadWhole(*r.body_source);
      EXPECT_TRUE(whole.ok()) << whole.status().ToString();
      EXPECT_EQ(whole.ok() ? whole->size() : 0, r.body_source->size());
      out.body = whole.ok() ? *whole : "";
    }
    if (r.content_type == "application/json") out.j = json::parse(r.body, nullptr, false);
    return out;
  }

  // A snapshot with train.py in it, stored as the CLI stores one.
  std::string PutSnapshot() {
    const std::string script = "print('hello')\n";
    auto hash = blobs_->Put(script, "");
    EXPECT_TRUE(hash.ok());
    model::Manifest m;
    m.entries.push_back({"train.py", 0644, script.size(), *hash});
    Reply r = Call("POST", "/api/v1/snapshots", contributor_, m.Serialize());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.j.value("id", "");
  }

  // A run submitted by carl (a contributor); its id.
  std::string Submit() {
    json body = {{"snapshot_id", PutSnapshot()},
                 {"script", "train.py"},
                 {"arguments", {"--lr", "0.1"}},
                 {"tags", {{"team", "vision"}}}};
    Reply r = Call("POST", "/api/v1/runs", contributor_, body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.j.value("id", "");
  }

  static constexpr const char* kWorkspaceToken = "workspace-token-0123456789abcdef";
  static constexpr const char* kSecret = "run-secret";

  std::string dir_;
  FixedClock clock_;
  FakeTarget target_;
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<scheduler::Scheduler> sched_;
  std::unique_ptr<TargetManager> targets_;
  std::unique_ptr<UserDirectory> users_;
  std::optional<Sealer> sealer_;
  std::unique_ptr<Api> api_;
  std::string reader_, contributor_, other_contributor_, admin_;
  std::vector<std::string> notified_;
  bool shutdown_ = false;
  net::Admission last_admission_;
};

TEST_F(ApiTest, HealthNeedsNoToken) {
  Reply r = Call("GET", "/api/v1/health", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.j["status"], "ok");
  EXPECT_EQ(last_admission_.lane, net::Lane::kInline);
}

TEST_F(ApiTest, TokensAndRoles) {
  EXPECT_EQ(Call("GET", "/api/v1/runs", "").status, 401);
  Reply unknown = Call("GET", "/api/v1/runs", "not-a-token");
  EXPECT_EQ(unknown.status, 403);
  EXPECT_NE(unknown.j["error"]["message"].get<std::string>().find("the token is not valid"),
            std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/runs", reader_).status, 200);

  // A reader may not create; a contributor may.
  Reply denied = Call("POST", "/api/v1/experiments", reader_, R"({"name":"e1"})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.j["error"]["code"], "PermissionDenied");
  EXPECT_NE(denied.j["error"]["message"].get<std::string>().find(
                "needs the contributor role; user 'rita' (reader) may not"),
            std::string::npos)
      << denied.body;
  EXPECT_EQ(Call("POST", "/api/v1/experiments", contributor_, R"({"name":"e1"})").status, 201);
  auto exps = store_->ListExperiments();
  ASSERT_TRUE(exps.ok());
  EXPECT_TRUE(std::any_of(exps->begin(), exps->end(), [](auto& e) { return e.name == "e1"; }));

  // Users are the admins' business.
  EXPECT_EQ(Call("GET", "/api/v1/users", contributor_).status, 403);
  Reply users = Call("GET", "/api/v1/users", admin_);
  EXPECT_EQ(users.status, 200);
  EXPECT_EQ(users.j["users"].size(), 4u);

  // Only the workspace token itself stops the server.
  Reply stop = Call("POST", "/api/v1/shutdown", admin_);
  EXPECT_EQ(stop.status, 403);
  EXPECT_FALSE(shutdown_);
  EXPECT_EQ(Call("POST", "/api/v1/shutdown", kWorkspaceToken).status, 202);
  EXPECT_TRUE(shutdown_);
}

TEST_F(ApiTest, UnknownPathsAndMethods) {
  Reply none = Call("GET", "/api/v1/nothing-here", admin_);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.j["error"]["code"], "NotFound");
  EXPECT_EQ(Call("GET", "/api/v2/runs", admin_).status, 404);
  Reply method = Call("DELETE", "/api/v1/runs", admin_);
  EXPECT_EQ(method.status, 405);
  EXPECT_NE(method.j["error"]["message"].get<std::string>().find("DELETE is not supported"),
            std::string::npos);
  // Refused before the token is looked at.
  EXPECT_EQ(Call("DELETE", "/api/v1/runs", "").status, 405);
}

TEST_F(ApiTest, BodyLimitsAreDecidedFromTheHead) {
  Call("GET", "/api/v1/runs", reader_);
  EXPECT_EQ(last_admission_.max_body_bytes, 64u << 10);
  EXPECT_EQ(last_admission_.lane, net::Lane::kBulk);
  Call("POST", "/api/v1/experiments", contributor_, R"({"name":"x"})");
  EXPECT_EQ(last_admission_.max_body_bytes, kSmallBodyBytes);
  EXPECT_EQ(last_admission_.lane, net::Lane::kDefault);
  Reply big = Call("POST", "/api/v1/experiments", contributor_,
                   R"({"name":"x","pad":")" + std::string(kSmallBodyBytes, 'a') + "\"}");
  EXPECT_EQ(big.status, 413);
  // Uploads stream into the blob store.
  net::HttpRequest head;
  head.method = "POST";
  head.path = "/api/v1/blobs";
  head.headers["authorization"] = std::string("Bearer ") + contributor_;
  net::Admission up = api_->Admit(head);
  EXPECT_FALSE(up.reject);
  EXPECT_EQ(up.max_body_bytes, kStreamedBodyBytes);
  EXPECT_TRUE(up.sink);
  // A reader's upload is refused before its body.
  head.headers["authorization"] = std::string("Bearer ") + reader_;
  net::Admission refused = api_->Admit(head);
  ASSERT_TRUE(refused.reject);
  EXPECT_EQ(refused.reject->status, 403);
}

TEST_F(ApiTest, BadBodiesNameTheField) {
  Reply missing = Call("POST", "/api/v1/experiments", contributor_, "{}");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.j["error"]["message"], "field 'name' is required");
  Reply type = Call("POST", "/api/v1/experiments", contributor_, R"({"name":3})");
  EXPECT_EQ(type.status, 400);
  EXPECT_EQ(type.j["error"]["message"], "field 'name' must be a string");
  Reply malformed = Call("POST", "/api/v1/experiments", contributor_, "{");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/experiments", contributor_, "").j["error"]["message"],
            "the request needs a JSON body");
}

TEST_F(ApiTest, RunsCreateGetCancel) {
  const std::string id = Submit();
  ASSERT_FALSE(id.empty());
  auto stored = store_->GetRun(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, model::RunStatus::kQueued);
  EXPECT_EQ(stored->submitted_by, "carl");
  EXPECT_EQ(stored->tags.at("team"), "vision");

  Reply got = Call("GET", "/api/v1/runs/" + id, reader_);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.j["status"], "Queued");
  EXPECT_EQ(got.j["params"]["lr"], "0.1");
  EXPECT_EQ(got.j["script"], "train.py");
  EXPECT_EQ(Call("GET", "/api/v1/runs/no_such_run", reader_).status, 404);

  Reply list = Call("GET", "/api/v1/runs", reader_, "", {{"with", "params"}});
  EXPECT_EQ(list.status, 200);
  ASSERT_EQ(list.j["runs"].size(), 1u);
  EXPECT_EQ(list.j["runs"][0]["params"]["lr"], "0.1");

  // Someone else's run: not theirs to cancel; a reader may not cancel at all.
  Reply other = Call("POST", "/api/v1/runs/" + id + "/cancel", other_contributor_);
  EXPECT_EQ(other.status, 403);
  EXPECT_NE(other.j["error"]["message"].get<std::string>().find("only its submitter or an admin"),
            std::string::npos);
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/cancel", reader_).status, 403);
  EXPECT_EQ(store_->GetRun(id)->status, model::RunStatus::kQueued);

  Reply cancel = Call("POST", "/api/v1/runs/" + id + "/cancel", contributor_);
  EXPECT_EQ(cancel.status, 202) << cancel.body;
  EXPECT_EQ(cancel.j["status"], "Canceled");
  EXPECT_EQ(store_->GetRun(id)->status, model::RunStatus::kCanceled);
  EXPECT_NE(std::find(notified_.begin(), notified_.end(), RunChannel(id)), notified_.end());
  // A second cancel finds it ended.
  EXPECT_EQ(Call("POST", "/api/v1/runs/" + id + "/cancel", contributor_).status, 409);
}

TEST_F(ApiTest, SubmitChecksTheSnapshot) {
  json body = {{"snapshot_id", PutSnapshot()}, {"script", "missing.py"}};
  Reply r = Call("POST", "/api/v1/runs", contributor_, body.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.j["error"]["message"].get<std::string>().find("is not in the snapshot"),
            std::string::npos);
  body = {{"snapshot_id", std::string(64, 'a')}, {"script", "train.py"}};
  EXPECT_EQ(Call("POST", "/api/v1/runs", contributor_, body.dump()).status, 404);
  EXPECT_EQ(
      Call("POST", "/api/v1/runs", contributor_, R"({"script":"train.py"})").j["error"]["message"],
      "field 'snapshot_id' is required");
}

TEST_F(ApiTest, Tags) {
  const std::string id = Submit();
  const std::string path = "/api/v1/runs/" + id + "/tags";
  Reply ok = Call("POST", path, contributor_, R"({"tags":{"stage":"final"}})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(store_->GetRun(id)->tags.at("stage"), "final");
  // The run's agent may tag it too.
  EXPECT_EQ(Call("POST", path, RunToken(kSecret, id), R"({"tags":{"by":"agent"}})").status, 200);
  EXPECT_EQ(store_->GetRun(id)->tags.at("by"), "agent");

  Reply bad = Call("POST", path, contributor_, R"({"tags":["x"]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.j["error"]["message"], "field 'tags' must be an object");
  EXPECT_EQ(Call("POST", path, reader_, R"({"tags":{"a":"b"}})").status, 403);
  EXPECT_EQ(Call("POST", path, other_contributor_, R"({"tags":{"a":"b"}})").status, 403);
  EXPECT_EQ(store_->GetRun(id)->tags.count("a"), 0u);
}

// One registry: a version registered through /api/v1/models is MLflow's model version too,
// with the run that produced it as its lineage and a download URI in Ferry's store.
TEST_F(ApiTest, ModelsRegisterListAndShowThroughBothApis) {
  const std::string id = Submit();
  json body = {{"name", "clf"},
               {"snapshot", PutSnapshot()},
               {"run_id", id},
               {"tags", {{"k", "v"}}},
               {"properties", {{"acc", "0.9"}}}};
  EXPECT_EQ(Call("POST", "/api/v1/models", reader_, body.dump()).status, 403);
  Reply made = Call("POST", "/api/v1/models", contributor_, body.dump());
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.j["id"], "clf:1");
  EXPECT_EQ(made.j["file_count"], 1);
  Reply got = Call("GET", "/api/v1/models/clf/latest", reader_);
  ASSERT_EQ(got.status, 200) << got.body;
  ASSERT_EQ(got.j["runs"].size(), 1u);
  EXPECT_EQ(got.j["runs"][0]["run_id"], id);
  EXPECT_EQ(got.j["runs"][0]["direction"], "output");
  Reply content = Call("GET", "/api/v1/models/clf/1/content", reader_, "", {{"path", "train.py"}});
  EXPECT_EQ(content.status, 200);
  EXPECT_EQ(content.body, "print('hello')\n");
  // The MLflow view of the same version.
  Reply mv = Call("GET", "/api/2.0/mlflow/model-versions/get", reader_, "",
                  {{"name", "clf"}, {"version", "1"}});
  ASSERT_EQ(mv.status, 200) << mv.body;
  EXPECT_EQ(mv.j["model_version"]["version"], "1");
  EXPECT_EQ(mv.j["model_version"]["run_id"], id);
  Reply uri = Call("GET", "/api/2.0/mlflow/model-versions/get-download-uri", reader_, "",
                   {{"name", "clf"}, {"version", "1"}});
  EXPECT_EQ(uri.j["artifact_uri"],
            "mlflow-artifacts:/_ferry/snapshots/" + body["snapshot"].get<std::string>());
  Reply missing = Call("GET", "/api/2.0/mlflow/model-versions/get", reader_, "",
                       {{"name", "clf"}, {"version", "7"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.j["error_code"], "RESOURCE_DOES_NOT_EXIST");
  Reply gone = Call("GET", "/api/v1/models/clf/7", reader_);
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(gone.j["error"]["message"].get<std::string>().find("model 'clf' has no version 7"),
            std::string::npos);
}

// A run's script reads models with its MLflow token and its run named in X-Ferry-Run; no other
// token of a run does, and it registers nothing.
TEST_F(ApiTest, AScriptReadsModelsWithItsRunsMlflowToken) {
  const std::string id = Submit();
  json body = {{"name", "clf"}, {"snapshot", PutSnapshot()}};
  ASSERT_EQ(Call("POST", "/api/v1/models", contributor_, body.dump()).status, 201);
  auto as_script = [&](const std::string& token, const std::string& run) {
    net::HttpRequest req;
    req.method = "GET";
    req.path = "/api/v1/models/clf/1/files";
    req.headers["authorization"] = "Bearer " + token;
    req.headers["x-ferry-run"] = run;
    net::Admission a = api_->Admit(req);
    if (a.reject) return a.reject->status;
    auto r = api_->Handle(req);
    return std::get<net::HttpResponse>(r).status;
  };
  EXPECT_EQ(as_script(MlflowRunToken(kSecret, id), id), 200);
  EXPECT_EQ(as_script(MlflowRunToken(kSecret, id), "another-run"), 403);
  EXPECT_EQ(as_script(RunToken(kSecret, id), id), 403);  // the agent's token is not the script's
  EXPECT_EQ(Call("POST", "/api/v1/models", MlflowRunToken(kSecret, id), body.dump()).status, 403);
}

// The workspace's secrets: contributors write, read values and delete; readers see names only;
// the store and the listing hold no plaintext; names follow Azure Key Vault's rule.
TEST_F(ApiTest, SecretsAreSealedAndReadByContributors) {
  Reply put = Call("PUT", "/api/v1/secrets/db-pass", contributor_, R"({"value":"hunter2"})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.j["name"], "db-pass");
  EXPECT_EQ(put.j["updated_by"], "carl");
  EXPECT_EQ(put.body.find("hunter2"), std::string::npos);
  auto stored = store_->Secrets().GetSecret("db-pass");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(Sealer::IsSealed(stored->sealed_value));
  EXPECT_EQ(stored->sealed_value.find("hunter2"), std::string::npos);

  Reply got = Call("GET", "/api/v1/secrets/db-pass", contributor_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.j["value"], "hunter2");
  Reply list = Call("GET", "/api/v1/secrets", reader_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.j["secrets"].size(), 1u);
  EXPECT_EQ(list.j["secrets"][0]["name"], "db-pass");
  EXPECT_EQ(list.body.find("hunter2"), std::string::npos);

  // A reader sees names, never values, and changes nothing.
  Reply denied = Call("GET", "/api/v1/secrets/db-pass", reader_);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("contributor role"), std::string::npos) << denied.body;
  EXPECT_EQ(Call("PUT", "/api/v1/secrets/x", reader_, R"({"value":"v"})").status, 403);
  EXPECT_EQ(Call("DELETE", "/api/v1/secrets/db-pass", reader_).status, 403);

  Reply bad = Call("PUT", "/api/v1/secrets/db_pass", contributor_, R"({"value":"v"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("'db_pass'"), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("letter, digit or '-'"), std::string::npos) << bad.body;
  Reply not_string = Call("PUT", "/api/v1/secrets/pin", contributor_, R"({"value":12345})");
  EXPECT_EQ(not_string.status, 400);
  EXPECT_EQ(not_string.body.find("12345"), std::string::npos) << not_string.body;

  Reply batch = Call("POST", "/api/v1/secrets", contributor_, R"({"secrets":{"a":"1","b":"2"}})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  Reply fetched = Call("POST", "/api/v1/secrets/fetch", admin_, R"({"names":["a","b","nope"]})");
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  EXPECT_EQ(fetched.j["secrets"], json({{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(fetched.j["not_found"], json({"nope"}));

  ASSERT_EQ(Call("DELETE", "/api/v1/secrets/db-pass", contributor_).status, 200);
  Reply missing = Call("GET", "/api/v1/secrets/db-pass", contributor_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("secret 'db-pass' does not exist"), std::string::npos);
  EXPECT_EQ(Call("DELETE", "/api/v1/secrets/db-pass", contributor_).status, 404);
}

// A run's script reads secrets with its MLflow token and its run in X-Ferry-Run, only while the
// run has not ended; it never writes them.
TEST_F(ApiTest, AScriptReadsSecretsWhileItsRunRuns) {
  ASSERT_EQ(Call("PUT", "/api/v1/secrets/db-pass", contributor_, R"({"value":"s3cr3t"})").status,
            200);
  const std::string id = Submit();
  auto as_script = [&](const std::string& method, const std::string& path, const std::string& token,
                       const std::string& run, const std::string& body = "") {
    net::HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.headers["authorization"] = "Bearer " + token;
    req.headers["x-ferry-run"] = run;
    net::Admission a = api_->Admit(req);
    if (a.reject) return ToReply(*a.reject);
    return ToReply(std::get<net::HttpResponse>(api_->Handle(req)));
  };
  const std::string token = MlflowRunToken(kSecret, id);
  Reply got = as_script("GET", "/api/v1/secrets/db-pass", token, id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.j["value"], "s3cr3t");
  Reply batch = as_script("POST", "/api/v1/secrets/fetch", token, id, R"({"names":["db-pass"]})");
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.j["secrets"]["db-pass"], "s3cr3t");
  EXPECT_EQ(as_script("GET", "/api/v1/secrets/db-pass", token, "another-run").status, 403);
  EXPECT_EQ(as_script("GET", "/api/v1/secrets/db-pass", RunToken(kSecret, id), id).status, 403);
  EXPECT_EQ(as_script("PUT", "/api/v1/secrets/x", token, id, R"({"value":"v"})").status, 403);
  EXPECT_EQ(as_script("GET", "/api/v1/secrets", token, id).status, 403);

  ASSERT_EQ(Call("POST", "/api/v1/runs/" + id + "/cancel", contributor_).status, 202);
  auto run = store_->GetRun(id);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(model::IsTerminal(run->status)) << model::RunStatusName(run->status);
  Reply ended = as_script("GET", "/api/v1/secrets/db-pass", token, id);
  EXPECT_EQ(ended.status, 403);
  EXPECT_NE(ended.body.find("has ended"), std::string::npos) << ended.body;
}

TEST_F(ApiTest, MetricsPostAndGet) {
  const std::string id = Submit();
  const std::string path = "/api/v1/runs/" + id + "/metrics";
  const std::string batch =
      R"({"points":[{"q":0,"k":"loss","v":0.5,"s":0,"t":1.0},{"q":1,"k":"loss","v":"nan","s":1,"t":2.0}]})";
  // Only the run's own agent (or an admin) posts metrics.
  EXPECT_EQ(Call("POST", path, contributor_, batch).status, 403);
  EXPECT_EQ(Call("POST", path, RunToken(kSecret, "another_run"), batch).status, 403);
  Reply posted = Call("POST", path, RunToken(kSecret, id), batch);
  EXPECT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(posted.j["stored"], 2);
  // A resend stores nothing twice.
  EXPECT_EQ(Call("POST", path, RunToken(kSecret, id), batch).j["stored"], 0);

  Reply got = Call("GET", path, reader_);
  EXPECT_EQ(got.status, 200);
  ASSERT_EQ(got.j["metrics"]["loss"].size(), 2u);
  EXPECT_EQ(got.j["metrics"]["loss"][0]["value"], 0.5);
  EXPECT_EQ(got.j["metrics"]["loss"][1]["value"], "nan");
  Reply detail = Call("GET", "/api/v1/runs/" + id, reader_);
  EXPECT_EQ(detail.j["metrics"]["loss"]["count"], 2);

  Reply malformed = Call("POST", path, RunToken(kSecret, id), R"({"points":[{"k":"loss"}]})");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.j["error"]["message"].get<std::string>().find("malformed metrics batch"),
            std::string::npos);

  // An ended run takes no more data.
  ASSERT_EQ(Call("POST", "/api/v1/runs/" + id + "/cancel", contributor_).status, 202);
  Reply late =
      Call("POST", path, admin_, R"({"points":[{"q":2,"k":"loss","v":0.1,"s":2,"t":3.0}]})");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.j["error"]["status"], "Canceled");
}

TEST_F(ApiTest, ComputesList) {
  Reply r = Call("GET", "/api/v1/computes", reader_);
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.j["computes"].size(), 1u);
  const json& local = r.j["computes"][0];
  EXPECT_EQ(local["name"], "local");
  EXPECT_EQ(local["state"], "ready");
  EXPECT_EQ(local["max_concurrent_runs"], 2);
  EXPECT_EQ(Call("GET", "/api/v1/computes/local", reader_).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/computes/nope", reader_).status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/computes/local", contributor_).status, 403);
}

// The node-size catalog: seeded with Azure's names, changed by admins only, and what a cluster
// request naming a size becomes (refused here before anything is made: no provider, an unknown
// size, a low-priority cluster on a provider without such nodes, GPUs on netns).
TEST_F(ApiTest, NodeSizesSeededAdminSetAndResolvedForClusters) {
  Reply list = Call("GET", "/api/v1/node-sizes", reader_);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(list.j["default_provider"].is_null());
  json d2;
  for (auto& s : list.j["sizes"]) {
    if (s["name"] == "STANDARD_D2_V2") d2 = s;
  }
  EXPECT_EQ(d2, json({{"name", "STANDARD_D2_V2"}, {"cpus", 2}, {"memory_mb", 7168}, {"gpus", 0}}));

  const std::string sized = R"({"name":"p","kind":"cluster","vm_size":"standard_d2_v2"})";
  Reply none = Call("POST", "/api/v1/computes", admin_, sized);
  EXPECT_EQ(none.status, 409) << none.body;
  EXPECT_NE(none.body.find("vm_size 'STANDARD_D2_V2': the workspace has no default node provider"),
            std::string::npos)
      << none.body;

  EXPECT_EQ(Call("PUT", "/api/v1/node-provider", contributor_, R"({"provider":"netns"})").status,
            403);
  Reply bad = Call("PUT", "/api/v1/node-provider", admin_, R"({"provider":"cloud"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("'cloud' is not a node provider"), std::string::npos) << bad.body;
  Reply half = Call("PUT", "/api/v1/node-provider", admin_, R"({"provider":"command"})");
  EXPECT_EQ(half.status, 400);
  EXPECT_NE(half.body.find("needs 'start_command' and 'stop_command'"), std::string::npos);
  Reply set = Call("PUT", "/api/v1/node-provider", admin_, R"({"provider":"netns"})");
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.j["default_provider"], json({{"provider", "netns"}}));

  Reply low = Call("POST", "/api/v1/computes", admin_,
                   R"({"name":"p","kind":"cluster","vm_size":"STANDARD_D2_V2","priority":"low"})");
  EXPECT_EQ(low.status, 409);
  EXPECT_NE(
      low.body.find("the workspace's default node provider (netns) has no low-priority nodes"),
      std::string::npos)
      << low.body;
  Reply gpu = Call("POST", "/api/v1/computes", admin_,
                   R"({"name":"p","kind":"cluster","vm_size":"Standard_NC6"})");
  EXPECT_EQ(gpu.status, 400);
  EXPECT_NE(gpu.body.find("vm_size 'STANDARD_NC6' has 1 GPU(s) per node"), std::string::npos)
      << gpu.body;
  Reply unknown = Call("POST", "/api/v1/computes", admin_,
                       R"({"name":"p","kind":"cluster","vm_size":"STANDARD_Z1"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("'ferry compute sizes list'"), std::string::npos);
  Reply ssh = Call("POST", "/api/v1/computes", admin_,
                   R"({"name":"p","kind":"ssh","vm_size":"STANDARD_D2_V2"})");
  EXPECT_EQ(ssh.status, 400);
  EXPECT_NE(ssh.body.find("only managed clusters"), std::string::npos) << ssh.body;

  // A size of the admin's own, replacing another spelling of the same name; then removed.
  EXPECT_EQ(
      Call("PUT", "/api/v1/node-sizes/tiny", contributor_, R"({"cpus":1,"memory_mb":512})").status,
      403);
  Reply tiny = Call("PUT", "/api/v1/node-sizes/Tiny", admin_,
                    R"({"cpus":1,"memory_mb":512,"provider":"netns","low_priority":true})");
  EXPECT_EQ(tiny.status, 200) << tiny.body;
  EXPECT_EQ(Call("PUT", "/api/v1/node-sizes/TINY", admin_, R"({"cpus":2,"memory_mb":512})").status,
            200);
  EXPECT_EQ(Call("PUT", "/api/v1/node-sizes/tiny", admin_, R"({"cpus":0,"memory_mb":512})").status,
            400);
  int tinies = 0;
  Reply after = Call("GET", "/api/v1/node-sizes", reader_);
  for (auto& s : after.j["sizes"]) {
    if (s["name"] == "TINY") {
      ++tinies;
      EXPECT_EQ(s["cpus"], 2);
      EXPECT_FALSE(s.contains("provider"));
    }
    EXPECT_NE(s["name"], "Tiny");
  }
  EXPECT_EQ(tinies, 1);
  EXPECT_EQ(Call("DELETE", "/api/v1/node-sizes/tiny", admin_).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/node-sizes/tiny", admin_).status, 404);
}

}  // namespace
}  // namespace ferry::server
