#include "pipeline/ack_tracker.hpp"

#include <optional>

namespace invalidator::pipeline {

AckTracker::Entry& AckTracker::open(const sdk::Position& position) {
  Entry* entry = nullptr;
  open_all(std::span(&position, 1), &entry);
  return *entry;
}

void AckTracker::open_all(std::span<const sdk::Position> positions, Entry** entries) {
  std::unique_lock lock(mutex_);
  if (limit_ > 0) room_.wait(lock, [&] { return tracked_ < limit_ || aborted_; });
  tracked_ += positions.size();
  std::deque<Entry>* stream = nullptr;
  std::uint64_t stream_id = 0;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    if (stream == nullptr || positions[i].stream != stream_id) {
      stream_id = positions[i].stream;
      stream = &streams_[stream_id].entries;
    }
    entries[i] = &stream->emplace_back(positions[i]);
  }
}

void AckTracker::abort() {
  {
    std::lock_guard guard(mutex_);
    aborted_ = true;
  }
  room_.notify_all();
}

void AckTracker::release(Entry& entry) {
  // Read before the decrement: once it reaches zero another thread may free the entry.
  const sdk::Position position = entry.position_;
  if (entry.pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  completed(position, true);
  sweep(position.stream);
}

void AckTracker::release_unkept(Entry& entry) {
  const sdk::Position position = entry.position_;
  if (entry.pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  completed(position, false);
  sweep(position.stream);
}

std::optional<std::uint64_t> AckTracker::release_later(Entry& entry, std::int64_t count) {
  const sdk::Position position = entry.position_;
  if (entry.pending_.fetch_sub(count, std::memory_order_acq_rel) != count) return std::nullopt;
  completed(position, true);
  return position.stream;
}

void AckTracker::completed(const sdk::Position& position, bool kept) {
  if (completion_ == sdk::Completion::individual && kept) acknowledge_(position);
}

void AckTracker::sweep(std::uint64_t stream_id) {
  std::unique_lock lock(mutex_);
  auto found = streams_.find(stream_id);
  if (found == streams_.end()) return;
  Stream& stream = found->second;
  std::optional<sdk::Position> last;
  std::uint64_t count = 0;
  while (!stream.entries.empty() && stream.entries.front().pending_.load(std::memory_order_acquire) == 0) {
    last = stream.entries.front().position_;
    stream.entries.pop_front();
    ++count;
  }
  if (!last) return;
  acknowledged_.fetch_add(count, std::memory_order_relaxed);
  tracked_ -= count;
  if (limit_ > 0) room_.notify_all();
  if (completion_ == sdk::Completion::individual) {  // each was reported as it completed
    if (stream.entries.empty()) streams_.erase(found);
    return;
  }
  stream.to_acknowledge = last;
  // One thread at a time tells the source about a stream, newest prefix first come first
  // told, with the lock released: a source that writes and fsyncs in acknowledge() holds up
  // that stream alone. A sweep that finds another thread telling leaves its prefix to it.
  if (stream.acknowledging) return;
  stream.acknowledging = true;
  while (stream.to_acknowledge) {
    const sdk::Position position = *stream.to_acknowledge;
    stream.to_acknowledge.reset();
    lock.unlock();
    acknowledge_(position);
    lock.lock();
  }
  stream.acknowledging = false;
  if (stream.entries.empty()) streams_.erase(found);
}

std::size_t AckTracker::outstanding() const {
  std::lock_guard guard(mutex_);
  return tracked_;
}

std::size_t AckTracker::streams() const {
  std::lock_guard guard(mutex_);
  return streams_.size();
}

}  // namespace invalidator::pipeline
