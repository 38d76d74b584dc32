#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/coalescer.hpp"

namespace invalidator::pipeline {
namespace {

sdk::Invalidation item(sdk::Action action, std::string key, std::uint64_t version, std::optional<std::string> value = {}) {
  return sdk::Invalidation{.action = action, .key = std::move(key), .value = std::move(value), .version = version};
}
sdk::Invalidation del(std::string key, std::uint64_t version) { return item(sdk::Action::delete_key, std::move(key), version); }
sdk::Invalidation set(std::string key, std::string value, std::uint64_t version) {
  return item(sdk::Action::set_value, std::move(key), version, std::move(value));
}

// "action key@version" for each invalidation.
std::vector<std::string> described(const std::vector<sdk::Invalidation>& invalidations) {
  std::vector<std::string> out;
  for (const auto& invalidation : invalidations) {
    out.push_back(std::string(sdk::to_string(invalidation.action)) + " " + invalidation.key + "@" +
                  std::to_string(invalidation.version) + (invalidation.value ? "=" + *invalidation.value : ""));
  }
  return out;
}

TEST(Coalescer, NothingToDropLeavesTheBatchAsItIs) {
  Coalescer coalescer;
  std::vector<sdk::Invalidation> batch{del("a", 1), del("b", 2), set("a", "x", 3)};
  EXPECT_EQ(coalescer.coalesce(batch), 0u);
  EXPECT_EQ(described(batch), (std::vector<std::string>{"delete a@1", "delete b@2", "set a@3=x"}));
  EXPECT_EQ(coalescer.owners(), (std::vector<std::size_t>{0, 1, 2}));
}

TEST(Coalescer, KeepsTheLatestOfEachRunWithItsHighestVersionAndTheOrderOfDistinctActions) {
  Coalescer coalescer;
  std::vector<sdk::Invalidation> batch{
      del("a", 5),         // 0: same effect as 2, the next action on a
      del("b", 2),         // 1: same effect as 5
      del("a", 3),         // 2: next on a is a set: kept, standing for 0 too (version 5)
      set("a", "x", 4),    // 3: next on a is a set with another value: kept
      set("a", "y", 6),    // 4: same effect as 6
      del("b", 7),         // 5: kept, the last on b
      set("a", "y", 1),    // 6: kept, the last on a, standing for 4 too (version 6)
      del("c", 8),         // 7: alone
  };
  EXPECT_EQ(coalescer.coalesce(batch), 3u);
  EXPECT_EQ(described(batch),
            (std::vector<std::string>{"delete a@5", "set a@4=x", "delete b@7", "set a@6=y", "delete c@8"}));
  EXPECT_EQ(coalescer.owners(), (std::vector<std::size_t>{0, 2, 0, 1, 3, 2, 3, 4}));
}

TEST(Coalescer, ScratchFromABatchDoesNotLeakIntoTheNext) {
  Coalescer coalescer;
  std::vector<sdk::Invalidation> first{del("a", 1), del("a", 2), del("a", 3)};
  EXPECT_EQ(coalescer.coalesce(first), 2u);
  EXPECT_EQ(described(first), (std::vector<std::string>{"delete a@3"}));
  std::vector<sdk::Invalidation> second{del("b", 4), del("a", 5)};
  EXPECT_EQ(coalescer.coalesce(second), 0u);
  EXPECT_EQ(described(second), (std::vector<std::string>{"delete b@4", "delete a@5"}));
  EXPECT_EQ(coalescer.owners(), (std::vector<std::size_t>{0, 1}));
}

}  // namespace
}  // namespace invalidator::pipeline
