#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "pipeline/queue_waits.hpp"
#include "pipeline/ring_buffer.hpp"

namespace invalidator::pipeline {

// A blocking multi-producer queue with a fixed capacity: producers wait while it is full, so
// a slow consumer slows its producers instead of growing memory.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Waits for room. False if the queue was closed or `stop` was requested first.
  bool push(T&& item, const std::stop_token& stop = {}) {
    std::unique_lock lock(mutex_);
    while (!(closed_ || stop.stop_requested() || items_.size() < capacity_)) wait_for_room(lock, stop);
    if (closed_ || stop.stop_requested()) return false;
    items_.push_back(std::move(item));
    update_full();
    wake_consumer_if_due();
    return true;
  }

  // Pushes every item of `items` (emptied on success), waiting for room as needed: one lock
  // and one wake-up for the lot instead of one per item. False if closed or stopped first;
  // the items not pushed are then left in `items`.
  bool push_all(std::vector<T>& items, const std::stop_token& stop = {}) {
    std::size_t next = 0;
    std::unique_lock lock(mutex_);
    while (next < items.size()) {
      if (!(closed_ || stop.stop_requested() || items_.size() < capacity_)) {
        wake_consumer_if_due();
        wait_for_room(lock, stop);
      }
      if (closed_ || stop.stop_requested()) {
        items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(next));
        return false;
      }
      while (next < items.size() && items_.size() < capacity_) items_.push_back(std::move(items[next++]));
      update_full();
    }
    wake_consumer_if_due();
    items.clear();
    return true;
  }

  // Takes up to `max_items`: waits until one item is there (or the queue is closed, or
  // `wake_at` passed), then up to `linger` more for the batch to fill. Returns how many.
  std::size_t pop_batch(std::vector<T>& out, std::size_t max_items, std::chrono::milliseconds linger,
                        std::optional<std::chrono::steady_clock::time_point> wake_at = std::nullopt) {
    std::unique_lock lock(mutex_);
    auto ready = [&] { return closed_ || !items_.empty(); };
    wait_as_consumer(lock, not_empty_, waiting_consumers_, wake_at, ready);
    if (items_.empty()) return 0;
    if (linger.count() > 0 && items_.size() < max_items && !closed_) {
      // A lingering consumer is woken only once its batch is full, or the queue is (its
      // producers then wait for it), or at its deadline: a wake-up per push would cost a
      // thread switch each, for nothing.
      const std::size_t enough = std::min(max_items, capacity_);
      ++lingering_consumers_;
      linger_wake_size_ = std::min(linger_wake_size_, enough);
      auto deadline = std::chrono::steady_clock::now() + linger;
      not_empty_.wait_until(lock, deadline, [&] { return closed_ || items_.size() >= enough; });
      if (--lingering_consumers_ == 0) linger_wake_size_ = kNoLingerer;
    }
    std::size_t taken = 0;
    while (!items_.empty() && taken < max_items) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
      ++taken;
    }
    update_full();
    if (waiting_producers_ > 0) not_full_.notify_all();
    return taken;
  }

  // Producers are refused from now on; consumers drain what is left.
  void close() {
    std::lock_guard guard(mutex_);
    closed_ = true;
    update_full();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Closed, and nothing left to take.
  bool drained() const {
    std::lock_guard guard(mutex_);
    return closed_ && items_.empty();
  }

  std::size_t size() const {
    std::lock_guard guard(mutex_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }
  // Consumers waiting for a batch to fill.
  std::size_t lingering_consumers() const {
    std::lock_guard guard(mutex_);
    return lingering_consumers_;
  }
  // A push would wait now. Read without the lock (a source asks before every message): the
  // answer may be a moment old, which only delays a pause or a resume by that moment.
  bool full() const { return full_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kNoLingerer = static_cast<std::size_t>(-1);
  // Waking a thread costs a system call: only when one waits for what is there now. All
  // are woken: a consumer waiting for a first item and one lingering share the condition,
  // and waking only one of them could wake the one whose wait is not over.
  void wake_consumer_if_due() {
    if (waiting_consumers_ > 0 || items_.size() >= linger_wake_size_) not_empty_.notify_all();
  }
  void update_full() { full_.store(!closed_ && items_.size() >= capacity_, std::memory_order_relaxed); }
  // Until there is room, the queue is closed or `stop` is requested.
  void wait_for_room(std::unique_lock<std::mutex>& lock, const std::stop_token& stop) {
    wait_as_producer(lock, not_full_, stop, waiting_producers_,
                     [&] { return closed_ || stop.stop_requested() || items_.size() < capacity_; });
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  RingBuffer<T> items_;
  bool closed_ = false;
  std::atomic<bool> full_{false};  // !closed_ && items_.size() >= capacity_, kept under mutex_
  std::size_t waiting_producers_ = 0;
  std::size_t waiting_consumers_ = 0;    // waiting for a first item
  std::size_t lingering_consumers_ = 0;  // waiting for a batch to fill
  std::size_t linger_wake_size_ = kNoLingerer;  // the smallest batch a lingering consumer waits for
};

}  // namespace invalidator::pipeline
