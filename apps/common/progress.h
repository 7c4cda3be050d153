#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace ortho::apps {

// A one-line progress bar with count, rate and ETA, e.g.
//   epoch 3 [#########...........]  450/1000  45%  812.3 img/s  ETA 0:00:06  loss 1.234
// redrawn in place at most ten times a second. By default it draws on stderr and only when
// stderr is a terminal, so logs and pipes stay clean; otherwise every call is a no-op.
class ProgressBar {
 public:
  ProgressBar(std::string label, std::int64_t total, std::string unit = "it");
  // Draws on `out` unconditionally (for callers that picked the stream themselves).
  ProgressBar(std::string label, std::int64_t total, std::string unit, std::ostream& out);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  bool enabled() const { return out_ != nullptr; }
  void advance(std::int64_t count = 1) { update(done_ + count); }
  void update(std::int64_t done);
  // Free text shown after the ETA, such as the running loss.
  void set_postfix(std::string text);
  // Erases the bar from the terminal line, so other output can be written there; the next
  // update draws it again.
  void clear();
  // Draws the final state and ends the line; later calls do nothing.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  void draw();

  std::string label_, unit_, postfix_;
  std::int64_t total_ = 0, done_ = 0;
  std::ostream* out_ = nullptr;
  Clock::time_point start_, last_draw_;
  bool drawn_ = false, finished_ = false;
};

// "H:MM:SS" of a duration in seconds ("?" when negative or not finite).
std::string format_duration(double seconds);
// True when stderr is a terminal.
bool stderr_is_terminal();

}  // namespace ortho::apps
