#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace invalidator::sdk {

// Exponential backoff with jitter: the n-th wait is `initial` doubled n-1 times, at most `max`,
// then scaled by a factor between one half and one. The jitter keeps many clients (lanes,
// sources, processes) that failed together from retrying together.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          std::uint64_t seed = 0x9e3779b97f4a7c15ULL)
      : initial_(std::max<std::int64_t>(initial.count(), 1)),
        max_(std::max<std::int64_t>(max.count(), initial_)),
        state_(seed == 0 ? 1 : seed) {}

  // The wait before attempt `attempt` + 1, after `attempt` failures (1 for the first).
  std::chrono::milliseconds delay(int attempt) {
    double base = static_cast<double>(initial_);
    for (int i = 1; i < attempt && base < static_cast<double>(max_); ++i) base *= 2;
    base = std::min(base, static_cast<double>(max_));
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    const double fraction = 0.5 + 0.5 * static_cast<double>(state_ % 1000) / 1000.0;
    return std::chrono::milliseconds(static_cast<std::int64_t>(base * fraction));
  }
  // The next wait of a sequence of failures.
  std::chrono::milliseconds next() { return delay(++failures_); }
  // A success ends the sequence: the next failure waits `initial` again.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::int64_t initial_;
  std::int64_t max_;
  std::uint64_t state_;
  int failures_ = 0;
};

}  // namespace invalidator::sdk
