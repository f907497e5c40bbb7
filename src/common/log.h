// The server's log lines: one format for all of them (time, level, component and thread),
// text or JSON (one object per line), a level from a flag or FERRY_LOG_LEVEL. spdlog's
// default logger is the "server" component; others (the access log) write to the same stdout.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace spdlog {
class logger;
}

namespace ferry {

enum class LogFormat { kText, kJson };

// What the command line asked for; "" : the environment (FERRY_LOG_LEVEL, FERRY_LOG_FORMAT),
// else info and text.
struct LogOptions {
  std::string level;   // debug | info | warn | error
  std::string format;  // text | json
};

struct LogSettings {
  int level = 2;  // spdlog::level::level_enum (info)
  LogFormat format = LogFormat::kText;
};

// Flags over the environment over the defaults. An unknown value is an error naming it and
// the choices (and where it came from).
Result<LogSettings> ResolveLogSettings(const LogOptions& flags);

// Makes spdlog's default logger the "server" component on stdout, in the settings' format
// and level. Call once, before the server's threads start.
void InstallLogging(const LogSettings& settings);

// A logger for one more component, on stdout like the default logger, at its level. With
// message_is_fields, a JSON line's message is not a "msg" string but JSON members
// ("k":v,...) spliced into the line's object (the access log's fields).
std::shared_ptr<spdlog::logger> ComponentLogger(const std::string& name,
                                                const LogSettings& settings,
                                                bool message_is_fields = false);

// Appends s as the inside of a JSON string (no quotes): control bytes and quotes escaped,
// bytes that are not valid UTF-8 as the \xNN escape of common/utf8.h (so always valid JSON).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace ferry
