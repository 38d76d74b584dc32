#pragma once

// A histogram observed from any thread without a lock: one relaxed atomic count per bucket and
// the running sum. The buckets are fixed when it is made, as Prometheus histograms' are.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "admin/prometheus_text.hpp"

namespace invalidator::admin {

class Histogram {
 public:
  // `upper_bounds`, increasing, must outlive the histogram (the families' tables are static).
  explicit Histogram(std::span<const double> upper_bounds)
      : upper_bounds_(upper_bounds), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds.size() + 1)) {}

  // Counted in the first bucket whose bound is at least `value` (Prometheus's "le").
  void observe(double value) {
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  // Many observations counted by one thread and added at once, one atomic add per bucket
  // touched: for a batch's items. Reused from batch to batch.
  class Tally {
   public:
    explicit Tally(std::span<const double> upper_bounds) : upper_bounds_(upper_bounds), counts_(upper_bounds.size() + 1) {}
    void observe(double value) {
      // The items of a batch are settled at one moment and mostly committed close together:
      // their values mostly fall in the bucket of the one before, checked with two
      // comparisons before any search (instructions counted in docs/performance.md).
      const std::size_t bounds = upper_bounds_.size();
      const bool in_last_bucket = (last_bucket_ == bounds || value <= upper_bounds_[last_bucket_]) &&
                                  (last_bucket_ == 0 || value > upper_bounds_[last_bucket_ - 1]);
      if (!in_last_bucket) {
        last_bucket_ = static_cast<std::size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                                                upper_bounds_.begin());
      }
      ++counts_[last_bucket_];
      sum_ += value;
    }
    // Adds what was counted to `histogram` (of the same bounds) and starts again from zero.
    void add_to(Histogram& histogram) {
      bool any = false;
      for (std::size_t i = 0; i < counts_.size(); ++i) {
        if (counts_[i] == 0) continue;
        histogram.counts_[i].fetch_add(counts_[i], std::memory_order_relaxed);
        counts_[i] = 0;
        any = true;
      }
      if (any) histogram.sum_.fetch_add(sum_, std::memory_order_relaxed);
      sum_ = 0;
    }

   private:
    std::span<const double> upper_bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0;
    std::size_t last_bucket_ = 0;
  };

  HistogramSnapshot snapshot() const {
    HistogramSnapshot out;
    out.upper_bounds = upper_bounds_;
    out.bucket_counts.reserve(upper_bounds_.size());
    for (std::size_t i = 0; i < upper_bounds_.size(); ++i) out.bucket_counts.push_back(counts_[i].load(std::memory_order_relaxed));
    out.above = counts_[upper_bounds_.size()].load(std::memory_order_relaxed);
    out.sum = sum_.load(std::memory_order_relaxed);
    return out;
  }

  std::uint64_t count() const {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) total += counts_[i].load(std::memory_order_relaxed);
    return total;
  }

  // See HistogramSnapshot::quantile.
  double quantile(double quantile) const { return snapshot().quantile(quantile); }

 private:
  std::span<const double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace invalidator::admin
