// Terminal conventions of the CLI: whether a stream is a terminal, colour (NO_COLOR, TERM=dumb,
// --no-color), styled statuses and errors, and one progress line redrawn in place.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/mutex.h"

namespace ferry::cli {

enum class Stream { kStdout, kStderr };

// Whether the stream is a terminal (isatty), asked each time: nothing is cached.
bool IsTerminal(Stream s);
// Whether text on the stream gets colour: it is a terminal, NO_COLOR is unset or empty
// (no-color.org) and TERM is not "dumb". `--no-color` sets NO_COLOR for the process.
bool ColorEnabled(Stream s);

enum class Style { kBold, kDim, kRed, kGreen, kYellow, kCyan, kBoldRed };

// text in the style's escape codes when colour is on for the stream, else text as it is.
std::string Styled(Stream s, Style style, const std::string& text);
// A run or sweep status coloured by meaning: Completed green, Failed red, Canceled and
// Preempted yellow, Running cyan, the waiting ones (Queued, Preparing, ...) dim. Padded to
// `width` before the codes go around it, so table columns stay aligned.
std::string StatusText(Stream s, const std::string& status, int width = 0);
// What starts an error line on stderr: "ferry: error: " ("error:" in red with colour) on a
// terminal, "ferry: " elsewhere (the form scripts and tests already match).
std::string ErrorPrefix();

// 1536 -> "1.5 KiB"; below 1 KiB "N B".
std::string FormatBytes(uint64_t bytes);
// A transfer's progress: "Hashing 12/40 files, 3.4 MiB/10.0 MiB, 45.0 MiB/s" (the rate once
// `seconds` is measurable).
std::string TransferText(const std::string& what, uint64_t files_done, uint64_t files_total,
                         uint64_t bytes_done, uint64_t bytes_total, double seconds);

// One line of progress on stderr for a long wait. On a terminal the line is redrawn in place
// (\r, erase to the end of the line), at most 10 times a second, cut to the terminal's width,
// and erased by Clear() or the destructor. Elsewhere, and when disabled (JSON output), it
// prints nothing: the plain lines a command prints at its milestones (the snapshot's summary,
// a node's new state) are what a log or a pipe gets. Thread-safe: hashing threads may update
// it concurrently.
class Progress {
 public:
  explicit Progress(bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Whether updates are drawn (enabled and stderr a terminal).
  bool live() const { return live_; }
  // Draws text(), built only when a redraw is due (so per-file callers stay cheap).
  void Update(const std::function<std::string()>& text);
  void Update(const std::string& text) {
    Update([&text] { return text; });
  }
  // Erases the line so other output can follow; the next Update draws it again.
  void Clear();

 private:
  void DrawLocked(const std::string& text) REQUIRES(mu_);

  const bool live_;
  Mutex mu_;
  bool drawn_ GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point last_draw_ GUARDED_BY(mu_){};
};

}  // namespace ferry::cli
