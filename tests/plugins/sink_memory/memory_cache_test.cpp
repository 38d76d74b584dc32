#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "memory_cache.hpp"
#include "memory_sink.hpp"

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;

TEST(MemoryCache, EvictsTheLeastRecentlyUsedEntry) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 2, .max_bytes = 0, .shards = 1, .default_ttl = 0ms, .lease_timeout = 10s});
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
  MemoryCache cache(MemoryCacheLimits{.max_entries = 0, .max_bytes = 4096, .shards = 1, .default_ttl = 0ms, .lease_timeout = 10s});
  for (int i = 0; i < 100; ++i) cache.put("key" + std::to_string(i), std::string(100, 'x'));
  auto stats = cache.stats();
  EXPECT_LE(stats.bytes, 4096u);
  EXPECT_GT(stats.evictions, 0u);
}

TEST(MemoryCache, EntriesExpire) {
  MemoryCache cache(MemoryCacheLimits{.max_entries = 10, .max_bytes = 0, .shards = 2, .default_ttl = 0ms, .lease_timeout = 10s});
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
  MemoryCache cache(MemoryCacheLimits{.max_entries = 1000, .max_bytes = 0, .shards = 8, .default_ttl = 0ms, .lease_timeout = 10s});
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

MemoryCacheLimits one_shard(std::chrono::milliseconds lease_timeout = 10s) {
  return MemoryCacheLimits{.max_entries = 0, .max_bytes = 0, .shards = 1, .default_ttl = 0ms, .lease_timeout = lease_timeout};
}

TEST(MemoryCacheLeases, AFillAfterAnInvalidationOfItsKeyIsRefused) {
  MemoryCache cache(one_shard());
  // A reader misses, takes a lease and reads the database: "old".
  const std::uint64_t lease = cache.lease("customer:1");
  ASSERT_NE(lease, 0u);
  // The row changes; its invalidation reaches the cache before the reader fills.
  cache.invalidate("customer:1");
  EXPECT_FALSE(cache.fill("customer:1", "old", lease)) << "the value read before the change";
  EXPECT_EQ(cache.get("customer:1"), std::nullopt);
  // The next reader reads after the change and may fill.
  const std::uint64_t next = cache.lease("customer:1");
  EXPECT_NE(next, lease);
  EXPECT_TRUE(cache.fill("customer:1", "new", next));
  EXPECT_EQ(cache.get("customer:1"), "new");
  EXPECT_EQ(cache.leases(), 0u) << "a fill consumes its lease";
}

TEST(MemoryCacheLeases, EveryWriteOrInvalidationOfTheKeyVoidsItsLease) {
  MemoryCache cache(one_shard());
  const std::vector<std::function<void()>> writes{
      [&] { cache.invalidate("k"); },     [&] { cache.put("k", "set by a change"); },
      [&] { cache.expire("k", 1000ms); }, [&] { cache.erase("k"); },
      [&] { cache.erase_matching("k*"); },
  };
  for (std::size_t i = 0; i < writes.size(); ++i) {
    cache.erase("k");
    const std::uint64_t lease = cache.lease("k");
    writes[i]();
    EXPECT_FALSE(cache.fill("k", "stale", lease)) << "write " << i;
  }
  // Another key's invalidation leaves the lease valid; readers of one key share it.
  const std::uint64_t lease = cache.lease("k");
  EXPECT_EQ(cache.lease("k"), lease);
  cache.invalidate("other");
  EXPECT_TRUE(cache.fill("k", "fresh", lease));
}

TEST(MemoryCacheLeases, AnExpiredLeaseIsRefusedAndLeasesAreBounded) {
  MemoryCache cache(one_shard(1ms));
  const std::uint64_t lease = cache.lease("k");
  std::this_thread::sleep_for(5ms);  // the lease's own timeout, not a synchronisation
  EXPECT_FALSE(cache.fill("k", "late", lease));
  MemoryCache many(one_shard());
  for (int i = 0; i < 20'000; ++i) many.lease("key" + std::to_string(i));  // readers that never fill
  EXPECT_LE(many.leases(), 4096u);
}

}  // namespace
}  // namespace invalidator::plugins
