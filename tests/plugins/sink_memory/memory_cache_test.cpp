#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "memory_cache.hpp"
#include "memory_sink.hpp"

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;

TEST(MemoryCache, EvictsTheLeastRecentlyUsedEntry) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 2, .max_bytes = 0, .shards = 1, .default_ttl = 0ms});
  cache.put("a", "1");
  cache.put("b", "2");
  EXPECT_EQ(cache.get("a"), "1");  // a is now the most recent
  cache.put("c", "3");
  EXPECT_EQ(cache.get("b"), std::nullopt);
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get("c"), "3");
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST(MemoryCache, RespectsAByteBudget) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 0, .max_bytes = 4096, .shards = 1, .default_ttl = 0ms});
  for (int i = 0; i < 100; ++i) cache.put("key" + std::to_string(i), std::string(100, 'x'));
  auto stats = cache.stats();
  EXPECT_LE(stats.bytes, 4096u);
  EXPECT_GT(stats.evictions, 0u);
}

TEST(MemoryCache, EntriesExpire) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 10, .max_bytes = 0, .shards = 2, .default_ttl = 0ms});
  cache.put("short", "v", 1ms);
  cache.put("long", "v", 10s);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(cache.get("short"), std::nullopt);
  EXPECT_EQ(cache.get("long"), "v");
  EXPECT_EQ(cache.stats().expirations, 1u);
}

TEST(MemoryCache, CountsHitsAndMisses) {
  MemoryCache cache(MemorySink::default_limits());
  cache.put("a", "1");
  cache.get("a");
  cache.get("b");
  auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 1u);
}

// Readers fill and read while an invalidation thread deletes: no torn state, and after the
// last invalidation of a key no earlier value of it survives. Run under ThreadSanitizer by
// scripts/test.
TEST(MemoryCache, ConcurrentReadersWritersAndInvalidations) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 1000, .max_bytes = 0, .shards = 8, .default_ttl = 0ms});
  constexpr int kKeys = 200;
  constexpr int kRounds = 20'000;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        std::string key = "k" + std::to_string((i * 7 + t) % kKeys);
        if (!cache.get(key)) cache.put(key, "value-" + key);
        if (i % 50 == 0) cache.stats();
      }
    });
  }
  for (int i = 0; i < kRounds; ++i) {
    std::string key = "k" + std::to_string(i % kKeys);
    if (i % 3 == 0) cache.expire(key, 1ms);
    else cache.invalidate(key);
    if (i % 5000 == 0) cache.erase_matching("k1*");
  }
  done = true;
  for (auto& reader : readers) reader.join();
  for (int k = 0; k < kKeys; ++k) cache.invalidate("k" + std::to_string(k));
  EXPECT_EQ(cache.stats().entries, 0u);
  for (int k = 0; k < kKeys; ++k) {
    auto value = cache.get("k" + std::to_string(k));
    EXPECT_FALSE(value) << "k" << k;
  }
}

}  // namespace
}  // namespace invalidator::plugins
