// Tests of the HTTP server and client together over loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "net/http_client.h"
#include "net/http_server.h"

namespace ferry::net {
namespace {

TEST(Http, RoundTripQueryAndBody) {
  HttpServerOptions o;
  o.handler = [](HttpRequest& r) -> HandlerResult {
    HttpResponse resp;
    resp.content_type = "text/plain";
    resp.body = r.method + " " + r.path + " q=" + r.Query("q") + " auth=" + r.Header("authorization") +
                " body=" + r.body;
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
    lp.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(r.Query("ms")));
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
  EXPECT_EQ(r->body, "event: v\ndata: 0\n\nevent: v\ndata: 1\n\nevent: v\ndata: 2\n\nevent: v\ndata: 3\n\n");
}

TEST(Http, ClientRejectsBadUrls) {
  EXPECT_FALSE(HttpClient::Create("127.0.0.1:80", "").ok());
  EXPECT_FALSE(HttpClient::Create("http://host", "").ok());
}

}  // namespace
}  // namespace ferry::net
