// Log set-up: the text pattern, the JSON formatter and the level from flags or environment.
#include "common/log.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "common/utf8.h"

namespace ferry {
namespace {

// 2026-12-07T01:02:03.456Z info  server[1234] message
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %-5l %n[%t] %v";

Result<spdlog::level::level_enum> ParseLevel(std::string_view v, std::string_view from) {
  if (v == "debug") return spdlog::level::debug;
  if (v == "info") return spdlog::level::info;
  if (v == "warn" || v == "warning") return spdlog::level::warn;
  if (v == "error") return spdlog::level::err;
  return Status::InvalidArgument("unknown log level '" + std::string(v) + "' (" +
                                 std::string(from) + "); use debug, info, warn or error");
}

Result<LogFormat> ParseFormat(std::string_view v, std::string_view from) {
  if (v == "text") return LogFormat::kText;
  if (v == "json") return LogFormat::kJson;
  return Status::InvalidArgument("unknown log format '" + std::string(v) + "' (" +
                                 std::string(from) + "); use text or json");
}

const char* LevelName(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// {"time":"2026-12-07T01:02:03.456Z","level":"info","component":"server","thread":1234,"msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool message_is_fields) : fields_(message_is_fields) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(160 + msg.payload.size());
    const auto since = msg.time.time_since_epoch();
    const std::time_t secs = std::chrono::duration_cast<std::chrono::seconds>(since).count();
    const int millis = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char when[80];
    std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    line += "{\"time\":\"";
    line += when;
    line += "\",\"level\":\"";
    line += LevelName(msg.level);
    line += "\",\"component\":\"";
    AppendJsonString(&line, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    line += "\",\"thread\":";
    line += std::to_string(msg.thread_id);
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (fields_) {
      if (!payload.empty()) {
        line += ',';
        line += payload;
      }
      line += "}\n";
    } else {
      line += ",\"msg\":\"";
      AppendJsonString(&line, payload);
      line += "\"}\n";
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(fields_);
  }

 private:
  bool fields_;
};

std::unique_ptr<spdlog::formatter> MakeFormatter(const LogSettings& s, bool fields) {
  if (s.format == LogFormat::kJson) return std::make_unique<JsonFormatter>(fields);
  return std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc);
}

}  // namespace

Result<LogSettings> ResolveLogSettings(const LogOptions& flags) {
  LogSettings s;
  std::string level = flags.level, format = flags.format;
  std::string level_from = "--log-level", format_from = "--log-format";
  if (level.empty()) {
    const char* env = std::getenv("FERRY_LOG_LEVEL");
    level = env && *env ? env : "info";
    level_from = env && *env ? "FERRY_LOG_LEVEL" : "default";
  }
  if (format.empty()) {
    const char* env = std::getenv("FERRY_LOG_FORMAT");
    format = env && *env ? env : "text";
    format_from = env && *env ? "FERRY_LOG_FORMAT" : "default";
  }
  FERRY_ASSIGN_OR_RETURN(auto l, ParseLevel(level, level_from));
  FERRY_ASSIGN_OR_RETURN(s.format, ParseFormat(format, format_from));
  s.level = static_cast<int>(l);
  return s;
}

void InstallLogging(const LogSettings& s) {
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("server", sink);
  logger->set_formatter(MakeFormatter(s, false));
  logger->set_level(static_cast<spdlog::level::level_enum>(s.level));
  // Warnings and errors reach the file at once; the rest within a second at most.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

std::shared_ptr<spdlog::logger> ComponentLogger(const std::string& name, const LogSettings& s,
                                                bool message_is_fields) {
  // A sink of its own (a formatter belongs to a sink); stdout sinks share one lock, so lines
  // of different components never interleave.
  auto logger =
      std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stdout_sink_mt>());
  logger->set_formatter(MakeFormatter(s, message_is_fields));
  logger->set_level(static_cast<spdlog::level::level_enum>(s.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::drop(name);
  spdlog::register_logger(logger);  // flushed by flush_every with the default logger
  return logger;
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto plain = [&](std::string_view text) {
    for (char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            *out += "\\u00";
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 15]);
          } else {
            out->push_back(ch);
          }
      }
    }
  };
  if (!FindInvalidUtf8(s)) {
    plain(s);
  } else {
    plain(EscapeBytes(s));  // valid UTF-8, the invalid bytes as \xNN
  }
}

}  // namespace ferry
