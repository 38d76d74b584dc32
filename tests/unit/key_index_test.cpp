#include <gtest/gtest.h>

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
  std::unordered_map<std::string, std::size_t> expected;
  // Fewer slots announced than keys come: the index grows and keeps what it held.
  index.reset(10);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    std::size_t& stored = index.find_or_insert(keys[i], i, inserted);
    auto [it, is_new] = expected.try_emplace(keys[i], i);
    EXPECT_EQ(inserted, is_new) << keys[i];
    EXPECT_EQ(stored, it->second) << keys[i];
    stored = i;
    it->second = i;
  }
  index.reset(keys.size());
  bool inserted = false;
  index.find_or_insert(keys.front(), 7, inserted);
  EXPECT_TRUE(inserted) << "a reset forgets the keys of the previous batch";
}

TEST(KeyIndex, KeysDifferingInOneByteAreDistinct) {
  std::vector<std::string> keys;
  for (char c = 'a'; c <= 'z'; ++c) {
    keys.push_back(std::string(20, 'k') + c);
    keys.push_back(std::string(1, c));
    keys.push_back(std::string(8, c));
  }
  KeyIndex index;
  index.reset(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    index.find_or_insert(keys[i], i, inserted);
    EXPECT_TRUE(inserted) << keys[i];
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool inserted = true;
    EXPECT_EQ(index.find_or_insert(keys[i], 999, inserted), i);
    EXPECT_FALSE(inserted);
  }
  EXPECT_NE(key_hash("customer:1"), key_hash("customer:2"));
}

}  // namespace
}  // namespace invalidator::pipeline
