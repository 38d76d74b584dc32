#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "invalidator/sdk/cache.hpp"

namespace invalidator::plugins {

// The memory sink's options declare the defaults (MemorySink::options(), or
// MemorySink::default_limits() for code that builds a cache itself).
struct MemoryCacheLimits {
  std::size_t max_entries{};  // 0: no limit
  std::size_t max_bytes{};    // 0: no limit
  std::size_t shards{};
  std::chrono::milliseconds default_ttl{};  // 0: none
  std::chrono::milliseconds lease_timeout{};  // a lease not filled by then is void
};

// A sharded LRU cache with per-entry TTL. Each shard has its own lock, so readers and the
// invalidation lane contend only when they touch the same shard.
class MemoryCache final : public sdk::Cache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit MemoryCache(MemoryCacheLimits limits);

  std::optional<std::string> get(std::string_view key) override;
  bool put(std::string_view key, std::string value, std::chrono::milliseconds ttl = std::chrono::milliseconds{0},
           std::uint64_t version = 0) override;
  bool erase(std::string_view key) override;
  sdk::CacheStats stats() const override;
  std::uint64_t lease(std::string_view key) override;
  bool fill(std::string_view key, std::string value, std::uint64_t lease,
            std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) override;
  // Leases held (not filled, voided or expired yet), for tests of their bound.
  std::size_t leases() const;

  // Invalidation actions.
  void invalidate(std::string_view key);
  // Shortens the life of a present entry to `ttl` from now; true if the key was present.
  bool expire(std::string_view key, std::chrono::milliseconds ttl);
  // Removes every key matching a glob ('*'); returns how many.
  std::size_t erase_matching(std::string_view pattern);

 private:
  struct Entry {
    std::string key;
    std::string value;
    std::uint64_t version = 0;
    Clock::time_point expires_at{};  // epoch: never
    std::size_t bytes = 0;
  };
  // A key with its hash, computed once per operation: it picks the shard and is the
  // index's hash too.
  struct HashedKey {
    std::string_view text;
    std::size_t hash;
  };
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
    std::size_t operator()(const HashedKey& key) const { return key.hash; }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(const std::string& a, const std::string& b) const { return a == b; }
    bool operator()(const std::string& a, const HashedKey& b) const { return a == b.text; }
    bool operator()(const HashedKey& a, const std::string& b) const { return a.text == b; }
  };
  using Index = std::unordered_map<std::string, std::list<Entry>::iterator, TransparentHash, KeyEqual>;
  struct Lease {
    std::uint64_t token = 0;
    Clock::time_point expires_at{};
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Entry> lru;  // front: most recently used
    Index index;
    std::size_t bytes = 0;
    // Outstanding leases by key; a write or invalidation of the key removes its lease.
    std::unordered_map<std::string, Lease, TransparentHash, KeyEqual> leases;
  };
  // Leases a shard holds at most: a reader that never fills leaves its lease behind until it
  // expires, and past this many the shard drops them all (their fills are refused: safe).
  static constexpr std::size_t kMaxLeasesPerShard = 4096;

  static HashedKey hashed(std::string_view key) { return {key, std::hash<std::string_view>{}(key)}; }
  Shard& shard_for(const HashedKey& key);
  void remove(Shard& shard, std::list<Entry>::iterator entry);
  void remove(Shard& shard, Index::iterator found);
  void evict(Shard& shard);
  // Inserts or replaces, under the shard's lock.
  void store(Shard& shard, const HashedKey& key, std::string value, Clock::time_point expires_at, std::uint64_t version);
  static void void_lease(Shard& shard, const HashedKey& key);

  MemoryCacheLimits limits_;
  std::size_t max_entries_per_shard_ = 0;
  std::size_t max_bytes_per_shard_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, evictions_{0}, expirations_{0}, invalidations_{0};
  std::atomic<std::uint64_t> next_lease_{1};
};

}  // namespace invalidator::plugins
