// The agent's server over HTTP (see server_api.h).
#include "agent/server_api.h"

#include <cmath>
#include <cstdio>
#include <thread>

#include "agent/stop_signal.h"
#include "common/backoff.h"
#include "common/fs.h"
#include "common/home.h"
#include "net/http_client.h"

namespace ferry::agent {

using nlohmann::json;

std::string DumpJson(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::chrono::hours kForever(24 * 365);

class HttpServerApi final : public ServerApi {
 public:
  HttpServerApi(std::string home, std::string run_id, std::string token)
      : home_(std::move(home)), run_id_(std::move(run_id)), token_(std::move(token)) {}

  Result<json> GetPlan(int rank, std::chrono::seconds patience) override {
    std::string query = rank > 0 ? "?rank=" + std::to_string(rank) : "";
    return Call("GET", RunPath("plan" + query), "", "application/json", patience);
  }

  Status PostStatus(const json& body) override {
    return Call("POST", RunPath("status"), DumpJson(body)).status();
  }

  Result<ShipAck> PostLogs(uint64_t offset, int rank, std::string_view bytes) override {
    std::string rank_query = rank > 0 ? "&rank=" + std::to_string(rank) : "";
    auto r = Call("POST", RunPath("logs?offset=" + std::to_string(offset) + rank_query),
                  std::string(bytes), "text/plain");
    if (r.ok()) {
      return ShipAck{(*r).value("size", offset + bytes.size()),
                     (*r).value("cancel_requested", false)};
    }
    if (r.status().code() == StatusCode::kFailedPrecondition &&
        last_error_body_.contains("error")) {
      // The server's log is shorter than the offset (a gap): resend from its size.
      return ShipAck{last_error_body_["error"].value("size", uint64_t{0}), false, true};
    }
    return r.status();
  }

  Result<ShipAck> PostMetrics(const std::vector<model::MetricPoint>& points) override {
    std::string body = "{\"points\":[";
    body.reserve(points.size() * 80);
    char buf[160];
    for (size_t i = 0; i < points.size(); ++i) {
      const auto& p = points[i];
      if (i) body.push_back(',');
      body += "{\"q\":" + std::to_string(p.seq) + ",\"k\":" + DumpJson(json(p.key)) + ",\"v\":";
      if (std::isnan(p.value)) {
        body += "\"nan\"";
      } else if (std::isinf(p.value)) {
        body += p.value > 0 ? "\"inf\"" : "\"-inf\"";
      } else {
        std::snprintf(buf, sizeof buf, "%.17g", p.value);
        body += buf;
      }
      std::snprintf(buf, sizeof buf, ",\"s\":%lld,\"t\":%.6f}", static_cast<long long>(p.step),
                    p.time);
      body += buf;
    }
    body += "]}";
    FERRY_ASSIGN_OR_RETURN(json r, Call("POST", RunPath("metrics"), body));
    return ShipAck{0, r.value("cancel_requested", false)};
  }

  Result<ShipAck> PostValues(const std::vector<model::RunValue>& values) override {
    json items = json::array();
    for (const auto& v : values) {
      json x = json::parse(v.value, nullptr, false);
      if (x.is_discarded()) continue;  // the spool stores parsed JSON only
      items.push_back({{"q", v.seq},
                       {"k", v.key},
                       {"y", v.type},
                       {"x", std::move(x)},
                       {"s", v.step},
                       {"t", v.time}});
    }
    FERRY_ASSIGN_OR_RETURN(json r,
                           Call("POST", RunPath("values"), DumpJson(json{{"values", items}})));
    return ShipAck{0, r.value("cancel_requested", false)};
  }

  Status PostTags(const std::map<std::string, std::string>& tags) override {
    return Call("POST", RunPath("tags"), DumpJson(json{{"tags", tags}})).status();
  }

  // The run token reads blobs with X-Ferry-Run.
  Result<std::string> GetBlob(const std::string& hash) override {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                           Send("GET", "/api/v1/blobs/" + hash, "", "", {{"X-Ferry-Run", run_id_}},
                                std::chrono::minutes(10), 300000));
    if (r.status != 200) return net::StatusFromResponse(r).WithContext("blob " + hash);
    return std::move(r.body);
  }

  Status StreamBlob(const std::string& hash, const std::function<Status()>& begin,
                    const std::function<Status(std::string_view)>& write) override {
    const std::vector<std::pair<std::string, std::string>> headers = {{"X-Ferry-Run", run_id_}};
    FERRY_ASSIGN_OR_RETURN(
        net::HttpResponse r, Retrying(std::chrono::minutes(10), [&]() -> Result<net::HttpResponse> {
          FERRY_RETURN_IF_ERROR(begin());
          return client_->Download("/api/v1/blobs/" + hash, headers, write, 300000);
        }));
    if (r.status != 200) return net::StatusFromResponse(r).WithContext("blob " + hash);
    return Status::Ok();
  }

  Result<std::string> FetchBlobs(const std::vector<std::string>& hashes) override {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                           Send("POST", RunPath("blobs/fetch"), DumpJson(json{{"hashes", hashes}}),
                                "application/json", {}, std::chrono::minutes(10), 300000));
    if (r.status != 200) return net::StatusFromResponse(r).WithContext("fetching blobs");
    return std::move(r.body);
  }

  Status PutBlobs(std::string_view records) override {
    return Call("POST", RunPath("blobs"), std::string(records), "application/octet-stream")
        .status();
  }

  Status PutBlobFrom(const std::string& hash,
                     const std::function<Result<std::unique_ptr<ByteSource>>()>& open) override {
    FERRY_ASSIGN_OR_RETURN(
        net::HttpResponse r, Retrying(kForever, [&]() -> Result<net::HttpResponse> {
          return client_->Upload(
              "POST", RunPath("blobs"), "application/octet-stream",
              [&]() -> Result<std::unique_ptr<ByteSource>> {
                FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> content, open());
                const uint64_t size = content->size();
                return PrefixedSource(hash + " " + std::to_string(size) + "\n", std::move(content));
              },
              600000);
        }));
    if (r.status / 100 != 2) return net::StatusFromResponse(r).WithContext("blob " + hash);
    return Status::Ok();
  }

  Status PostArtifacts(const json& files) override {
    return Call("POST", RunPath("artifacts"), DumpJson(json{{"files", files}})).status();
  }

  std::string Url() override {
    auto info = ReadServerInfo(home_);
    return info.ok() ? info->url : "";
  }

  void SetInterruptible(bool interruptible) override { interruptible_ = interruptible; }

 private:
  // Sends one request, retrying transport failures and 5xx answers with back-off until
  // `patience` has passed (or the agent is stopping, or the home is gone). Returns the first
  // answer below 500.
  Result<net::HttpResponse> Send(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& content_type,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::chrono::seconds patience, int timeout_ms) {
    return Retrying(patience, [&] {
      return headers.empty() ? client_->Request(method, path, body, content_type, timeout_ms)
                             : client_->RequestWithHeaders(method, path, headers, timeout_ms);
    });
  }

  // Runs attempt() (with client_ connected), retrying as Send says.
  Result<net::HttpResponse> Retrying(std::chrono::seconds patience,
                                     const std::function<Result<net::HttpResponse>()>& attempt) {
    auto deadline = SteadyClock::now() + patience;
    Backoff backoff(
        {.initial = std::chrono::milliseconds(20), .max = std::chrono::milliseconds(2000)});
    for (;;) {
      Status st = Connect();
      if (st.ok()) {
        auto r = attempt();
        if (r.ok() && r->status < 500) return r;
        // Not the transport's failure (a local write's, in StreamBlob): no retry mends it.
        if (!r.ok() && r.status().code() != StatusCode::kUnavailable) return r.status();
        st = r.ok() ? Status::Unavailable("server answered " + std::to_string(r->status))
                    : r.status();
        client_.reset();
      }
      if (SteadyClock::now() >= deadline) return st;
      if (StopRequested() && interruptible_) return Status::Unavailable("stopping");
      // A deleted workspace will never answer again: stop instead of retrying forever.
      if (!PathExists(home_)) {
        return Status::Unavailable("the workspace home " + home_ + " no longer exists");
      }
      std::this_thread::sleep_for(backoff.Next());
    }
  }

  // A JSON API call (see Send): the parsed JSON of a 2xx answer, or the server's error (its
  // body kept in last_error_body_).
  Result<json> Call(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json",
                    std::chrono::seconds patience = kForever) {
    FERRY_ASSIGN_OR_RETURN(net::HttpResponse r,
                           Send(method, path, body, content_type, {}, patience, 60000));
    json j = json::parse(r.body, nullptr, false);
    if (r.status < 300) return j.is_discarded() ? json::object() : j;
    last_error_body_ = j;
    return net::StatusFromResponse(r);
  }

  Status Connect() {
    if (client_) return Status::Ok();
    auto info = ReadServerInfo(home_);
    if (!info.ok()) return Status::Unavailable("no server is running for " + home_);
    auto c = net::HttpClient::Create(info->url, token_);
    if (!c.ok()) return c.status();
    client_ = std::move(c).value();
    return Status::Ok();
  }

  std::string RunPath(const std::string& sub) const {
    return "/api/v1/runs/" + run_id_ + "/" + sub;
  }

  std::string home_, run_id_, token_;
  std::unique_ptr<net::HttpClient> client_;
  json last_error_body_;
  bool interruptible_ = false;
};

}  // namespace

std::unique_ptr<ServerApi> NewHttpServerApi(std::string home, std::string run_id,
                                            std::string token) {
  return std::make_unique<HttpServerApi>(std::move(home), std::move(run_id), std::move(token));
}

}  // namespace ferry::agent
