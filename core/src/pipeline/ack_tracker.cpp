#include "pipeline/ack_tracker.hpp"

#include <optional>

namespace invalidator::pipeline {

AckTracker::Entry& AckTracker::open(const sdk::Position& position) {
  Entry* entry = nullptr;
  open_all(std::span(&position, 1), &entry);
  return *entry;
}

void AckTracker::open_all(std::span<const sdk::Position> positions, Entry** entries) {
  std::lock_guard guard(mutex_);
  std::deque<Entry>* stream = nullptr;
  std::uint64_t stream_id = 0;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (stream == nullptr || positions[i].stream != stream_id) {
      stream_id = positions[i].stream;
      stream = &streams_[stream_id];
    }
    entries[i] = &stream->emplace_back(positions[i]);
  }
}

void AckTracker::release(Entry& entry) {
  // Read before the decrement: once it reaches zero another thread may free the entry.
  const std::uint64_t stream = entry.position_.stream;
  if (entry.pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  sweep(stream);
}

std::optional<std::uint64_t> AckTracker::release_later(Entry& entry, std::int64_t count) {
  const std::uint64_t stream = entry.position_.stream;
  if (entry.pending_.fetch_sub(count, std::memory_order_acq_rel) != count) return std::nullopt;
  return stream;
}

void AckTracker::sweep(std::uint64_t stream) {
  std::lock_guard guard(mutex_);
  auto found = streams_.find(stream);
  if (found == streams_.end()) return;
  auto& entries = found->second;
  std::optional<sdk::Position> last;
  std::uint64_t count = 0;
  while (!entries.empty() && entries.front().pending_.load(std::memory_order_acquire) == 0) {
    last = entries.front().position_;
    entries.pop_front();
    ++count;
  }
  if (last) {
    acknowledged_.fetch_add(count, std::memory_order_relaxed);
    // Under the lock, so that acknowledgements of one stream reach the source in order.
    acknowledge_(*last);
  }
}

std::size_t AckTracker::outstanding() const {
  std::lock_guard guard(mutex_);
  std::size_t total = 0;
  for (const auto& [stream, entries] : streams_) total += entries.size();
  return total;
}

}  // namespace invalidator::pipeline
