#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

#include "pipeline/lane_batch.hpp"
#include "pipeline/queue_waits.hpp"

namespace invalidator::pipeline {

// The queue in front of a lane. Decode threads push whole batches and the lane takes whole
// batches: the batches' storage changes hands by swapping, so an invalidation is not moved on
// the way, and the storage a delivered batch leaves behind goes back to a decode thread to be
// filled again (allocated once, and still in the cache).
//
// The invalidations a lane delivered go back too, in the storage: the decode thread that
// pushes next frees their keys. It allocated them; a lane freeing what decode threads
// allocate made each thread's allocator cache overflow or run dry in turn.
//
// Bounded like BoundedQueue: a producer waits while `capacity` invalidations are queued, or
// while kMaxBatches batches are. The storage kept for reuse in free slots is bounded too, to
// room for twice `capacity` invalidations: past that, storage handed back is freed.
class LaneQueue {
 public:
  static constexpr std::size_t kMaxBatches = 64;

  explicit LaneQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity), slots_(8) {}

  // Waits for room, then queues what `batch` holds; `batch` comes back empty, with the
  // storage of a batch the lane has taken. False if the queue was closed or `stop` was
  // requested first; `batch` is then left as it was.
  bool push(LaneBatch& batch, const std::stop_token& stop = {}) {
    {
      std::unique_lock lock(mutex_);
      while (!(closed_ || stop.stop_requested() || has_room())) {
        wake_consumer_if_due();
        wait_for_room(lock, stop);
      }
      if (closed_ || stop.stop_requested()) return false;
      if (count_ == slots_.size()) grow();
      LaneBatch& slot = slots_[(head_ + count_) % slots_.size()];
      kept_for_reuse_ -= std::min(kept_for_reuse_, slot.invalidations.capacity());
      swap(slot, batch);
      ++count_;
      queued_items_ += slot.size();
      wake_consumer_if_due();
    }
    batch.clear();  // what the lane delivered, freed out of the lock
    return true;
  }

  // Takes up to `max_items` into `out`: waits until a batch is there (or the queue is
  // closed, or `wake_at` passed), then up to `linger` more for `max_items` to be queued.
  // Batches are taken whole, the first swapped in, the next ones appended while they fit;
  // one larger than `max_items` (producers push none) is split. Returns how many were taken;
  // `out` then holds those only. What `out` held on entry is the lane's delivered batch,
  // handed back with its storage (see above).
  std::size_t pop(LaneBatch& out, std::size_t max_items, std::chrono::milliseconds linger,
                  std::optional<std::chrono::steady_clock::time_point> wake_at = std::nullopt) {
    std::unique_lock lock(mutex_);
    auto ready = [&] { return closed_ || count_ > 0; };
    wait_as_consumer(lock, not_empty_, waiting_consumers_, wake_at, ready);
    if (count_ == 0) {
      lock.unlock();
      out.clear();
      return 0;
    }
    if (linger.count() > 0 && queued_items_ < max_items && has_room() && !closed_) {
      // Woken only once its batch is full, or the queue is (its producers then wait for
      // it), or at its deadline: a wake-up per push would cost a thread switch each.
      ++lingering_consumers_;
      linger_wake_size_ = std::min(linger_wake_size_, max_items);
      auto deadline = std::chrono::steady_clock::now() + linger;
      not_empty_.wait_until(lock, deadline, [&] { return closed_ || queued_items_ >= max_items || !has_room(); });
      if (--lingering_consumers_ == 0) linger_wake_size_ = kNoLingerer;
    }
    std::size_t taken = 0;
    while (count_ > 0 && taken < max_items) {
      LaneBatch& front = slots_[head_];
      const std::size_t room = max_items - taken;
      if (front.size() > room) {
        // Splitting moves what stays behind too: only done when nothing else is taken.
        if (taken > 0) break;
        out.clear();
        out.take_front(front, room);
        taken += room;
        queued_items_ -= room;
        break;
      }
      const std::size_t size = front.size();
      if (taken == 0) {
        swap(out, front);  // the slot keeps `out`'s delivered batch for a producer
      } else {
        out.take_front(front, size);
      }
      keep_for_reuse(front);
      taken += size;
      queued_items_ -= size;
      head_ = (head_ + 1) % slots_.size();
      --count_;
    }
    if (waiting_producers_ > 0) not_full_.notify_all();
    return taken;
  }

  // Producers are refused from now on; the consumer drains what is left.
  void close() {
    std::lock_guard guard(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Closed, and nothing left to take.
  bool drained() const {
    std::lock_guard guard(mutex_);
    return closed_ && count_ == 0;
  }

  // Invalidations queued.
  std::size_t size() const {
    std::lock_guard guard(mutex_);
    return queued_items_;
  }
  // Producers blocked in push() for want of room (tests wait on it instead of sleeping).
  std::size_t waiting_producers() const {
    std::lock_guard guard(mutex_);
    return waiting_producers_;
  }
  // Consumers waiting for a batch to fill.
  std::size_t lingering_consumers() const {
    std::lock_guard guard(mutex_);
    return lingering_consumers_;
  }

 private:
  static constexpr std::size_t kNoLingerer = static_cast<std::size_t>(-1);

  bool has_room() const { return queued_items_ < capacity_ && count_ < kMaxBatches; }
  // `spare` (a free slot's batch: the lane's delivered one, or an emptied one) keeps its
  // storage while the storage kept stays within the bound; otherwise it is freed here.
  void keep_for_reuse(LaneBatch& spare) {
    const std::size_t size = spare.invalidations.capacity();
    if (kept_for_reuse_ + size <= 2 * capacity_) {
      kept_for_reuse_ += size;
    } else {
      spare = LaneBatch{};
    }
  }
  void wake_consumer_if_due() {
    if (waiting_consumers_ > 0 || queued_items_ >= linger_wake_size_ || (lingering_consumers_ > 0 && !has_room())) {
      not_empty_.notify_all();
    }
  }
  void grow() {
    std::vector<LaneBatch> larger(slots_.size() * 2);
    for (std::size_t i = 0; i < slots_.size(); ++i) swap(larger[i], slots_[(head_ + i) % slots_.size()]);
    slots_ = std::move(larger);
    head_ = 0;
  }
  // Until there is room, the queue is closed or `stop` is requested.
  void wait_for_room(std::unique_lock<std::mutex>& lock, const std::stop_token& stop) {
    wait_as_producer(lock, not_full_, stop, waiting_producers_, std::nullopt,
                     [&] { return closed_ || stop.stop_requested() || has_room(); });
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::vector<LaneBatch> slots_;  // a ring: count_ batches from head_
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t queued_items_ = 0;
  std::size_t kept_for_reuse_ = 0;  // capacity of the batches in free slots
  bool closed_ = false;
  std::size_t waiting_producers_ = 0;
  std::size_t waiting_consumers_ = 0;
  std::size_t lingering_consumers_ = 0;
  std::size_t linger_wake_size_ = kNoLingerer;
};

}  // namespace invalidator::pipeline
