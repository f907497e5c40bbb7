// Terminal detection, colour and the progress line of the CLI.
#include "cli/term.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ferry::cli {

namespace {

int Fd(Stream s) { return s == Stream::kStdout ? STDOUT_FILENO : STDERR_FILENO; }

bool DumbTerminal() {
  const char* term = std::getenv("TERM");
  return term && std::strcmp(term, "dumb") == 0;
}

const char* Codes(Style style) {
  switch (style) {
    case Style::kBold:
      return "\x1b[1m";
    case Style::kDim:
      return "\x1b[2m";
    case Style::kRed:
      return "\x1b[31m";
    case Style::kGreen:
      return "\x1b[32m";
    case Style::kYellow:
      return "\x1b[33m";
    case Style::kCyan:
      return "\x1b[36m";
    case Style::kBoldRed:
      return "\x1b[1;31m";
  }
  return "";
}

// The terminal's width in columns; 80 when it cannot be asked.
size_t TerminalWidth() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

bool IsTerminal(Stream s) { return ::isatty(Fd(s)) == 1; }

bool ColorEnabled(Stream s) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  return !DumbTerminal() && IsTerminal(s);
}

std::string Styled(Stream s, Style style, const std::string& text) {
  if (!ColorEnabled(s)) return text;
  return Codes(style) + text + "\x1b[0m";
}

std::string StatusText(Stream s, const std::string& status, int width) {
  std::string padded = status;
  if (width > 0 && padded.size() < static_cast<size_t>(width)) padded.resize(width, ' ');
  if (!ColorEnabled(s)) return padded;
  // Only the word is coloured; the padding stays plain.
  std::string pad = padded.substr(status.size());
  Style style = Style::kDim;
  if (status == "Completed") {
    style = Style::kGreen;
  } else if (status == "Failed") {
    style = Style::kRed;
  } else if (status == "Canceled" || status == "Preempted") {
    style = Style::kYellow;
  } else if (status == "Running" || status == "Finalizing") {
    style = Style::kCyan;
  }
  return Styled(s, style, status) + pad;
}

std::string ErrorPrefix() {
  if (!IsTerminal(Stream::kStderr)) return "ferry: ";
  return "ferry: " + Styled(Stream::kStderr, Style::kBoldRed, "error:") + " ";
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string TransferText(const std::string& what, uint64_t files_done, uint64_t files_total,
                         uint64_t bytes_done, uint64_t bytes_total, double seconds) {
  std::string text = what + " " + std::to_string(files_done) + "/" + std::to_string(files_total) +
                     " files, " + FormatBytes(bytes_done) + "/" + FormatBytes(bytes_total);
  if (seconds >= 0.2) {
    text +=
        ", " + FormatBytes(static_cast<uint64_t>(static_cast<double>(bytes_done) / seconds)) + "/s";
  }
  return text;
}

Progress::Progress(bool enabled) : live_(enabled && IsTerminal(Stream::kStderr)) {}

Progress::~Progress() { Clear(); }

void Progress::DrawLocked(const std::string& text) {
  // A line longer than the terminal wraps, and \r would then redraw only its last row.
  std::string line = text.substr(0, TerminalWidth() - 1);
  if (DumbTerminal()) {
    // No erase-line sequence: blank out what the previous line may have left.
    line.resize(TerminalWidth() - 1, ' ');
    std::fprintf(stderr, "\r%s", line.c_str());
  } else {
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

void Progress::Update(const std::function<std::string()>& text) {
  if (!live_) return;
  MutexLock lock(&mu_);
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  DrawLocked(text());
}

void Progress::Clear() {
  if (!live_) return;
  MutexLock lock(&mu_);
  if (!drawn_) return;
  if (DumbTerminal()) {
    std::fprintf(stderr, "\r%s\r", std::string(TerminalWidth() - 1, ' ').c_str());
  } else {
    std::fprintf(stderr, "\r\x1b[K");
  }
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace ferry::cli
