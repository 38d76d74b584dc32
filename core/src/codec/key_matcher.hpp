#pragma once

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
// field of every row image.
class KeyMatcher {
 public:
  explicit KeyMatcher(std::vector<std::string> names) : names_(std::move(names)) {
    for (const auto& name : names_) {
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
    const char* raw = key.raw();
    std::uint64_t low, high;
    std::memcpy(&low, raw, 8);
    std::memcpy(&high, raw + 8, 8);
    for (std::size_t i = 0; i < compiled_.size(); ++i) {
      const Compiled& compiled = compiled_[i];
      if (compiled.size > 16) {
        if (key.unsafe_is_equal(names_[i])) return &names_[i];
        continue;
      }
      if (raw[compiled.size] == '"' && (low & compiled.low_mask) == compiled.low &&
          (high & compiled.high_mask) == compiled.high) {
        return &names_[i];
      }
    }
    return nullptr;
  }

 private:
  struct Compiled {
    std::uint64_t low = 0, high = 0, low_mask = 0, high_mask = 0;
    std::size_t size = 0;
  };

  std::vector<std::string> names_;
  std::vector<Compiled> compiled_;
};

}  // namespace invalidator::codec
