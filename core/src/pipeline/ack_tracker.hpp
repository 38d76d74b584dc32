#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::pipeline {

// Tells a source what it may let go of. Cumulative: a position is acknowledged only when every
// invalidation derived from it, and from every earlier position on the same stream, was
// delivered or dead-lettered; acknowledgements of one stream reach the source in order, never
// under the tracker's lock. Individual: each position is reported as soon as its own
// invalidations are done. Completions may arrive in any order and from any thread.
class AckTracker {
 public:
  class Entry {
   public:
    explicit Entry(sdk::Position position) : position_(position) {}
    const sdk::Position& position() const { return position_; }

   private:
    friend class AckTracker;
    sdk::Position position_;
    std::atomic<std::int64_t> pending_{1};  // the opener's hold
  };

  // Cumulative: acknowledge(P) means "P and everything before it on its stream". Individual:
  // acknowledge(P) means "P itself".
  using Acknowledge = std::function<void(const sdk::Position&)>;
  // `limit`: open() waits while this many positions are tracked (0: no limit). Positions a
  // stalled sink holds keep every later one of their stream tracked, however little those
  // need (a message no route wanted): the limit bounds that memory, and pauses the source.
  explicit AckTracker(Acknowledge acknowledge, sdk::Completion completion = sdk::Completion::cumulative,
                      std::size_t limit = 0)
      : acknowledge_(std::move(acknowledge)), completion_(completion), limit_(limit) {}

  // Starts tracking a position; the caller holds it open until release().
  // Positions must be opened in stream order.
  Entry& open(const sdk::Position& position);
  // As open() for each of `positions`, in order, under one lock (a decode thread opens a
  // batch of messages at once); entries[i] is the entry of positions[i]. Waits while the
  // limit is reached; the batch is then opened whole (a batch cannot be opened in part: its
  // opener's holds are released only after all of it is opened), so at most limit - 1 +
  // positions.size() are tracked.
  void open_all(std::span<const sdk::Position> positions, Entry** entries);
  // Stops open() waiting for room, now and from now on (the shutdown deadline).
  void abort();
  // One more piece of work now depends on `entry`.
  void retain(Entry& entry, std::int64_t count = 1) { entry.pending_.fetch_add(count, std::memory_order_relaxed); }
  // One piece of work for `entry` finished (delivered, dead-lettered, or the opener's hold).
  void release(Entry& entry);
  // The opener's hold of a message that was not kept: with individual completion it is not
  // reported complete (the pipeline rejects it to the source instead); cumulative, its
  // stream moves past it as with release().
  void release_unkept(Entry& entry);
  // As release() (`count` times), but leaves the acknowledgement to a later acknowledge_ready(): a lane that
  // finishes a batch of positions takes the lock once for the lot, not once per position.
  // Returns the stream to pass to acknowledge_ready() when `entry` became complete.
  std::optional<std::uint64_t> release_later(Entry& entry, std::int64_t count = 1);
  // Acknowledges what is complete at the front of `stream`.
  void acknowledge_ready(std::uint64_t stream) { sweep(stream); }

  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_relaxed); }
  // Positions opened but not yet acknowledged.
  std::size_t outstanding() const;
  // Streams with positions being tracked: one whose positions were all acknowledged is
  // forgotten (a partition revoked by a rebalance leaves nothing behind).
  std::size_t streams() const;

 private:
  struct Stream {
    std::deque<Entry> entries;  // deque: references stay valid
    std::optional<sdk::Position> to_acknowledge;  // newest complete prefix, not yet told
    bool acknowledging = false;                   // a thread is telling the source
  };
  // An entry's last hold went: reported at once with individual completion.
  void completed(const sdk::Position& position, bool kept);
  void sweep(std::uint64_t stream);

  Acknowledge acknowledge_;
  const sdk::Completion completion_;
  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::size_t tracked_ = 0;  // entries of every stream
  bool aborted_ = false;
  std::map<std::uint64_t, Stream> streams_;
  // Written by the lanes' sweeps; apart from the mutex the decode threads take to open.
  alignas(64) std::atomic<std::uint64_t> acknowledged_{0};
};

}  // namespace invalidator::pipeline
