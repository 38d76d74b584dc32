#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace invalidator::pipeline {

// A hash of a short string (a cache key), cheaper than std::hash for the 10 to 60 bytes keys
// have: eight bytes at a time, then a final mix so that the low bits depend on every byte.
inline std::uint64_t key_hash(std::string_view key) {
  std::uint64_t hash = 0x9e3779b97f4a7c15ULL ^ key.size();
  const char* data = key.data();
  std::size_t left = key.size();
  while (left >= 8) {
    std::uint64_t word;
    std::memcpy(&word, data, 8);
    hash = (hash ^ word) * 0xbf58476d1ce4e5b9ULL;
    hash ^= hash >> 31;
    data += 8;
    left -= 8;
  }
  if (left > 0) {
    // The last bytes, in loads of fixed size (a copy of `left` bytes is a call to memcpy):
    // the key's last eight bytes when it has eight, else four and two and one.
    std::uint64_t word = 0;
    if (key.size() >= 8) {
      std::memcpy(&word, key.data() + key.size() - 8, 8);
    } else {
      if (left & 4) {
        std::uint32_t part;
        std::memcpy(&part, data, 4);
        word = part;
        data += 4;
      }
      if (left & 2) {
        std::uint16_t part;
        std::memcpy(&part, data, 2);
        word = (word << 16) | part;
        data += 2;
      }
      if (left & 1) word = (word << 8) | static_cast<unsigned char>(*data);
    }
    hash = (hash ^ word) * 0xbf58476d1ce4e5b9ULL;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  return hash;
}

// Maps the keys of one batch to an index (the latest item seen with that key), for
// coalescing. Open addressing in one array that is reset, not freed, between batches: no
// allocation per key, where std::unordered_map allocated a node for each. A slot holds the
// key's hash and the index only (16 bytes: a batch's table stays in the first-level cache);
// the keys themselves are read through `key_of(index)`, when hashes are equal.
class KeyIndex {
 public:
  // Forgets every key, without touching the slots (each carries the generation it was
  // filled in); ready for `expected` distinct keys without growing.
  void reset(std::size_t expected) {
    if (++generation_ == 0) {  // wrapped around: stale slots could pass for current ones
      slots_.assign(slots_.size(), Slot{});
      generation_ = 1;
    }
    std::size_t capacity = slots_.empty() ? 16 : slots_.size();
    while (capacity < expected * 2) capacity *= 2;
    if (capacity != slots_.size()) slots_.assign(capacity, Slot{});
    size_ = 0;
  }

  // The index stored for `key`, inserting `index` when the key is new. `key_of(i)` gives the
  // key of an index stored before, as a string_view.
  template <typename KeyOf>
  std::uint32_t& find_or_insert(std::string_view key, std::uint32_t index, bool& inserted, const KeyOf& key_of) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t hash = key_hash(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
      Slot& slot = slots_[at];
      if (slot.generation != generation_) {
        slot = Slot{hash, index, generation_};
        ++size_;
        inserted = true;
        return slot.index;
      }
      if (slot.hash == hash && std::string_view(key_of(slot.index)) == key) {
        inserted = false;
        return slot.index;
      }
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t index = 0;
    std::uint32_t generation = 0;  // the slot holds a key of this batch when it is current
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.generation != generation_) continue;
      std::size_t at = slot.hash & mask;
      while (slots_[at].generation == generation_) at = (at + 1) & mask;
      slots_[at] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::uint32_t generation_ = 1;
};

}  // namespace invalidator::pipeline
