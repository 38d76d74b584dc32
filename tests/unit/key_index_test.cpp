#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/key_index.hpp"

namespace invalidator::pipeline {
namespace {

TEST(KeyIndex, FindsEachKeyInsertedSinceTheLastReset) {
  KeyIndex index;
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("customer:" + std::to_string(i % 1000) + (i % 3 ? ":x" : ""));
  auto key_of = [&](std::uint32_t at) -> const std::string& { return keys[at]; };
  std::unordered_map<std::string, std::uint32_t> expected;
  // Fewer slots announced than keys come: the index grows and keeps what it held.
  index.reset(10);
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    std::uint32_t& stored = index.find_or_insert(keys[i], i, inserted, key_of);
    auto [it, is_new] = expected.try_emplace(keys[i], i);
    EXPECT_EQ(inserted, is_new) << keys[i];
    EXPECT_EQ(stored, it->second) << keys[i];
    stored = i;
    it->second = i;
  }
  index.reset(keys.size());
  bool inserted = false;
  index.find_or_insert(keys.front(), 7, inserted, key_of);
  EXPECT_TRUE(inserted) << "a reset forgets the keys of the previous batch";
}

TEST(KeyIndex, KeysDifferingInOneByteAreDistinct) {
  std::vector<std::string> keys;
  for (char c = 'a'; c <= 'z'; ++c) {
    keys.push_back(std::string(20, 'k') + c);
    keys.push_back(std::string(1, c));
    keys.push_back(std::string(8, c));
  }
  auto key_of = [&](std::uint32_t at) -> const std::string& { return keys[at]; };
  KeyIndex index;
  index.reset(keys.size());
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    index.find_or_insert(keys[i], i, inserted, key_of);
    EXPECT_TRUE(inserted) << keys[i];
  }
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    bool inserted = true;
    EXPECT_EQ(index.find_or_insert(keys[i], 999, inserted, key_of), i);
    EXPECT_FALSE(inserted);
  }
  EXPECT_NE(key_hash("customer:1"), key_hash("customer:2"));
}

TEST(KeyHash, EveryByteOfAKeyCounts) {
  // Keys of each length up to 24 that differ in one byte only, at each place: the tail of a
  // key shorter than a word, or past its last whole word, is read in pieces.
  for (std::size_t length = 1; length <= 24; ++length) {
    const std::string base(length, 'k');
    for (std::size_t at = 0; at < length; ++at) {
      std::string changed = base;
      changed[at] = 'x';
      EXPECT_NE(key_hash(base), key_hash(changed)) << "length " << length << ", byte " << at;
    }
    EXPECT_NE(key_hash(base), key_hash(base + '\0')) << "a key and the same key with a zero byte after it";
  }
}

}  // namespace
}  // namespace invalidator::pipeline
