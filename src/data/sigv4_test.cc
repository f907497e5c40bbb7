// SigV4: encoding rules and signatures against fixed vectors. The expected Authorization
// values and presigned signatures were computed with botocore 1.44.18 (S3SigV4Auth,
// S3SigV4QueryAuth) for the same inputs, with get_current_datetime patched to
// 2026-12-07T08:00:00Z; tests/integration/test_s3_client.py recomputes such vectors with
// botocore on every run and compares them with the sigv4_sign tool.
#include "data/sigv4.h"

#include <gtest/gtest.h>

namespace ferry::data {
namespace {

const Credentials kCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr char kDate[] = "20261207T080000Z";

std::string Authorization(const HeaderList& headers) {
  for (const auto& [k, v] : headers)
    if (k == "Authorization") return v;
  return "";
}

TEST(SigV4Test, UriEncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(UriEncode("aZ09-_.~", true), "aZ09-_.~");
  EXPECT_EQ(UriEncode("a b+c/d=é*", true), "a%20b%2Bc%2Fd%3D%C3%A9%2A");
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b/c");
}

TEST(SigV4Test, CanonicalUriEncodesEachSegmentOnce) {
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/b/dir/a%20b"), "/b/dir/a%2520b");  // '%' is data, not an escape
  EXPECT_EQ(CanonicalUri("/b//x/../y"), "/b//x/../y");        // S3 normalises nothing
}

TEST(SigV4Test, CanonicalQuerySortsEncodedPairs) {
  EXPECT_EQ(CanonicalQueryString({{"prefix", "a b"}, {"list-type", "2"}, {"uploads", ""}}),
            "list-type=2&prefix=a%20b&uploads=");
  EXPECT_EQ(CanonicalQueryString({{"b", "2"}, {"a", "z"}, {"a", "y"}}), "a=y&a=z&b=2");
}

TEST(SigV4Test, AmzDateIsUtc) { EXPECT_EQ(AmzDate(1796630400), "20261207T080000Z"); }

TEST(SigV4Test, HeaderSignatureMatchesBotocoreWithPayloadHash) {
  SigV4Request req{
      .method = "GET",
      .host = "127.0.0.1:9000",
      .path = "/bucket/a b/c+d~\xc3\xa9",
      .query = {{"list-type", "2"}, {"prefix", "a b"}},
      .headers = {{"Range", "bytes=0-9"}},
      .payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
  HeaderList h = SignHeaders(kCreds, "us-east-1", kDate, req);
  EXPECT_EQ(Authorization(h),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=31f2ae94da1ae32d73c9c442c94a59ba02118fe95c901995898c54ed810e8e10");
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"x-amz-date", kDate}));
}

TEST(SigV4Test, HeaderSignatureMatchesBotocoreUnsignedPayload) {
  SigV4Request req{.method = "PUT",
                   .host = "s3.eu-west-1.example.com",
                   .path = "/bucket/k",
                   .query = {{"partNumber", "3"}, {"uploadId", "id/+="}},
                   .headers = {{"Content-Type", "application/octet-stream"}}};
  EXPECT_EQ(Authorization(SignHeaders(kCreds, "eu-west-1", kDate, req)),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/s3/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
            "Signature=35b9fc3246d1e5b32216627d80e7aa037a6abd38505eaace485c750e6f34b337");
}

TEST(SigV4Test, PresignedPutMatchesBotocore) {
  Credentials creds = kCreds;
  creds.session_token = "tok/en=+";
  SigV4Request req{.method = "PUT", .host = "127.0.0.1:9000", .path = "/bucket/dir/x y.bin"};
  EXPECT_EQ(PresignQuery(creds, "us-east-1", kDate, 900, req),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261207%2Fus-east-1"
            "%2Fs3%2Faws4_request&X-Amz-Date=20261207T080000Z&X-Amz-Expires=900&"
            "X-Amz-Security-Token=tok%2Fen%3D%2B&X-Amz-SignedHeaders=host&X-Amz-Signature="
            "0c063ea2294ece2649647379b300d14eed7ea1c4e975a28dc8f394d3f0c6c746");
}

TEST(SigV4Test, SessionTokenIsSentAndSigned) {
  Credentials creds = kCreds;
  creds.session_token = "T";
  SigV4Request req{.method = "GET", .host = "h", .path = "/b"};
  HeaderList h = SignHeaders(creds, "us-east-1", kDate, req);
  bool token = false;
  for (const auto& [k, v] : h) token = token || (k == "x-amz-security-token" && v == "T");
  EXPECT_TRUE(token);
  EXPECT_NE(Authorization(h).find("x-amz-security-token"), std::string::npos);
}

TEST(SigV4Test, TheSecretIsInNoOutput) {
  SigV4Request req{.method = "GET", .host = "h", .path = "/b"};
  for (const auto& [k, v] : SignHeaders(kCreds, "us-east-1", kDate, req))
    EXPECT_EQ(v.find(kCreds.secret_key), std::string::npos) << k;
  EXPECT_EQ(PresignQuery(kCreds, "us-east-1", kDate, 60, req).find("wJalr"), std::string::npos);
}

}  // namespace
}  // namespace ferry::data
