#pragma once

#include <atomic>
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

  enum class Push { pushed, full, closed };

  // Waits for room. False if the queue was closed or `stop` was requested first.
  bool push(T&& item, const std::stop_token& stop = {}) { return push_until(std::move(item), stop, std::nullopt) == Push::pushed; }

  // Waits for room until `deadline`. `item` is moved from only when pushed: on `full` and
  // `closed` it is still the caller's.
  Push push_until(T&& item, const std::stop_token& stop,
                  std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(mutex_);
    while (!(closed_ || stop.stop_requested() || items_.size() < capacity_)) {
      if (deadline && std::chrono::steady_clock::now() >= *deadline) return Push::full;
      wait_for_room(lock, stop, deadline);
    }
    if (closed_ || stop.stop_requested()) return Push::closed;
    items_.push_back(std::move(item));
    wake_consumer_if_due();
    return Push::pushed;
  }

  // Takes up to `max_items`, once one is there (or the queue is closed), into `batch`, and
  // returns how many. What `batch` held on entry are spent items, handed back: they take the
  // places of the items taken, so that their storage is freed, or reused, where a producer
  // pushes next. A producer's thread allocated that storage; freeing it there keeps the
  // allocator's per-thread caches balanced, where a consumer freeing what producers
  // allocated made each thread's cache overflow or run dry in turn. A slot holds a queued
  // item or a spent one, never both: memory stays within what a full queue holds.
  std::size_t pop_batch(std::vector<T>& batch, std::size_t max_items) {
    const std::size_t spent = batch.size();
    std::size_t taken = 0;
    {
      std::unique_lock lock(mutex_);
      auto ready = [&] { return closed_ || !items_.empty(); };
      wait_as_consumer(lock, not_empty_, waiting_consumers_, std::nullopt, ready);
      while (!items_.empty() && taken < max_items) {
        if (taken < spent) {
          using std::swap;
          swap(batch[taken], items_.front());
        } else {
          batch.push_back(std::move(items_.front()));
        }
        items_.pop_front();
        ++taken;
      }
        if (waiting_producers_ > 0) not_full_.notify_all();
    }
    if (taken < spent) batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(taken), batch.end());
    return taken;
  }

  // Producers are refused from now on; consumers drain what is left.
  void close() {
    std::lock_guard guard(mutex_);
    closed_ = true;
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
  // Producers blocked in push() for want of room (tests wait on it instead of sleeping).
  std::size_t waiting_producers() const {
    std::lock_guard guard(mutex_);
    return waiting_producers_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  // Waking a thread costs a system call: only when one waits.
  void wake_consumer_if_due() {
    if (waiting_consumers_ > 0) not_empty_.notify_all();
  }
  // Until there is room, the queue is closed, `stop` is requested or `deadline` passes.
  void wait_for_room(std::unique_lock<std::mutex>& lock, const std::stop_token& stop,
                     std::optional<std::chrono::steady_clock::time_point> deadline) {
    wait_as_producer(lock, not_full_, stop, waiting_producers_, deadline,
                     [&] { return closed_ || stop.stop_requested() || items_.size() < capacity_; });
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  RingBuffer<T> items_;
  bool closed_ = false;
  std::size_t waiting_producers_ = 0;
  std::size_t waiting_consumers_ = 0;
};

}  // namespace invalidator::pipeline
