#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <simdjson.h>

namespace invalidator::codec {

// Finds which of a few names a raw JSON object key is, as the key stands in the document
// (no unescaping; the names hold no escapes). simdjson's raw_json_string::unsafe_is_equal
// calls memcmp for every name of the key's length; this compares names of up to 16 bytes
// with two masked 8-byte loads, since a key is matched against every wanted name for every
// field of every row image. Most keys are none of the names: a table of the names' first
// bytes turns those away with one load.
class KeyMatcher {
 public:
  explicit KeyMatcher(std::vector<std::string> names) : names_(std::move(names)) {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      const std::string& name = names_[i];
      // An empty name's first byte is the key's closing quote.
      const auto first = static_cast<unsigned char>(name.empty() ? '"' : name.front());
      // With more names than a mask has bits, a first byte only says "look at them all".
      by_first_byte_[first] |= names_.size() <= 64 ? std::uint64_t{1} << i : ~std::uint64_t{0};
      Compiled compiled{};
      compiled.size = name.size();
      if (name.size() <= 16) {
        // Built bytewise, so that the words compare alike on either byte order.
        char text[16] = {};
        unsigned char mask[16] = {};
        std::memcpy(text, name.data(), name.size());
        std::memset(mask, 0xff, name.size());
        std::memcpy(&compiled.low, text, 8);
        std::memcpy(&compiled.high, text + 8, 8);
        std::memcpy(&compiled.low_mask, mask, 8);
        std::memcpy(&compiled.high_mask, mask + 8, 8);
      }
      compiled_.push_back(compiled);
    }
  }

  const std::vector<std::string>& names() const { return names_; }

  // The name `key` is, or null. Reads 16 bytes from the key's start, and the byte after each
  // name's length: the padding simdjson requires after a document (64 bytes) keeps that
  // within the buffer, as it does for unsafe_is_equal, which the longer names go through.
  const std::string* find(simdjson::ondemand::raw_json_string key) const {
    // Inline, for the common answer: no name starts with the key's first byte.
    const std::uint64_t candidates = by_first_byte_[static_cast<unsigned char>(key.raw()[0])];
    if (candidates == 0) return nullptr;
    return find_among(key, candidates);
  }

 private:
  const std::string* find_among(simdjson::ondemand::raw_json_string key, std::uint64_t candidates) const {
    std::uint64_t low, high;
    std::memcpy(&low, key.raw(), 8);
    std::memcpy(&high, key.raw() + 8, 8);
    if (names_.size() > 64) {  // more names than a mask has bits: each is tried
      for (std::size_t i = 0; i < names_.size(); ++i) {
        if (matches(i, key, low, high)) return &names_[i];
      }
      return nullptr;
    }
    for (; candidates != 0; candidates &= candidates - 1) {
      const auto i = static_cast<std::size_t>(std::countr_zero(candidates));
      if (matches(i, key, low, high)) return &names_[i];
    }
    return nullptr;
  }
  bool matches(std::size_t i, simdjson::ondemand::raw_json_string key, std::uint64_t low, std::uint64_t high) const {
    const Compiled& compiled = compiled_[i];
    if (compiled.size > 16) return key.unsafe_is_equal(names_[i]);
    return key.raw()[compiled.size] == '"' && (low & compiled.low_mask) == compiled.low &&
           (high & compiled.high_mask) == compiled.high;
  }

  struct Compiled {
    std::uint64_t low = 0, high = 0, low_mask = 0, high_mask = 0;
    std::size_t size = 0;
  };

  std::vector<std::string> names_;
  std::vector<Compiled> compiled_;
  // Bit i: names_[i] starts with that byte (every bit, with more than 64 names).
  std::array<std::uint64_t, 256> by_first_byte_{};
};

}  // namespace invalidator::codec
