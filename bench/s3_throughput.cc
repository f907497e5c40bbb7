// Times one S3 transfer with Ferry's S3 client (src/data), for bench/s3_throughput.py:
//   s3_throughput get|put KEY FILE [CONNECTIONS] [PART_MIB]
// The store comes from FERRY_S3_TEST_ENDPOINT, _BUCKET, _ACCESS_KEY, _SECRET_KEY (never argv).
// Prints "RESULT op=get bytes=N seconds=S mib_s=R".
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "data/s3_client.h"

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int Run(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(
        stderr,
        "usage: s3_throughput get|put KEY FILE [CONNECTIONS (get: 0 = automatic)] [PART_MIB]\n");
    return 2;
  }
  const std::string op = argv[1], key = argv[2], file = argv[3];
  const int connections = argc > 4 ? std::atoi(argv[4]) : 4;
  const uint64_t part = (argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 16) << 20;
  ferry::data::S3Config config{.endpoint = Env("FERRY_S3_TEST_ENDPOINT"),
                               .bucket = Env("FERRY_S3_TEST_BUCKET"),
                               .access_key = Env("FERRY_S3_TEST_ACCESS_KEY"),
                               .secret_key = Env("FERRY_S3_TEST_SECRET_KEY")};
  auto client = ferry::data::S3Client::Open(config);
  if (!client.ok()) {
    std::fprintf(stderr, "s3_throughput: %s\n", client.status().message().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  if (op == "get") {
    auto r = client.value()->GetObjectToFile(
        key, file, {.connections = connections, .chunk_size = part, .parallel_threshold = part});
    if (!r.ok()) {
      std::fprintf(stderr, "s3_throughput: %s\n", r.status().message().c_str());
      return 1;
    }
    bytes = r.value().size;
  } else if (op == "put") {
    auto r = client.value()->PutObjectFromFile(
        key, file,
        {.multipart_threshold = part, .part_size = part, .parts_in_flight = connections});
    if (!r.ok()) {
      std::fprintf(stderr, "s3_throughput: %s\n", r.status().message().c_str());
      return 1;
    }
    auto info = client.value()->HeadObject(key);
    bytes = info.ok() ? info.value().size : 0;
  } else {
    std::fprintf(stderr, "s3_throughput: unknown operation '%s' (get or put)\n", op.c_str());
    return 2;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("RESULT op=%s bytes=%llu seconds=%.3f mib_s=%.1f\n", op.c_str(),
              static_cast<unsigned long long>(bytes), seconds,
              static_cast<double>(bytes) / (1 << 20) / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // std::string's allocations only
    std::fprintf(stderr, "s3_throughput: %s\n", e.what());
    return 1;
  }
}
