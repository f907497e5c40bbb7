// S3 XML documents as AWS documents them (and s3proxy writes them).
#include "data/s3_xml.h"

#include <gtest/gtest.h>

namespace ferry::data {
namespace {

TEST(S3XmlTest, ListObjectsV2Page) {
  auto page = ParseListObjectsV2(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>d/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>d/a &amp; b</Key><LastModified>2026-12-07T08:00:00.000Z</LastModified>
    <ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>d/big</Key><LastModified>2026-12-07T08:00:01.000Z</LastModified>
    <ETag>"9b2cf535f27731c974343645a3985328-3"</ETag><Size>12582912</Size></Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)");
  ASSERT_TRUE(page.ok()) << page.status().message();
  ASSERT_EQ(page.value().objects.size(), 2u);
  EXPECT_EQ(page.value().objects[0].key, "d/a & b");
  EXPECT_EQ(page.value().objects[0].etag, "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(page.value().objects[0].size, 1u);
  EXPECT_EQ(page.value().objects[0].last_modified, "2026-12-07T08:00:00.000Z");
  EXPECT_EQ(page.value().objects[1].etag, "9b2cf535f27731c974343645a3985328-3");
  EXPECT_EQ(page.value().objects[1].size, 12582912u);
  EXPECT_TRUE(page.value().truncated);
  EXPECT_EQ(page.value().next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlTest, UrlEncodedKeysAreDecoded) {
  // As s3proxy answers encoding-type=url (AWS writes '+' for a space).
  auto page = ParseListObjectsV2(
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>enc/a%20b%2Bc%25d%C3%A9%01</Key><Size>1</Size></Contents>"
      "<Contents><Key>x+y%zz</Key><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>p%2F</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page.value().objects[0].key, "enc/a b+c%d\xc3\xa9\x01");
  EXPECT_EQ(page.value().objects[1].key, "x y%zz");  // a bad escape stays as it is
  EXPECT_EQ(page.value().common_prefixes[0], "p/");
  // Without EncodingType the keys are taken as written.
  auto raw = ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>a+b%20</Key><Size>1</Size></Contents></ListBucketResult>");
  EXPECT_EQ(raw.value().objects[0].key, "a+b%20");
}

TEST(S3XmlTest, EmptyListAndCommonPrefixes) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><CommonPrefixes><Prefix>a/</Prefix>"
      "</CommonPrefixes></ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page.value().objects.empty());
  EXPECT_FALSE(page.value().truncated);
  EXPECT_EQ(page.value().common_prefixes, std::vector<std::string>{"a/"});
}

TEST(S3XmlTest, BadDocumentsAreErrorsNotExceptions) {
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><Contents>").status().code(),
            StatusCode::kInternal);
  EXPECT_EQ(ParseListObjectsV2("<Other/>").status().code(), StatusCode::kInternal);
  auto bad_size = ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>x1</Size></Contents></ListBucketResult>");
  EXPECT_NE(bad_size.status().message().find("Size 'x1'"), std::string::npos);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "</ListBucketResult>")
                .status()
                .code(),
            StatusCode::kInternal);
  EXPECT_TRUE(ParseError("not xml").code.empty());
  EXPECT_TRUE(ParseError("").code.empty());
}

TEST(S3XmlTest, ErrorDocument) {
  S3Error e = ParseError(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>
<Key>k</Key><RequestId>4442587FB7D0A2F9</RequestId></Error>)");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "The specified key does not exist.");
}

TEST(S3XmlTest, MultipartDocuments) {
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
      "</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id.value(), "VXBsb2FkIElE");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());

  auto parts = ParseListParts(
      "<ListPartsResult><UploadId>u</UploadId><IsTruncated>true</IsTruncated>"
      "<NextPartNumberMarker>2</NextPartNumberMarker>"
      "<Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag><Size>5242880</Size></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag><Size>10</Size></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts.value().parts.size(), 2u);
  EXPECT_EQ(parts.value().parts[0].number, 1);
  EXPECT_EQ(parts.value().parts[0].size, 5242880u);
  EXPECT_EQ(parts.value().parts[1].etag, "bb");
  EXPECT_TRUE(parts.value().truncated);
  EXPECT_EQ(parts.value().next_part_number_marker, 2);

  auto etag = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok());
  EXPECT_EQ(etag.value(), "x-2");
  EXPECT_EQ(CompleteMultipartUploadXml({{1, 5, "a&b"}, {2, 1, "c"}}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a&amp;b\"</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>\"c\"</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3XmlTest, StripQuotes) {
  EXPECT_EQ(StripQuotes("\"abc\""), "abc");
  EXPECT_EQ(StripQuotes("abc"), "abc");
  EXPECT_EQ(StripQuotes("\""), "\"");
}

}  // namespace
}  // namespace ferry::data
