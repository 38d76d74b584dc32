#include "memory_cache.hpp"

#include "invalidator/sdk/pattern.hpp"

namespace invalidator::plugins {

namespace {
// Bookkeeping per entry: list node, index node and bucket, roughly.
constexpr std::size_t kEntryOverhead = 96;
}  // namespace

MemoryCache::MemoryCache(MemoryCacheLimits limits) : limits_(limits) {
  std::size_t shard_count = limits_.shards == 0 ? 1 : limits_.shards;
  if (limits_.max_entries) max_entries_per_shard_ = std::max<std::size_t>(1, (limits_.max_entries + shard_count - 1) / shard_count);
  if (limits_.max_bytes) max_bytes_per_shard_ = std::max<std::size_t>(1, limits_.max_bytes / shard_count);
  for (std::size_t i = 0; i < shard_count; ++i) shards_.push_back(std::make_unique<Shard>());
}

MemoryCache::Shard& MemoryCache::shard_for(const HashedKey& key) { return *shards_[key.hash % shards_.size()]; }

void MemoryCache::remove(Shard& shard, std::list<Entry>::iterator entry) {
  shard.bytes -= entry->bytes;
  shard.index.erase(entry->key);
  shard.lru.erase(entry);
}

void MemoryCache::remove(Shard& shard, Index::iterator found) {
  auto entry = found->second;
  shard.bytes -= entry->bytes;
  shard.index.erase(found);
  shard.lru.erase(entry);
}

void MemoryCache::evict(Shard& shard) {
  while (!shard.lru.empty() && ((max_entries_per_shard_ && shard.lru.size() > max_entries_per_shard_) ||
                                (max_bytes_per_shard_ && shard.bytes > max_bytes_per_shard_))) {
    remove(shard, std::prev(shard.lru.end()));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::optional<std::string> MemoryCache::get(std::string_view key) {
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  std::lock_guard guard(shard.mutex);
  auto found = shard.index.find(hashed_key);
  if (found == shard.index.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  auto entry = found->second;
  if (entry->expires_at != Clock::time_point{} && entry->expires_at <= Clock::now()) {
    remove(shard, found);
    expirations_.fetch_add(1, std::memory_order_relaxed);
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, entry);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return entry->value;
}

void MemoryCache::store(Shard& shard, const HashedKey& key, std::string value, Clock::time_point expires_at,
                        std::uint64_t version) {
  const std::size_t bytes = key.text.size() + value.size() + kEntryOverhead;
  auto found = shard.index.find(key);
  if (found != shard.index.end()) {
    auto entry = found->second;
    shard.bytes -= entry->bytes;
    entry->value = std::move(value);
    entry->version = version;
    entry->expires_at = expires_at;
    entry->bytes = bytes;
    shard.bytes += bytes;
    shard.lru.splice(shard.lru.begin(), shard.lru, entry);
  } else {
    shard.lru.push_front(Entry{std::string(key.text), std::move(value), version, expires_at, bytes});
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
    shard.bytes += bytes;
  }
  evict(shard);
}

void MemoryCache::void_lease(Shard& shard, const HashedKey& key) {
  if (shard.leases.empty()) return;
  if (auto lease = shard.leases.find(key); lease != shard.leases.end()) shard.leases.erase(lease);
}

bool MemoryCache::put(std::string_view key, std::string value, std::chrono::milliseconds ttl, std::uint64_t version) {
  if (ttl.count() == 0) ttl = limits_.default_ttl;
  Clock::time_point expires_at = ttl.count() > 0 ? Clock::now() + ttl : Clock::time_point{};
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  std::lock_guard guard(shard.mutex);
  auto found = shard.index.find(hashed_key);
  // A write older than what is stored loses: it was read before the stored value.
  if (found != shard.index.end() && version != 0 && found->second->version > version) return false;
  void_lease(shard, hashed_key);
  store(shard, hashed_key, std::move(value), expires_at, version);
  return true;
}

std::uint64_t MemoryCache::lease(std::string_view key) {
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  const auto now = Clock::now();
  std::lock_guard guard(shard.mutex);
  auto found = shard.leases.find(hashed_key);
  if (found != shard.leases.end() && found->second.expires_at > now) return found->second.token;
  if (found == shard.leases.end() && shard.leases.size() >= kMaxLeasesPerShard) {
    std::erase_if(shard.leases, [&](const auto& held) { return held.second.expires_at <= now; });
    if (shard.leases.size() >= kMaxLeasesPerShard) shard.leases.clear();
  }
  const Lease lease{next_lease_.fetch_add(1, std::memory_order_relaxed), now + limits_.lease_timeout};
  if (found != shard.leases.end()) {
    found->second = lease;
  } else {
    shard.leases.emplace(std::string(key), lease);
  }
  return lease.token;
}

bool MemoryCache::fill(std::string_view key, std::string value, std::uint64_t lease, std::chrono::milliseconds ttl) {
  if (ttl.count() == 0) ttl = limits_.default_ttl;
  const auto now = Clock::now();
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  std::lock_guard guard(shard.mutex);
  auto found = shard.leases.find(hashed_key);
  if (found == shard.leases.end() || found->second.token != lease) return false;
  const bool valid = found->second.expires_at > now;
  shard.leases.erase(found);
  if (!valid) return false;
  store(shard, hashed_key, std::move(value), ttl.count() > 0 ? now + ttl : Clock::time_point{}, 0);
  return true;
}

std::size_t MemoryCache::leases() const {
  std::size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard guard(shard->mutex);
    total += shard->leases.size();
  }
  return total;
}

bool MemoryCache::erase(std::string_view key) {
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  std::lock_guard guard(shard.mutex);
  void_lease(shard, hashed_key);
  auto found = shard.index.find(hashed_key);
  if (found == shard.index.end()) return false;
  remove(shard, found);
  return true;
}

void MemoryCache::invalidate(std::string_view key) {
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  erase(key);
}

bool MemoryCache::expire(std::string_view key, std::chrono::milliseconds ttl) {
  const HashedKey hashed_key = hashed(key);
  Shard& shard = shard_for(hashed_key);
  std::lock_guard guard(shard.mutex);
  void_lease(shard, hashed_key);
  auto found = shard.index.find(hashed_key);
  if (found == shard.index.end()) return false;
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  auto deadline = Clock::now() + ttl;
  auto& expires_at = found->second->expires_at;
  if (expires_at == Clock::time_point{} || deadline < expires_at) expires_at = deadline;
  return true;
}

std::size_t MemoryCache::erase_matching(std::string_view pattern) {
  std::size_t erased = 0;
  for (auto& shard : shards_) {
    std::lock_guard guard(shard->mutex);
    std::erase_if(shard->leases, [&](const auto& held) { return sdk::glob_match(pattern, held.first); });
    for (auto entry = shard->lru.begin(); entry != shard->lru.end();) {
      auto next = std::next(entry);
      if (sdk::glob_match(pattern, entry->key)) {
        remove(*shard, entry);
        ++erased;
      }
      entry = next;
    }
  }
  invalidations_.fetch_add(erased, std::memory_order_relaxed);
  return erased;
}

sdk::CacheStats MemoryCache::stats() const {
  sdk::CacheStats stats;
  stats.hits = hits_.load(std::memory_order_relaxed);
  stats.misses = misses_.load(std::memory_order_relaxed);
  stats.evictions = evictions_.load(std::memory_order_relaxed);
  stats.expirations = expirations_.load(std::memory_order_relaxed);
  stats.invalidations = invalidations_.load(std::memory_order_relaxed);
  for (const auto& shard : shards_) {
    std::lock_guard guard(shard->mutex);
    stats.entries += shard->lru.size();
    stats.bytes += shard->bytes;
  }
  return stats;
}

}  // namespace invalidator::plugins
