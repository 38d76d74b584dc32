#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
};

}  // namespace invalidator::sdk
