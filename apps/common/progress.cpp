// Terminal progress bar of the ortho apps.
#include "apps/common/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <utility>

namespace ortho::apps {
namespace {

constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char text[32];
  std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                total % 60);
  return text;
}

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit)
    : ProgressBar(std::move(label), total, std::move(unit), std::cerr) {
  if (!stderr_is_terminal()) out_ = nullptr;
}

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit, std::ostream& out)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(std::max<std::int64_t>(total, 0)),
      out_(&out),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(std::int64_t done) {
  done_ = std::clamp<std::int64_t>(done, 0, total_);
  if (out_ == nullptr || finished_) return;
  const Clock::time_point now = Clock::now();
  if (drawn_ && done_ < total_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::set_postfix(std::string text) {
  postfix_ = std::move(text);
}

void ProgressBar::clear() {
  if (out_ == nullptr || finished_ || !drawn_) return;
  *out_ << "\r\x1b[K" << std::flush;
  drawn_ = false;
}

void ProgressBar::finish() {
  if (out_ == nullptr || finished_) return;
  draw();
  *out_ << '\n' << std::flush;
  finished_ = true;
}

void ProgressBar::draw() {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double fraction =
      total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  char numbers[160];
  std::snprintf(numbers, sizeof(numbers), " %lld/%lld %3d%% %.1f %s/s ETA %s",
                static_cast<long long>(done_), static_cast<long long>(total_),
                static_cast<int>(fraction * 100.0), rate, unit_.c_str(),
                format_duration(eta).c_str());
  // \r returns to the line start; \x1b[K clears what a longer previous line left behind.
  *out_ << '\r' << label_ << " [" << std::string(static_cast<std::size_t>(filled), '#')
        << std::string(static_cast<std::size_t>(kBarWidth - filled), '.') << ']' << numbers;
  if (!postfix_.empty()) *out_ << "  " << postfix_;
  *out_ << "\x1b[K" << std::flush;
  drawn_ = true;
}

}  // namespace ortho::apps
