// Test tool: prints SigV4's Authorization header (or, with --presign SECONDS, a presigned
// query string) for the request described by its flags, so tests can compare with botocore.
//   sigv4_sign --method GET --host h:9000 --path /b/k --date 20261207T080000Z --region r
//              --access AK --secret SK [--token T] [--payload HASH] [--query k=v]...
//              [--header name:value]... [--presign 3600]
#include <cstdio>
#include <string>

#include "data/sigv4.h"

int main(int argc, char** argv) {
  ferry::data::Credentials creds;
  ferry::data::SigV4Request req;
  std::string date, region = "us-east-1";
  long long presign = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--method") {
      req.method = value;
    } else if (flag == "--host") {
      req.host = value;
    } else if (flag == "--path") {
      req.path = value;
    } else if (flag == "--date") {
      date = value;
    } else if (flag == "--region") {
      region = value;
    } else if (flag == "--access") {
      creds.access_key = value;
    } else if (flag == "--secret") {
      creds.secret_key = value;
    } else if (flag == "--token") {
      creds.session_token = value;
    } else if (flag == "--payload") {
      req.payload_hash = value;
    } else if (flag == "--query" || flag == "--header") {
      const auto sep = value.find(flag == "--query" ? '=' : ':');
      auto& list = flag == "--query" ? req.query : req.headers;
      list.emplace_back(value.substr(0, sep),
                        sep == std::string::npos ? "" : value.substr(sep + 1));
    } else if (flag == "--presign") {
      presign = std::stoll(value);
    } else {
      std::fprintf(stderr, "sigv4_sign: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (presign > 0) {
    std::printf("%s\n", ferry::data::PresignQuery(creds, region, date, presign, req).c_str());
    return 0;
  }
  for (const auto& [k, v] : ferry::data::SignHeaders(creds, region, date, req)) {
    if (k == "Authorization") std::printf("%s\n", v.c_str());
  }
  return 0;
}
