#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace invalidator::sdk {

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t invalidations = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// An in-process cache a host service reads and fills from its own threads while the
// pipeline invalidates it. Every member is thread-safe.
class Cache {
 public:
  virtual ~Cache() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  // ttl 0: the cache's default. `version` orders writes of one key: a put whose version is
  // older than the stored entry's is refused (returns false); version 0 always writes.
  virtual bool put(std::string_view key, std::string value,
                   std::chrono::milliseconds ttl = std::chrono::milliseconds{0},
                   std::uint64_t version = 0) = 0;
  virtual bool erase(std::string_view key) = 0;
  virtual CacheStats stats() const = 0;

  // Read-through without a stale fill (memcache's leases). A reader that missed takes a
  // lease before it reads the source of truth, and stores what it read with fill(). Any
  // write or invalidation of the key in between voids the lease, so a value read before a
  // change is never cached after the change's invalidation. Readers of one key share a
  // lease while it is valid. Never 0.
  virtual std::uint64_t lease(std::string_view key) = 0;
  // Stores `value` if `lease` is still the key's valid lease (and consumes it); false when the
  // key was written or invalidated since, or the lease expired: `value` may be stale.
  virtual bool fill(std::string_view key, std::string value, std::uint64_t lease,
                    std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) = 0;

  // get(), or on a miss lease(), load(), fill(): what load() returned, cached unless an
  // invalidation of `key` came while it ran.
  template <typename Load>
  std::string read_through(std::string_view key, Load&& load, std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
    if (auto cached = get(key)) return std::move(*cached);
    const std::uint64_t token = lease(key);
    std::string value = std::forward<Load>(load)();
    fill(key, value, token, ttl);
    return value;
  }
};

}  // namespace invalidator::sdk
