// S3Client against a real S3 server. Runs when FERRY_S3_TEST_ENDPOINT (with _BUCKET,
// _ACCESS_KEY, _SECRET_KEY, and _TLS_ENDPOINT + _CA_FILE for its https side) names one:
// tests/integration/test_s3_client.py starts s3proxy and runs this binary so, which `make test`
// always does; plain ctest skips these.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "common/crypto.h"
#include "common/fs.h"
#include "data/s3_client.h"
#include "net/http_client.h"

namespace ferry::data {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.endpoint = Env("FERRY_S3_TEST_ENDPOINT");
    if (config_.endpoint.empty()) {
      GTEST_SKIP() << "FERRY_S3_TEST_ENDPOINT is unset (tests/integration/test_s3_client.py "
                      "runs these against s3proxy)";
    }
    config_.bucket = Env("FERRY_S3_TEST_BUCKET");
    config_.access_key = Env("FERRY_S3_TEST_ACCESS_KEY");
    config_.secret_key = Env("FERRY_S3_TEST_SECRET_KEY");
    options_.backoff = {.initial = std::chrono::milliseconds(10),
                        .max = std::chrono::milliseconds(100)};
    auto c = S3Client::Open(config_, options_);
    ASSERT_TRUE(c.ok()) << c.status().message();
    client_ = std::move(c).value();
    prefix_ = "test-" + RandomHex(6) + "/";
    char dir[] = "/tmp/ferry-s3-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      EXPECT_TRUE(RemoveAll(dir_).ok());
    }
  }

  std::string WriteRandomFile(const std::string& name, size_t size, uint32_t seed) {
    std::string data(size, '\0');
    std::mt19937 gen(seed);
    for (auto& c : data) c = static_cast<char>(gen());
    std::string path = dir_ + "/" + name;
    FERRY_CHECK(WriteFileAtomic(path, data).ok());
    return path;
  }

  S3Config config_;
  S3ClientOptions options_;
  std::unique_ptr<S3Client> client_;
  std::string prefix_, dir_;
};

TEST_F(S3StoreTest, PutAndGetSmallObjects) {
  const std::string key = prefix_ + "dir/hello world+~.txt";
  auto put = client_->PutObjectFromString(key, "hello, s3");
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(put.value().etag, "78e54b877296d63a3ff6f8dd3da312ae");  // MD5 of the content
  auto info = client_->HeadObject(key);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info.value().size, 9u);
  EXPECT_EQ(info.value().etag, put.value().etag);
  auto text = client_->GetObjectToString(key);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(text.value(), "hello, s3");

  const std::string path = dir_ + "/got.txt";
  ASSERT_TRUE(client_->GetObjectToFile(key, path).ok());
  EXPECT_EQ(ReadFile(path).value(), "hello, s3");
  auto range = client_->GetObjectToFile(key, path, {.offset = 7, .length = 2});
  ASSERT_TRUE(range.ok()) << range.status().message();
  EXPECT_EQ(ReadFile(path).value(), "s3");
  EXPECT_EQ(client_->GetObjectToFile(key, path, {.offset = 8, .length = 5}).status().code(),
            StatusCode::kInvalidArgument);

  ASSERT_TRUE(client_->PutObjectFromString(prefix_ + "empty", "").ok());
  ASSERT_TRUE(client_->GetObjectToFile(prefix_ + "empty", path).ok());
  EXPECT_EQ(ReadFile(path).value(), "");

  ASSERT_TRUE(client_->DeleteObject(key).ok());
  EXPECT_EQ(client_->HeadObject(key).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(client_->DeleteObject(key).ok());  // deleting a missing key succeeds
}

TEST_F(S3StoreTest, MultipartUploadAndParallelDownload) {
  const size_t size = (size_t{12} << 20) + 12345;
  const std::string src = WriteRandomFile("big.bin", size, 1);
  const std::string key = prefix_ + "big.bin";
  auto put = client_->PutObjectFromFile(
      key, src, {.multipart_threshold = 5 << 20, .part_size = 5 << 20, .parts_in_flight = 2});
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(put.value().parts_sent, 3);
  EXPECT_FALSE(put.value().upload_id.empty());
  auto info = client_->HeadObject(key);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info.value().size, size);

  const std::string expected = ReadFile(src).value();
  const std::string parallel = dir_ + "/parallel.bin";
  auto got = client_->GetObjectToFile(
      key, parallel, {.connections = 4, .chunk_size = 1 << 20, .parallel_threshold = 1 << 20});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_TRUE(ReadFile(parallel).value() == expected);
  const std::string single = dir_ + "/single.bin";
  ASSERT_TRUE(client_->GetObjectToFile(key, single, {.connections = 1}).ok());
  EXPECT_TRUE(ReadFile(single).value() == expected);
  // Only the final files are left: the temp files were renamed.
  EXPECT_EQ(ListDir(dir_).value().size(), 3u);

  // A single PUT of a file below the threshold, downloaded in parallel with its MD5 checked.
  const std::string mid = WriteRandomFile("mid.bin", (size_t{3} << 20) + 7, 2);
  ASSERT_TRUE(client_->PutObjectFromFile(prefix_ + "mid.bin", mid).ok());
  auto mid_got = client_->GetObjectToFile(
      prefix_ + "mid.bin", dir_ + "/mid.out",
      {.connections = 3, .chunk_size = 1 << 20, .parallel_threshold = 1 << 20});
  ASSERT_TRUE(mid_got.ok()) << mid_got.status().message();
  EXPECT_TRUE(ReadFile(dir_ + "/mid.out").value() == ReadFile(mid).value());
}

TEST_F(S3StoreTest, InterruptedMultipartUploadResumes) {
  const size_t size = size_t{12} << 20;
  const std::string src = WriteRandomFile("resume.bin", size, 3);
  const std::string key = prefix_ + "resume.bin";
  std::string upload_id;
  PutOptions first{.multipart_threshold = 5 << 20, .part_size = 5 << 20, .parts_in_flight = 1};
  first.abort_on_failure = false;
  first.on_upload_id = [&](const std::string& id) { upload_id = id; };
  first.progress = [](uint64_t done) { return done < (5u << 20); };  // stop after part 1
  auto cut = client_->PutObjectFromFile(key, src, first);
  ASSERT_FALSE(cut.ok());
  ASSERT_FALSE(upload_id.empty());
  EXPECT_NE(cut.status().message().find("upload " + upload_id + " kept"), std::string::npos)
      << cut.status().message();
  EXPECT_EQ(client_->HeadObject(key).status().code(), StatusCode::kNotFound);
  auto parts = client_->ListParts(key, upload_id);
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts.value().size(), 1u);
  EXPECT_EQ(parts.value()[0].number, 1);

  PutOptions resume{.multipart_threshold = 5 << 20, .part_size = 5 << 20};
  resume.resume_upload_id = upload_id;
  auto done = client_->PutObjectFromFile(key, src, resume);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done.value().parts_kept, 1);
  EXPECT_EQ(done.value().parts_sent, 2);
  const std::string out = dir_ + "/resume.out";
  ASSERT_TRUE(client_->GetObjectToFile(key, out).ok());
  EXPECT_TRUE(ReadFile(out).value() == ReadFile(src).value());
}

TEST_F(S3StoreTest, FailedMultipartUploadIsAborted) {
  const std::string src = WriteRandomFile("abort.bin", size_t{11} << 20, 4);
  const std::string key = prefix_ + "abort.bin";
  std::string upload_id;
  PutOptions options{.multipart_threshold = 5 << 20, .part_size = 5 << 20, .parts_in_flight = 1};
  options.on_upload_id = [&](const std::string& id) { upload_id = id; };
  options.progress = [](uint64_t) { return false; };
  auto put = client_->PutObjectFromFile(key, src, options);
  ASSERT_FALSE(put.ok());
  EXPECT_NE(put.status().message().find("multipart upload aborted"), std::string::npos)
      << put.status().message();
  // AWS answers NoSuchUpload; s3proxy's filesystem store lists no parts for an aborted upload.
  auto parts = client_->ListParts(key, upload_id);
  if (parts.ok()) {
    EXPECT_TRUE(parts.value().empty());
  } else {
    EXPECT_EQ(parts.status().code(), StatusCode::kNotFound) << parts.status().message();
  }
  EXPECT_EQ(client_->HeadObject(key).status().code(), StatusCode::kNotFound);
}

TEST_F(S3StoreTest, ListPagesThroughContinuationTokens) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(client_->PutObjectFromString(prefix_ + "l/" + std::to_string(i), "x").ok());
  ASSERT_TRUE(client_->PutObjectFromString(prefix_ + "other", "y").ok());
  auto page = client_->ListObjectsPage(prefix_ + "l/", "", 2);
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page.value().objects.size(), 2u);
  EXPECT_TRUE(page.value().truncated);
  auto all = client_->ListObjects(prefix_ + "l/", 2);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all.value().size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(all.value()[static_cast<size_t>(i)].key, prefix_ + "l/" + std::to_string(i));
    EXPECT_EQ(all.value()[static_cast<size_t>(i)].size, 1u);
    EXPECT_FALSE(all.value()[static_cast<size_t>(i)].etag.empty());
  }
  // Keys with bytes XML cannot carry come back intact (encoding-type=url).
  const std::string odd = prefix_ + "odd/a b+c%d\xc3\xa9\x01";
  ASSERT_TRUE(client_->PutObjectFromString(odd, "z").ok());
  auto odd_list = client_->ListObjects(prefix_ + "odd/");
  ASSERT_TRUE(odd_list.ok()) << odd_list.status().message();
  ASSERT_EQ(odd_list.value().size(), 1u);
  EXPECT_EQ(odd_list.value()[0].key, odd);
  EXPECT_EQ(client_->GetObjectToString(odd).value(), "z");
  auto dirs = client_->ListObjectsPage(prefix_, "", 1000, "/");
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(dirs.value().common_prefixes,
            (std::vector<std::string>{prefix_ + "l/", prefix_ + "odd/"}));
  EXPECT_EQ(dirs.value().objects.size(), 1u);
}

TEST_F(S3StoreTest, PresignedGetAndPutWorkOverPlainHttp) {
  const std::string key = prefix_ + "presigned/a b.txt";
  auto put_url = client_->PresignUrl("PUT", key, 300);
  ASSERT_TRUE(put_url.ok());
  auto http = net::HttpClient::Create(config_.endpoint, "");
  ASSERT_TRUE(http.ok());
  const std::string target = put_url.value().substr(config_.endpoint.size());
  auto put = http.value()->Request("PUT", target, "from a plain PUT", "text/plain");
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(put.value().status, 200) << put.value().body;

  auto get_url = client_->PresignUrl("GET", key, 300);
  ASSERT_TRUE(get_url.ok());
  auto get = http.value()->Request("GET", get_url.value().substr(config_.endpoint.size()));
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.value().status, 200);
  EXPECT_EQ(get.value().body, "from a plain PUT");
  // The URL is for that key and method only.
  auto other = http.value()->Request(
      "GET",
      get_url.value().substr(config_.endpoint.size()).replace(target.find("a%20b"), 5, "zzzzz"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value().status, 403);
}

TEST_F(S3StoreTest, WrongCredentialsGiveTheStoresErrorWithoutTheSecret) {
  S3Config bad_secret = config_;
  bad_secret.secret_key = "not-the-secret-Zq9";
  auto client = S3Client::Open(bad_secret, options_).value();
  Status st = client->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("s3 endpoint " + config_.endpoint + " bucket '" + config_.bucket +
                              "': SignatureDoesNotMatch: "),
            std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find("not-the-secret-Zq9"), std::string::npos);
  EXPECT_EQ(st.message().find(config_.secret_key), std::string::npos);

  S3Config bad_key = config_;
  bad_key.access_key = "NOSUCHKEY";
  st = S3Client::Open(bad_key, options_).value()->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("InvalidAccessKeyId: "), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find(config_.secret_key), std::string::npos);

  EXPECT_TRUE(client_->HeadBucket().ok());
  S3Config no_bucket = config_;
  no_bucket.bucket = "no-such-bucket-" + RandomHex(4);
  st = S3Client::Open(no_bucket, options_).value()->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("'" + no_bucket.bucket + "': NoSuchBucket"), std::string::npos)
      << st.message();
}

TEST_F(S3StoreTest, HttpsWithTheStoresOwnCa) {
  // The same store over TLS (s3proxy's secure endpoint, a self-signed certificate for
  // 127.0.0.1 whose PEM is FERRY_S3_TEST_CA_FILE).
  const std::string tls_endpoint = Env("FERRY_S3_TEST_TLS_ENDPOINT");
  ASSERT_FALSE(tls_endpoint.empty()) << "FERRY_S3_TEST_TLS_ENDPOINT is unset";
  S3Config tls = config_;
  tls.endpoint = tls_endpoint;
  tls.ca_file = Env("FERRY_S3_TEST_CA_FILE");
  auto opened = S3Client::Open(tls, options_);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  auto client = std::move(opened).value();
  ASSERT_TRUE(client->HeadBucket().ok());
  const std::string src = WriteRandomFile("tls.bin", (size_t{6} << 20) + 3, 5);
  const std::string key = prefix_ + "tls.bin";
  auto put = client->PutObjectFromFile(
      key, src, {.multipart_threshold = 5 << 20, .part_size = 5 << 20, .parts_in_flight = 2});
  ASSERT_TRUE(put.ok()) << put.status().message();
  const std::string out = dir_ + "/tls.out";
  auto got = client->GetObjectToFile(
      key, out, {.connections = 3, .chunk_size = 1 << 20, .parallel_threshold = 1 << 20});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_TRUE(ReadFile(out).value() == ReadFile(src).value());
  auto url = client->PresignUrl("GET", key, 60);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url.value().rfind(tls_endpoint + "/", 0), 0u);

  // Not trusted without the CA (the system's CAs do not know it), and not for another name.
  S3Config untrusted = tls;
  untrusted.ca_file.clear();
  Status st = S3Client::Open(untrusted, options_).value()->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("TLS handshake"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("certificate verify failed"), std::string::npos) << st.message();
  S3Config other_name = tls;
  other_name.endpoint.replace(other_name.endpoint.find("127.0.0.1"), 9, "localhost");
  st = S3Client::Open(other_name, options_).value()->HeadBucket();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.message();
}

TEST_F(S3StoreTest, MissingKeyIsNotFoundNamingBucketAndKey) {
  const std::string key = prefix_ + "missing";
  const std::string named = "bucket '" + config_.bucket + "' key '" + key + "'";
  auto head = client_->HeadObject(key);
  EXPECT_EQ(head.status().code(), StatusCode::kNotFound);
  EXPECT_NE(head.status().message().find(named + ": NoSuchKey: "), std::string::npos)
      << head.status().message();
  auto get = client_->GetObjectToFile(key, dir_ + "/x");
  EXPECT_EQ(get.status().code(), StatusCode::kNotFound);
  EXPECT_NE(get.status().message().find(named), std::string::npos);
  EXPECT_FALSE(PathExists(dir_ + "/x"));
  EXPECT_TRUE(ListDir(dir_).value().empty());
}

}  // namespace
}  // namespace ferry::data
