#pragma once

// What one lane of a sink did, for /metrics. Each lane owns its own, written by the lane's
// thread alone, so no two cores write one cache line; a scrape sums a sink's lanes.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/histogram.hpp"
#include "invalidator/sdk/invalidation.hpp"

namespace invalidator::pipeline {

inline constexpr std::array<double, 13> kBatchSizeBuckets{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
inline constexpr std::array<double, 16> kDeliverySecondsBuckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                                1,      2.5,     5,      10};
inline constexpr std::array<double, 17> kStalenessSecondsBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1,   0.25,   0.5,   1,    2.5,   5,
                                                                 10,    30,     60,    300,  3600};

inline constexpr std::size_t kActionCount = 4;
constexpr std::size_t action_index(sdk::Action action) { return static_cast<std::size_t>(action); }
inline constexpr std::array<sdk::Action, kActionCount> kActions{sdk::Action::delete_key, sdk::Action::set_value,
                                                                 sdk::Action::expire, sdk::Action::delete_pattern};

class SinkMetrics {
 public:
  std::array<std::atomic<std::uint64_t>, kActionCount> delivered{};      // by action
  std::array<std::atomic<std::uint64_t>, kActionCount> dead_lettered{};  // by action
  std::atomic<std::uint64_t> retries{0};                                  // deliveries the sink asked to retry
  admin::Histogram batch_size{kBatchSizeBuckets};                // invalidations handed to one deliver()
  admin::Histogram delivery_seconds{kDeliverySecondsBuckets};    // one deliver() call
  // From the change's commit to its invalidation settled by the sink (delivered, or at worst
  // dead-lettered): how long a cache could serve the old value. Changes whose commit time is
  // not known are left out.
  admin::Histogram staleness_seconds{kStalenessSecondsBuckets};

  // Whether the sink's last delivery was answered (applied, or refused for good) or is being
  // retried, for /readyz and the status page. Changed only when it changes: the lane reads
  // the flag of a line it owns before each delivery.
  std::atomic<bool> unreachable{false};
  void mark_unreachable(std::string reason) {
    std::lock_guard guard(mutex_);
    unreachable_reason_ = reason.empty() ? "(no reason given)" : std::move(reason);
    unreachable.store(true, std::memory_order_relaxed);
  }
  void mark_reachable() {
    std::lock_guard guard(mutex_);
    unreachable_reason_.clear();
    unreachable.store(false, std::memory_order_relaxed);
  }
  // Empty while reachable.
  std::string unreachable_reason() const {
    std::lock_guard guard(mutex_);
    return unreachable_reason_;
  }

 private:
  mutable std::mutex mutex_;
  std::string unreachable_reason_;
};

// A sink is reachable while none of its lanes is retrying; else the reason of the first that
// is. The one rule for /readyz, /status and invalidator_sink_up.
inline std::optional<std::string> unreachable_reason(const std::vector<const SinkMetrics*>& lanes) {
  for (const SinkMetrics* lane : lanes) {
    if (!lane->unreachable.load(std::memory_order_relaxed)) continue;
    // Read apart from the flag: empty if the lane was answered again in between.
    if (std::string reason = lane->unreachable_reason(); !reason.empty()) return reason;
  }
  return std::nullopt;
}

}  // namespace invalidator::pipeline
