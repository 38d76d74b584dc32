#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "invalidator/sdk/invalidation.hpp"
#include "pipeline/ack_tracker.hpp"

namespace invalidator::pipeline {

// Where an invalidation came from, and what the lane owes once it is delivered.
struct ItemOrigin {
  AckTracker* tracker = nullptr;
  AckTracker::Entry* entry = nullptr;
  const std::string* topic = nullptr;  // interned by the pipeline, lives as long as it
  std::uint32_t source = 0;
  std::uint32_t route = 0;
  std::chrono::milliseconds redelete_after{0};
};

// Invalidations bound for one lane, in order. The invalidations sit in an array of their own,
// which the lane hands to the sink as it is when nothing was coalesced: a batch is written
// once by a decode thread and read once by the lane, instead of being moved item by item
// into a queue, out of it, and into an array for the sink.
struct LaneBatch {
  std::vector<sdk::Invalidation> invalidations;
  std::vector<ItemOrigin> origins;  // origins[i] is where invalidations[i] came from

  std::size_t size() const { return invalidations.size(); }
  bool empty() const { return invalidations.empty(); }
  void add(sdk::Invalidation&& invalidation, const ItemOrigin& origin) {
    invalidations.push_back(std::move(invalidation));
    origins.push_back(origin);
  }
  // Moves the first `count` items of `other` to the end of this batch; `other` keeps the rest.
  void take_front(LaneBatch& other, std::size_t count) {
    count = std::min(count, other.size());
    invalidations.insert(invalidations.end(), std::make_move_iterator(other.invalidations.begin()),
                         std::make_move_iterator(other.invalidations.begin() + static_cast<std::ptrdiff_t>(count)));
    origins.insert(origins.end(), other.origins.begin(), other.origins.begin() + static_cast<std::ptrdiff_t>(count));
    other.invalidations.erase(other.invalidations.begin(), other.invalidations.begin() + static_cast<std::ptrdiff_t>(count));
    other.origins.erase(other.origins.begin(), other.origins.begin() + static_cast<std::ptrdiff_t>(count));
  }
  // Empties the batch and keeps its storage for the next one.
  void clear() {
    invalidations.clear();
    origins.clear();
  }
};

inline void swap(LaneBatch& a, LaneBatch& b) noexcept {
  a.invalidations.swap(b.invalidations);
  a.origins.swap(b.origins);
}

}  // namespace invalidator::pipeline
