// S3Client without a store: configuration checks, and retries, errors and resumed reads
// against a scripted local HTTP server that can drop connections.
#include "data/s3_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/mutex.h"

namespace ferry::data {
namespace {

constexpr char kSecret[] = "fake-secret-0123456789";

// A one-connection-at-a-time HTTP server on 127.0.0.1: it closes the first `drop` connections
// as soon as it has accepted them, then answers each request with respond(index, head), head
// in lower case.
// respond may return a partial response; an empty string closes the connection.
class ScriptedServer {
 public:
  using Respond = std::function<std::string(int index, const std::string& head)>;

  ScriptedServer(int drop, Respond respond) : drop_(drop), respond_(std::move(respond)) {
    listen_.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FERRY_CHECK(bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    FERRY_CHECK(listen(listen_.get(), 16) == 0);
    socklen_t len = sizeof(addr);
    FERRY_CHECK(getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::vector<std::string> heads() {
    MutexLock lock(&mu_);
    return heads_;
  }

 private:
  // Waits until fd is readable or the server stops; false on stop.
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void Serve() {
    while (WaitReadable(listen_.get())) {
      UniqueFd conn(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn.valid()) continue;
      if (connections_.fetch_add(1) < drop_) continue;  // closed at once
      std::string buffer;
      for (;;) {
        size_t end;
        while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
          char tmp[4096];
          if (!WaitReadable(conn.get())) return;
          ssize_t n = read(conn.get(), tmp, sizeof(tmp));
          if (n <= 0) break;
          buffer.append(tmp, static_cast<size_t>(n));
        }
        if (end == std::string::npos) break;  // the client closed
        const std::string head = buffer.substr(0, end + 4);
        buffer.erase(0, end + 4);
        std::string lower = head;  // what respond sees: header names' case varies
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        // Skip a body (Content-Length only; the client sends no chunked bodies).
        size_t body = 0;
        if (auto at = lower.find("\r\ncontent-length: "); at != std::string::npos)
          body = std::stoul(lower.substr(at + 18));
        while (buffer.size() < body) {
          char tmp[65536];
          if (!WaitReadable(conn.get())) return;
          ssize_t n = read(conn.get(), tmp, sizeof(tmp));
          if (n <= 0) break;
          buffer.append(tmp, static_cast<size_t>(n));
        }
        buffer.erase(0, std::min(body, buffer.size()));
        int index;
        {
          MutexLock lock(&mu_);
          index = static_cast<int>(heads_.size());
          heads_.push_back(head);
        }
        std::string reply = respond_(index, lower);
        if (reply.empty() || !WriteAll(conn.get(), reply, "socket").ok()) break;
        if (reply.find("Connection: close") != std::string::npos) break;
      }
    }
  }

  const int drop_;
  Respond respond_;
  UniqueFd listen_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  Mutex mu_;
  std::vector<std::string> heads_ GUARDED_BY(mu_);
  std::thread thread_;
};

std::string Reply(int status, const std::string& reason, const std::string& body,
                  const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string ErrorXml(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
         message + "</Message></Error>";
}

// A temp dir removed at the end of the test, failed or not.
struct TempDir {
  TempDir() {
    char templ[] = "/tmp/ferry-s3-test-XXXXXX";
    FERRY_CHECK(mkdtemp(templ) != nullptr);
    path = templ;
  }
  ~TempDir() { (void)RemoveAll(path); }
  std::string path;
};

S3ClientOptions FastRetries(int attempts) {
  S3ClientOptions o;
  o.max_attempts = attempts;
  o.backoff = {.initial = std::chrono::milliseconds(1), .max = std::chrono::milliseconds(5)};
  o.timeout_ms = 10000;
  return o;
}

std::unique_ptr<S3Client> ClientFor(const ScriptedServer& server, int attempts = 5) {
  S3Config c{.endpoint = server.endpoint(),
             .bucket = "bkt",
             .access_key = "AKFAKE",
             .secret_key = kSecret};
  auto client = S3Client::Open(c, FastRetries(attempts));
  FERRY_CHECK(client.ok());
  return std::move(client).value();
}

TEST(S3ConfigTest, ValidationNamesTheField) {
  S3Config good{.endpoint = "http://127.0.0.1:9000",
                .bucket = "my-bucket.1",
                .access_key = "AK",
                .secret_key = "s3cr3t"};
  EXPECT_TRUE(ValidateS3Config(good).ok());
  auto with = [&](auto change) {
    S3Config c = good;
    change(c);
    return ValidateS3Config(c);
  };
  EXPECT_TRUE(with([](S3Config& c) { c.endpoint = "https://s3.example.com"; }).ok());
  EXPECT_TRUE(with([](S3Config& c) {
                c.endpoint = "https://[::1]:9443";
                c.ca_file = "/etc/ssl/certs/ca-certificates.crt";
              }).ok());
  EXPECT_NE(with([](S3Config& c) { c.ca_file = "/x.pem"; }).message().find("plain http"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.endpoint = "ftp://x"; }).message().find("http://"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.endpoint = "http://h:9000/path"; }).message().find("no path"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.endpoint = "http://h:99999"; }).message().find("port"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.bucket = "Bad_Bucket"; }).message().find("'Bad_Bucket'"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.region = "US East"; }).message().find("region"),
            std::string::npos);
  EXPECT_NE(with([](S3Config& c) { c.path_style = false; }).message().find("path-style"),
            std::string::npos);
  EXPECT_TRUE(with([](S3Config& c) {
                c.endpoint = "http://minio.internal:9000/";
                c.path_style = false;
              }).ok());
  EXPECT_NE(with([](S3Config& c) { c.access_key = ""; }).message().find("access key"),
            std::string::npos);
  Status secret = with([](S3Config& c) { c.secret_key = "abc\n"; });
  EXPECT_NE(secret.message().find("secret key"), std::string::npos);
  EXPECT_EQ(secret.message().find("abc"), std::string::npos);
  EXPECT_EQ(S3Client::Open(S3Config{}).status().code(), StatusCode::kInvalidArgument);
  S3Config bad_ca = good;
  bad_ca.endpoint = "https://127.0.0.1:1";
  bad_ca.ca_file = "/nonexistent/ca.pem";
  auto open = S3Client::Open(bad_ca);
  EXPECT_EQ(open.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(open.status().message().find("'/nonexistent/ca.pem'"), std::string::npos);
}

TEST(S3ClientTest, RetriesConnectionsTheServerDrops) {
  ScriptedServer server(2, [](int, const std::string&) { return Reply(200, "OK", ""); });
  auto client = ClientFor(server);
  Status st = client->HeadBucket();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(server.connections(), 3);
  ASSERT_EQ(server.heads().size(), 1u);
  EXPECT_EQ(server.heads()[0].rfind("HEAD /bkt HTTP/1.1\r\n", 0), 0u) << server.heads()[0];
}

TEST(S3ClientTest, GivesUpAfterMaxAttemptsNamingTheEndpoint) {
  ScriptedServer server(1000, [](int, const std::string&) { return Reply(200, "OK", ""); });
  auto client = ClientFor(server, 3);
  Status st = client->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find(server.endpoint() + " bucket 'bkt'"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("after 3 attempts"), std::string::npos) << st.message();
  EXPECT_EQ(server.connections(), 3);
}

TEST(S3ClientTest, RetriesServerErrorsAndSlowDown) {
  ScriptedServer server(0, [](int i, const std::string&) {
    if (i == 0) return Reply(503, "Slow Down", ErrorXml("SlowDown", "Reduce your request rate."));
    if (i == 1) return Reply(500, "Internal", ErrorXml("InternalError", "oops"));
    return Reply(200, "OK",
                 "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key>"
                 "<Size>1</Size><ETag>\"e\"</ETag></Contents></ListBucketResult>");
  });
  auto client = ClientFor(server);
  auto list = client->ListObjects("");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list.value().size(), 1u);
  EXPECT_EQ(server.heads().size(), 3u);
}

TEST(S3ClientTest, AuthErrorsAreNotRetriedAndCarryTheStoresWords) {
  ScriptedServer server(0, [](int, const std::string& head) {
    if (head.rfind("head ", 0) == 0) return Reply(403, "Forbidden", "");
    return Reply(403, "Forbidden",
                 ErrorXml("InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records."));
  });
  auto client = ClientFor(server);
  Status st = client->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("s3 endpoint " + server.endpoint() +
                              " bucket 'bkt': InvalidAccessKeyId: The AWS Access Key Id you "
                              "provided does not exist in our records."),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find(kSecret), std::string::npos);
  EXPECT_EQ(server.heads().size(), 2u);  // the HEAD, then one GET for the error document
  for (const auto& head : server.heads()) EXPECT_EQ(head.find(kSecret), std::string::npos);
}

TEST(S3ClientTest, ASecretEchoedByTheServerIsMasked) {
  // Regression: a secret that the mask itself contains ("e" in "[secret]") must not loop.
  for (const std::string& secret : {std::string(kSecret), std::string("e")}) {
    ScriptedServer server(0, [&](int, const std::string&) {
      return Reply(403, "Forbidden", ErrorXml("AccessDenied", "no: " + secret + " / " + secret));
    });
    S3Config c{.endpoint = server.endpoint(),
               .bucket = "bkt",
               .access_key = "AKFAKE",
               .secret_key = secret};
    auto client = S3Client::Open(c, FastRetries(1)).value();
    auto list = client->ListObjectsPage("", "", 10);
    EXPECT_EQ(list.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(list.status().message().find(": no: [secret] / [secret]"), std::string::npos)
        << list.status().message();
    if (secret.size() > 1) {
      EXPECT_EQ(list.status().message().find(secret), std::string::npos);
    }
  }
}

TEST(S3ClientTest, MissingKeyIsNotFoundInTheStoresWords) {
  // The HEAD's 404 has no body; a one-byte GET fetches the store's error document.
  ScriptedServer server(0, [](int, const std::string& head) {
    if (head.rfind("head ", 0) == 0) return Reply(404, "Not Found", "");
    return Reply(404, "Not Found", ErrorXml("NoSuchKey", "The specified key does not exist."));
  });
  auto client = ClientFor(server);
  auto info = client->HeadObject("dir/missing");
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find(
                "bucket 'bkt' key 'dir/missing': NoSuchKey: The specified key does not exist."),
            std::string::npos)
      << info.status().message();
  ASSERT_EQ(server.heads().size(), 2u);
  EXPECT_NE(server.heads()[1].find("bytes=0-0"), std::string::npos);

  // A store that says nothing more still gets a NotFound naming the key.
  ScriptedServer mute(0, [](int, const std::string&) { return Reply(404, "Not Found", ""); });
  info = ClientFor(mute)->HeadObject("dir/missing");
  EXPECT_EQ(info.status().code(), StatusCode::kNotFound);
  EXPECT_NE(info.status().message().find("key 'dir/missing': NoSuchKey: HTTP 404"),
            std::string::npos)
      << info.status().message();
}

TEST(S3ClientTest, ReadCutShortResumesAtTheNextByte) {
  const std::string content = "0123456789";
  const std::string etag = "781e5e245d69b566979b86e28d23f2c7";  // MD5 of content
  // HEAD reports the length (Content-Length, no body); the first GET is cut after 4 bytes.
  ScriptedServer fixed(0, [&](int, const std::string& head) {
    if (head.rfind("head ", 0) == 0) {
      return "HTTP/1.1 200 OK\r\nETag: \"" + etag + "\"\r\nContent-Length: 10\r\n\r\n";
    }
    if (head.find("range: bytes=0-9") != std::string::npos) {
      return std::string(
          "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: "
          "10\r\nConnection: close\r\n\r\n0123");
    }
    if (head.find("range: bytes=4-9") != std::string::npos &&
        head.find("if-match: \"" + etag + "\"") != std::string::npos) {
      return Reply(206, "Partial Content", "456789", "Content-Range: bytes 4-9/10\r\n");
    }
    return Reply(400, "Bad Request", ErrorXml("InvalidRequest", "unexpected request"));
  });
  auto client = ClientFor(fixed);
  TempDir dir;
  const std::string path = dir.path + "/out.bin";
  auto info = client->GetObjectToFile("k", path);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(ReadFile(path).value(), content);
  EXPECT_EQ(fixed.heads().size(), 3u);
}

std::string Md5Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  FERRY_CHECK(EVP_Digest(data.data(), data.size(), md, &n, EVP_md5(), nullptr) == 1);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// Answers HEAD with `etag` and the size of `served`, and each ranged GET with its bytes of
// `served`, closing the connection after each range.
ScriptedServer::Respond RangeServer(const std::string& served, const std::string& etag) {
  return [served, etag](int, const std::string& head) {
    if (head.rfind("head ", 0) == 0) {
      return "HTTP/1.1 200 OK\r\nETag: \"" + etag +
             "\"\r\nContent-Length: " + std::to_string(served.size()) + "\r\n\r\n";
    }
    const size_t at = head.find("range: bytes=");
    if (at == std::string::npos)
      return Reply(400, "Bad Request", ErrorXml("InvalidRequest", "no range"));
    const size_t first = std::stoul(head.substr(at + 13));
    const size_t last = std::stoul(head.substr(head.find('-', at + 13) + 1));
    return Reply(206, "Partial Content", served.substr(first, last - first + 1),
                 "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) +
                     "/" + std::to_string(served.size()) + "\r\nConnection: close\r\n");
  };
}

std::string CountingContent() {
  std::string content;
  for (int i = 0; content.size() < (size_t{3} << 20) + 5; ++i) content += std::to_string(i) + ",";
  return content;
}

// A download over several connections checks the whole object's MD5 (its ETag) in byte order
// while the ranges arrive: the right bytes pass; one wrong byte in the last range is Corruption
// naming the ETag, and leaves no file behind.
TEST(S3ClientTest, ParallelDownloadChecksTheObjectsMd5) {
  const std::string content = CountingContent();
  const std::string etag = Md5Hex(content);
  for (bool corrupt : {false, true}) {
    std::string served = content;
    if (corrupt) served[served.size() - 2] ^= 1;
    ScriptedServer server(0, RangeServer(served, etag));
    auto client = ClientFor(server);
    TempDir dir;
    const std::string path = dir.path + "/out.bin";
    auto info = client->GetObjectToFile(
        "k", path, {.connections = 3, .chunk_size = 1 << 20, .parallel_threshold = 1 << 20});
    if (!corrupt) {
      ASSERT_TRUE(info.ok()) << info.status().message();
      EXPECT_TRUE(ReadFile(path).value() == content);
      EXPECT_EQ(server.heads().size(), 5u);  // HEAD and four ranges
    } else {
      EXPECT_EQ(info.status().code(), StatusCode::kCorruption);
      EXPECT_NE(info.status().message().find(etag), std::string::npos) << info.status().message();
      EXPECT_TRUE(ListDir(dir.path).value().empty());
    }
  }
}

// Left automatic, a download from a loopback endpoint (a store sharing this machine's cores)
// goes over one connection as one range, however large.
TEST(S3ClientTest, AutomaticConnectionsUseOneForALoopbackStore) {
  const std::string content = CountingContent();
  ScriptedServer server(0, RangeServer(content, Md5Hex(content)));
  auto client = ClientFor(server);
  TempDir dir;
  const std::string path = dir.path + "/out.bin";
  auto info =
      client->GetObjectToFile("k", path, {.chunk_size = 1 << 20, .parallel_threshold = 1 << 20});
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_TRUE(ReadFile(path).value() == content);
  EXPECT_EQ(server.heads().size(), 2u);  // HEAD and one range
}

TEST(S3ClientTest, ACompletionWhoseAnswerWasLostIsNotAFailure) {
  // The first CompleteMultipartUpload is cut before its answer; the retry finds the upload gone
  // (NoSuchUpload) because the first one completed it; the object is there with two parts.
  int completions = 0;  // touched by the server's thread only
  ScriptedServer server(0, [&](int, const std::string& head) {
    if (head.rfind("post /bkt/big?uploads=", 0) == 0) {
      return Reply(200, "OK",
                   "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
                   "</InitiateMultipartUploadResult>");
    }
    if (head.rfind("put /bkt/big?partnumber=", 0) == 0)
      return Reply(200, "OK", "", "ETag: \"not-an-md5\"\r\n");
    if (head.rfind("post /bkt/big?uploadid=u1", 0) == 0) {
      if (completions++ == 0) return std::string();  // closed: the answer is lost
      return Reply(404, "Not Found", ErrorXml("NoSuchUpload", "The upload does not exist."));
    }
    if (head.rfind("head /bkt/big", 0) == 0)
      return std::string("HTTP/1.1 200 OK\r\nETag: \"abc-2\"\r\nContent-Length: 6291456\r\n\r\n");
    return Reply(400, "Bad Request", ErrorXml("InvalidRequest", "unexpected request"));
  });
  auto client = ClientFor(server);
  TempDir dir;
  const std::string path = dir.path + "/big.bin";
  ASSERT_TRUE(WriteFileAtomic(path, std::string(6 << 20, 'x')).ok());
  auto put = client->PutObjectFromFile(
      "big", path, {.multipart_threshold = 5 << 20, .part_size = 5 << 20, .parts_in_flight = 1});
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(put.value().etag, "abc-2");
  EXPECT_EQ(put.value().parts_sent, 2);
}

TEST(S3ClientTest, PresignedUrlNamesNoSecret) {
  ScriptedServer server(0, [](int, const std::string&) { return Reply(200, "OK", ""); });
  auto client = ClientFor(server);
  auto url = client->PresignUrl("GET", "a b/c", 600);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url.value().rfind(server.endpoint() + "/bkt/a%20b/c?X-Amz-Algorithm=", 0), 0u)
      << url.value();
  EXPECT_NE(url.value().find("X-Amz-Expires=600"), std::string::npos);
  EXPECT_EQ(url.value().find(kSecret), std::string::npos);
  EXPECT_EQ(client->PresignUrl("DELETE", "k", 60).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->PresignUrl("GET", "k", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client->PresignUrl("GET", "", 60).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry::data
