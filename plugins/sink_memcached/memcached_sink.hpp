#pragma once

#include <libmemcached/memcached.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/pool.hpp"
#include "invalidator/sdk/result.hpp"
#include "delete_pipeline.hpp"
#include "invalidator/sdk/sink.hpp"

namespace invalidator::plugins {

// How fenced items are told apart in memcached, by their 32-bit flags. A fenced value holds
// its version before the payload: 20 digits, then ':'; a tombstone holds only the version.
inline constexpr std::uint32_t kFencedValueFlags = 0x46'56'41'4C;  // "FVAL"
inline constexpr std::uint32_t kTombstoneFlags = 0x46'54'4F'4D;    // "FTOM"
inline constexpr std::size_t kFenceVersionDigits = 20;

// What a pattern invalidation does, since memcached cannot list keys.
enum class MemcachedPatternPolicy { fail, flush_all };

// The plugin's options, as declared in MemcachedSink::options() (which holds the defaults).
struct MemcachedSinkOptions {
  std::vector<std::string> servers;  // host:port
  std::string key_prefix;
  bool reliable{};  // false: noreply, buffered
  bool fence{};
  std::chrono::milliseconds tombstone_ttl{};
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds command_timeout{};
  std::size_t pool{};
  MemcachedPatternPolicy on_pattern{};
};

// Deletes, touches and sets memcached keys through libmemcached (binary protocol, keys spread
// over the servers by consistent hashing).
class MemcachedSink final : public sdk::Sink {
 public:
  MemcachedSink(MemcachedSinkOptions options, sdk::Logger* logger);
  ~MemcachedSink() override;

  static sdk::OptionsSpec<MemcachedSinkOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(MemcachedSinkOptions options, const sdk::PluginContext& context);

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override;
  void stop() override { stopped_.store(true, std::memory_order_release); }
  std::size_t concurrency() const override { return options_.pool; }

 private:
  struct ClientDeleter {
    void operator()(memcached_st* client) const { memcached_free(client); }
  };
  using Client = std::unique_ptr<memcached_st, ClientDeleter>;

  // What one item's outcome asks of the batch.
  enum class Outcome { applied, failed, retry };
  struct ItemResult {
    Outcome outcome = Outcome::applied;
    std::string reason;
  };

  // A pool member: a libmemcached client and, per server, a pipeline for acknowledged deletes.
  struct Slot {
    Client client;
    std::map<std::string, std::unique_ptr<DeletePipeline>, std::less<>> pipelines;
  };

  // Whether batch[index] can go through a delete pipeline.
  bool pipelinable(const sdk::Invalidation& item) const;
  // Deletes batch[begin, end) through the pipelines, grouped by server.
  ItemResult delete_run(Slot& slot, std::span<const sdk::Invalidation> batch, std::size_t begin, std::size_t end,
                        std::vector<sdk::ItemFailure>& failures);
  ItemResult apply(memcached_st* client, const sdk::Invalidation& item, std::string& key);
  ItemResult fenced_write(memcached_st* client, std::string_view key, std::uint64_t version,
                          const std::string* value, std::chrono::milliseconds ttl);
  ItemResult classify(memcached_st* client, memcached_return_t rc, std::string_view key, std::string_view what);

  MemcachedSinkOptions options_;
  sdk::Logger* logger_;
  std::vector<std::unique_ptr<Slot>> slots_;
  sdk::Pool<Slot> pool_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> reported_unreachable_{false};
};

// memcached reads an expiration over 30 days as a Unix time; below one second, as "never".
time_t memcached_expiration(std::chrono::milliseconds ttl);

}  // namespace invalidator::plugins
