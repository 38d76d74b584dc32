#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "invalidator/sdk/invalidation.hpp"
#include "pipeline/key_index.hpp"

namespace invalidator::pipeline {

// Drops from a batch what adds nothing: an invalidation whose next action on the same key in
// the batch has the same effect. Distinct actions on one key keep their order. A group of
// invalidations with the same effect is kept as its latest, carrying the group's highest
// version; the kept ones keep their order. Scratch storage is kept from batch to batch.
class Coalescer {
 public:
  // Coalesces `invalidations` in place and returns how many were dropped. Afterwards
  // owners()[i] is the position, in the coalesced array, of the invalidation that stands for
  // what item i was.
  std::size_t coalesce(std::vector<sdk::Invalidation>& invalidations);
  const std::vector<std::size_t>& owners() const { return owner_; }

 private:
  KeyIndex nearest_later_;           // key -> the nearest later item, walking backwards
  std::vector<std::size_t> owner_;
  std::vector<std::size_t> latest_;  // kept invalidation -> the item it was
  std::vector<std::uint64_t> versions_;
};

}  // namespace invalidator::pipeline
