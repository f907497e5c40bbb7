// Tests of the HTTP server and client together over loopback.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "common/byte_source.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace ferry::net {
namespace {

TEST(Http, RoundTripQueryAndBody) {
  HttpServerOptions o;
  o.handler = [](HttpRequest& r) -> HandlerResult {
    HttpResponse resp;
    resp.content_type = "text/plain";
    resp.body = r.method + " " + r.path + " q=" + r.Query("q") +
                " auth=" + r.Header("authorization") + " body=" + r.body;
    return resp;
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "tok");
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {  // keep-alive reuse
    auto r = (*c)->Request("POST", "/a%20b?q=x%2By+z", "payload");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->body, "POST /a b q=x+y z auth=Bearer tok body=payload");
  }
  srv->reset();  // stops and closes kept-alive connections
  auto down = (*c)->Request("GET", "/", "", "application/json", 5000);
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
}

TEST(Http, LongPollWakesOnNotifyAndTimesOut) {
  std::atomic<int> value{0};
  HttpServerOptions o;
  o.handler = [&](HttpRequest& r) -> HandlerResult {
    int want = std::stoi(r.Query("want"));
    LongPoll lp;
    lp.channel = "c";
    lp.deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(r.Query("ms")));
    lp.poll = [&, want](bool timed_out) -> std::optional<HttpResponse> {
      if (value.load() >= want || timed_out) {
        HttpResponse resp;
        resp.body = std::to_string(value.load()) + (timed_out ? " timeout" : "");
        return resp;
      }
      return std::nullopt;
    };
    return lp;
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  std::string url = "http://127.0.0.1:" + std::to_string((*srv)->port());
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    value = 1;
    (*srv)->Notify("c");
  });
  auto c = HttpClient::Create(url, "");
  auto r = (*c)->Request("GET", "/?want=1&ms=30000");
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "1");
  auto r2 = (*c)->Request("GET", "/?want=5&ms=50");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->body, "1 timeout");
}

TEST(Http, EventStreamSendsOnNotifyUntilDone) {
  std::atomic<int> value{0};
  HttpServerOptions o;
  o.handler = [&](HttpRequest&) -> HandlerResult {
    EventStream es;
    es.channels = {"a", "b"};
    es.min_interval = std::chrono::milliseconds(1);
    auto sent = std::make_shared<int>(-1);
    es.poll = [&value, sent](bool* done) {
      int v = value.load();
      *done = v >= 3;
      if (v == *sent) return std::string();
      *sent = v;
      return "event: v\ndata: " + std::to_string(v) + "\n\n";
    };
    return es;
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  std::thread t([&] {
    for (int i = 1; i <= 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      value = i;
      (*srv)->Notify(i % 2 ? "a" : "b");  // either channel wakes it
    }
  });
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "");
  auto r = (*c)->Request("GET", "/events", "", "application/json", 30000);
  t.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(r->body,
            "event: v\ndata: 0\n\nevent: v\ndata: 1\n\nevent: v\ndata: 2\n\nevent: v\ndata: 3\n\n");
}

// A raw connection, for requests the client would not send (and to see what arrives when).
class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConn() { ::close(fd_); }
  bool Ok() const { return ok_; }
  bool Send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Reads until the text contains `until` (or the peer closes / 20 s pass).
  std::string ReadUntil(const std::string& until) {
    std::string out;
    char buf[4096];
    while (out.find(until) == std::string::npos) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

TEST(Http, AdmissionRefusesBeforeTheBodyIsRead) {
  std::atomic<int> handled{0};
  HttpServerOptions o;
  o.admit = [](HttpRequest& head) {
    Admission a;
    if (head.Header("authorization").empty()) {
      HttpResponse r;
      r.status = 401;
      r.body = "who are you";
      a.reject = r;
    }
    a.max_body_bytes = 1000;
    return a;
  };
  o.handler = [&](HttpRequest&) -> HandlerResult {
    ++handled;
    return HttpResponse{};
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  const int port = (*srv)->port();
  {
    // 1 GiB announced, none of it sent: the answer comes anyway.
    RawConn c(port);
    ASSERT_TRUE(c.Ok());
    ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1073741824\r\n\r\n"));
    std::string got = c.ReadUntil("who are you");
    EXPECT_NE(got.find("HTTP/1.1 401"), std::string::npos) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  }
  {
    // Authenticated but longer than the route takes: 413 before the body.
    RawConn c(port);
    ASSERT_TRUE(
        c.Send("POST /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\nContent-Length: "
               "1073741824\r\n\r\n"));
    std::string got = c.ReadUntil("}}");
    EXPECT_NE(got.find("HTTP/1.1 413"), std::string::npos) << got;
  }
  {
    // Chunked: the limit holds as the chunks arrive.
    RawConn c(port);
    ASSERT_TRUE(
        c.Send("POST /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\nTransfer-Encoding: "
               "chunked\r\n\r\n"));
    std::string chunk(800, 'a');
    ASSERT_TRUE(c.Send("320\r\n" + chunk + "\r\n"));
    (void)c.Send("320\r\n" + chunk + "\r\n");
    std::string got = c.ReadUntil("}}");
    EXPECT_NE(got.find("HTTP/1.1 413"), std::string::npos) << got;
  }
  {
    // Two Authorization headers: refused, whichever would have won.
    RawConn c(port);
    ASSERT_TRUE(
        c.Send("GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nAuthorization: Bearer "
               "b\r\n\r\n"));
    std::string got = c.ReadUntil("}}");
    EXPECT_NE(got.find("HTTP/1.1 400"), std::string::npos) << got;
    EXPECT_NE(got.find("more than one Authorization"), std::string::npos) << got;
  }
  EXPECT_EQ(handled.load(), 0);
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string(port), "t");
  auto ok = (*c)->Request("POST", "/x", std::string(1000, 'b'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(handled.load(), 1);
}

TEST(Http, ExpectContinueIsAnsweredOnlyWhenAdmitted) {
  HttpServerOptions o;
  o.admit = [](HttpRequest& head) {
    Admission a;
    if (head.path == "/no") a.reject = HttpResponse{403, "text/plain", "no", {}};
    return a;
  };
  o.handler = [](HttpRequest& r) -> HandlerResult {
    return HttpResponse{200, "text/plain", "got " + r.body, {}};
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  RawConn refused((*srv)->port());
  ASSERT_TRUE(refused.Send(
      "POST /no HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string got = refused.ReadUntil("\r\n\r\nno");
  EXPECT_EQ(got.rfind("HTTP/1.1 403", 0), 0u) << got;
  RawConn admitted((*srv)->port());
  ASSERT_TRUE(admitted.Send(
      "POST /yes HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  got = admitted.ReadUntil("\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue", 0), 0u) << got;
  ASSERT_TRUE(admitted.Send("hello"));
  got = admitted.ReadUntil("got hello");
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
}

// Collects what it is given; refuses once it holds more than `fail_after` bytes.
// Bytes i of a body are (i * 7) & 0xff; fails with `fail` after `fail_after` pieces.
class PatternSource final : public ByteSource {
 public:
  PatternSource(uint64_t size, int fail_after, Status fail)
      : size_(size), fail_after_(fail_after), fail_(std::move(fail)) {}
  uint64_t size() const override { return size_; }
  Status Read(std::string* piece) override {
    reads.fetch_add(1);
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    if (pieces_ == fail_after_) {
      piece->clear();
      return fail_;
    }
    ++pieces_;
    const uint64_t n = std::min<uint64_t>(kPiece, size_ - at_);
    piece->resize(n);
    for (uint64_t i = 0; i < n; ++i) (*piece)[i] = static_cast<char>(((at_ + i) * 7) & 0xff);
    at_ += n;
    return Status::Ok();
  }
  std::atomic<int> reads{0};
  std::mutex mu;
  std::set<std::thread::id> threads;

 private:
  uint64_t size_, at_ = 0;
  int pieces_ = 0, fail_after_;
  Status fail_;
};

bool IsPattern(const std::string& data, uint64_t offset) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != static_cast<char>(((offset + i) * 7) & 0xff)) return false;
  }
  return true;
}

class CollectingSink final : public BodySink {
 public:
  explicit CollectingSink(size_t fail_after) : fail_after_(fail_after) {}
  Status Write(std::string_view piece) override {
    std::lock_guard lock(mu);
    data.append(piece);
    ++pieces;
    if (data.size() > fail_after_) return Status::IoError("disk full");
    return Status::Ok();
  }
  std::mutex mu;
  std::string data;
  int pieces = 0;

 private:
  size_t fail_after_;
};

TEST(Http, StreamedBodiesGoToTheSinkInPieces) {
  std::shared_ptr<CollectingSink> last;
  std::mutex mu;
  HttpServerOptions o;
  o.admit = [&](HttpRequest& head) {
    Admission a;
    a.max_body_bytes = 64 << 20;
    auto sink = std::make_shared<CollectingSink>(head.path == "/fail" ? 100 : SIZE_MAX);
    {
      std::lock_guard lock(mu);
      last = sink;
    }
    a.sink = sink;
    return a;
  };
  o.handler = [&](HttpRequest& r) -> HandlerResult {
    std::lock_guard lock(mu);
    std::lock_guard sl(last->mu);
    return HttpResponse{
        200,
        "text/plain",
        "body=" + std::to_string(r.body.size()) + " sink=" + std::to_string(last->data.size()),
        {}};
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "");
  std::string big(5 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = static_cast<char>('a' + i % 26);
  auto r = (*c)->Request("POST", "/ok", big);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "body=0 sink=" + std::to_string(big.size()));
  EXPECT_EQ(last->data, big);
  EXPECT_GT(last->pieces, 1);
  // A sink that fails: the handler still answers; the rest of the body is not read.
  auto f = (*c)->Request("POST", "/fail", big);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->status, 200);
  EXPECT_LT(last->data.size(), big.size());
}

TEST(Http, ClientUploadsAreReadFromTheirSourceAsTheyAreSent) {
  std::shared_ptr<CollectingSink> last;
  std::mutex mu;
  HttpServerOptions o;
  o.admit = [&](HttpRequest&) {
    Admission a;
    a.max_body_bytes = 64 << 20;
    auto sink = std::make_shared<CollectingSink>(SIZE_MAX);
    std::lock_guard lock(mu);
    last = sink;
    a.sink = sink;
    return a;
  };
  o.handler = [&](HttpRequest& r) -> HandlerResult {
    std::lock_guard lock(mu);
    std::lock_guard sl(last->mu);
    return HttpResponse{200, "text/plain", r.Header("content-length") + " " + r.method, {}, {}};
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "");
  std::string big(5 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = static_cast<char>('a' + i % 26);
  int opened = 0;
  auto r = (*c)->Upload(
      "PUT", "/up", "application/octet-stream",
      [&]() -> Result<std::unique_ptr<ByteSource>> {
        ++opened;
        return PrefixedSource("head\n", StringSource(big));
      },
      10000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, std::to_string(big.size() + 5) + " PUT");
  EXPECT_EQ(opened, 1);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(last->data, "head\n" + big);
  }
  // A source that fails stops the request with its error; the client still works afterwards.
  auto failed = (*c)->Upload(
      "POST", "/up", "application/octet-stream",
      [&]() -> Result<std::unique_ptr<ByteSource>> {
        return PrefixedSource(
            "", std::make_unique<PatternSource>(8 << 20, 2, Status::IoError("disk gone")));
      },
      10000);
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
  EXPECT_EQ(failed.status().message(), "disk gone");
  auto again = (*c)->Request("POST", "/up", "small");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->body, "5 POST");
}

TEST(Http, BulkRequestsDoNotHoldUpOthers) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> bulk_started{0};
  HttpServerOptions o;
  o.workers = 1;
  o.bulk_workers = 1;
  o.admit = [](HttpRequest& head) {
    Admission a;
    a.lane = head.path == "/slow"     ? Lane::kBulk
             : head.path == "/health" ? Lane::kInline
                                      : Lane::kDefault;
    return a;
  };
  o.handler = [&](HttpRequest& r) -> HandlerResult {
    if (r.path == "/slow") {
      ++bulk_started;
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    return HttpResponse{200, "text/plain", r.path, {}};
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok());
  std::string url = "http://127.0.0.1:" + std::to_string((*srv)->port());
  std::thread slow([&] {
    auto c = HttpClient::Create(url, "");
    auto r = (*c)->Request("GET", "/slow", "", "application/json", 60000);
    EXPECT_TRUE(r.ok());
  });
  while (bulk_started.load() == 0) std::this_thread::yield();
  // The bulk pool's only thread is held: ordinary and inline requests still go through.
  auto c = HttpClient::Create(url, "");
  for (const char* path : {"/write", "/health"}) {
    auto r = (*c)->Request("GET", path, "", "application/json", 60000);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->body, path);
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  slow.join();
}

TEST(Http, ClientRejectsBadUrls) {
  EXPECT_FALSE(HttpClient::Create("127.0.0.1:80", "").ok());
  EXPECT_FALSE(HttpClient::Create("http://host", "").ok());
}

}  // namespace
}  // namespace ferry::net

namespace ferry::net {
namespace {

// Waits (up to 5 s) until an observer has recorded n requests: a request's observation may
// land just after its answer reached the client.
template <typename Seen>
void WaitForObservations(std::mutex& mu, const std::vector<Seen>& seen, size_t n) {
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (seen.size() >= n) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// The observer sees every answered request once, refused ones included, with its status,
// body size and the head as admission left it.
TEST(Http, ObserverSeesEveryAnsweredRequest) {
  struct Seen {
    std::string method, path, query;
    int status;
    uint64_t bytes;
    bool timed;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  HttpServerOptions o;
  o.admit = [](HttpRequest& head) {
    Admission a;
    if (head.path == "/no") {
      HttpResponse r;
      r.status = 403;
      r.body = "nope";
      a.reject = r;
    }
    a.lane = head.path == "/inline" ? Lane::kInline : Lane::kDefault;
    return a;
  };
  o.handler = [](HttpRequest& r) -> HandlerResult {
    HttpResponse resp;
    resp.status = r.path == "/missing" ? 404 : 200;
    resp.body = std::string(10, 'x');
    return resp;
  };
  o.observe = [&](const RequestRecord& r) {
    std::lock_guard lock(mu);
    seen.push_back({r.request.method, r.request.path, r.request.Query("q"), r.status, r.bytes,
                    r.duration.count() > 0});
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Request("GET", "/a?q=1").ok());
  ASSERT_TRUE((*c)->Request("POST", "/missing", "body").ok());
  ASSERT_TRUE((*c)->Request("GET", "/inline").ok());
  ASSERT_TRUE((*c)->Request("GET", "/no").ok());
  // The refused request's observation may land just after its answer reached the client.
  WaitForObservations(mu, seen, 4);
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/a");
  EXPECT_EQ(seen[0].query, "1");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[0].bytes, 10u);
  EXPECT_EQ(seen[1].status, 404);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[2].path, "/inline");
  EXPECT_EQ(seen[3].status, 403);
  EXPECT_EQ(seen[3].bytes, 4u);
  for (const auto& s : seen) EXPECT_TRUE(s.timed) << s.path;
}

TEST(Http, StreamedResponsesGoOutInPiecesAndStopShortOnAFailure) {
  constexpr uint64_t kSize = (48ull << 20) + 17;
  std::mutex mu;
  std::shared_ptr<PatternSource> last;
  std::thread::id handler_thread;
  std::vector<std::pair<uint64_t, std::string>> seen;  // bytes, aborted
  HttpServerOptions o;
  o.bulk_workers = 1;
  o.admit = [](HttpRequest&) {
    Admission a;
    a.lane = Lane::kBulk;
    return a;
  };
  o.handler = [&](HttpRequest& r) -> HandlerResult {
    if (r.path == "/small") return HttpResponse{200, "text/plain", "small", {}, nullptr};
    const int fail_after = r.path == "/fail" ? 3 : r.path == "/short" ? 2 : 1 << 30;
    Status fail = r.path == "/fail" ? Status::Corruption("blob x failed verification")
                                    : Status::Ok();  // "/short": ends after two pieces
    auto source = std::make_shared<PatternSource>(kSize, fail_after, fail);
    std::lock_guard lock(mu);
    last = source;
    handler_thread = std::this_thread::get_id();
    HttpResponse resp;
    resp.content_type = "application/octet-stream";
    resp.body_source = source;
    return resp;
  };
  o.observe = [&](const RequestRecord& r) {
    std::lock_guard lock(mu);
    seen.emplace_back(r.bytes, r.aborted);
  };
  auto srv = HttpServer::Start(o);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  auto c = HttpClient::Create("http://127.0.0.1:" + std::to_string((*srv)->port()), "");
  ASSERT_TRUE(c.ok());

  // Whole: Content-Length is the source's size, the bytes arrive in order, and the server
  // reads no further ahead of the client than a piece and the sockets' buffers.
  uint64_t received = 0;
  int max_ahead = 0;
  bool pattern_ok = true;
  std::shared_ptr<PatternSource> source;
  auto r = (*c)->Download(
      "/whole", {},
      [&](std::string_view piece) {
        if (received == 0) {
          {
            std::lock_guard lock(mu);
            source = last;
          }
          // Give a server without back-pressure the time to read everything.
          for (int i = 0; i < 30 && source->reads.load() < 40; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pattern_ok = pattern_ok && IsPattern(std::string(piece), received);
        received += piece.size();
        max_ahead = std::max(max_ahead, source->reads.load() - static_cast<int>(received >> 20));
        return Status::Ok();
      },
      10000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Content-Length"), std::to_string(kSize));
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(received, kSize);
  EXPECT_TRUE(pattern_ok);
  EXPECT_LT(max_ahead, 24) << "pieces read ahead of the client";
  {
    std::lock_guard lock(source->mu);  // every read on the handler's (only) bulk worker
    std::lock_guard handler_lock(mu);
    EXPECT_EQ(source->threads, std::set<std::thread::id>{handler_thread});
  }
  // The connection is kept alive after a whole streamed body.
  auto small = (*c)->Request("GET", "/small");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->body, "small");

  // A source that fails mid-body (or ends early): the connection closes, the client sees a
  // short body, never a whole one.
  for (const std::string path : {"/fail", "/short"}) {
    for (bool close : {false, true}) {  // written from the handler's pool, or via the session
      std::vector<std::pair<std::string, std::string>> headers;
      if (close) headers.emplace_back("Connection", "close");
      received = 0;
      auto broken = (*c)->Download(
          path, headers,
          [&](std::string_view piece) {
            received += piece.size();
            return Status::Ok();
          },
          10000);
      EXPECT_EQ(broken.status().code(), StatusCode::kUnavailable) << path;
      EXPECT_EQ(received, (path == "/fail" ? 3u : 2u) << 20) << path;
    }
  }
  ASSERT_TRUE((*c)->Request("GET", "/small").ok());  // a fresh connection afterwards
  // The observer saw every answer (in any order: an aborted one is recorded after its client
  // already went on), with the bytes actually sent and why a body stopped short.
  WaitForObservations(mu, seen, 7);
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 7u);
  int whole = 0, failed = 0, ended = 0;
  for (const auto& [n, why] : seen) {
    whole += n == kSize && why.empty();
    failed += n == (3u << 20) && why.find("failed verification") != std::string::npos;
    ended += n == (2u << 20) && why.find("ended after") != std::string::npos;
  }
  EXPECT_EQ(whole, 1);
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(ended, 2);
}

}  // namespace
}  // namespace ferry::net
