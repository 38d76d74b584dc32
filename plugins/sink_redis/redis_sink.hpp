#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/pool.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "redis_address.hpp"
#include "redis_connection.hpp"

namespace invalidator::plugins {

struct RedisSinkOptions {
  RedisAddress address;
  RedisConnection::Timeouts timeouts;
  std::size_t pool = 4;
  std::string key_prefix;
  bool unlink = false;               // UNLINK instead of DEL
  std::size_t keys_per_delete = 64;  // consecutive deletes joined into one DEL
  std::size_t pipeline_depth = 1024;  // commands in flight on a connection
  bool fence = false;
  std::string fence_suffix = "#fence";
  std::chrono::milliseconds tombstone_ttl{60'000};
  std::size_t scan_count = 1000;
};

// Deletes, expires and sets Redis keys, a batch per pipeline on one of `pool` connections.
class RedisSink final : public sdk::Sink {
 public:
  RedisSink(RedisSinkOptions options, sdk::Logger* logger);
  ~RedisSink() override;

  static sdk::ConfigSpec spec();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(const sdk::Config& config, const sdk::PluginContext& context);

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch) override;
  void stop() override;
  std::size_t concurrency() const override { return options_.pool; }

 private:
  // A pooled connection and what was loaded on it.
  struct Slot {
    explicit Slot(const RedisSinkOptions& options) : connection(options.address, options.timeouts) {}
    RedisConnection connection;
    std::string fence_sha;  // empty until the fence script is loaded on this connection
  };
  // The items one pipelined command covers, for reporting failures per item.
  struct CommandSpan {
    std::size_t begin;
    std::size_t end;
  };

  std::optional<sdk::DeliveryResult> connect(Slot& slot, std::size_t batch_size);
  sdk::DeliveryResult apply(Slot& slot, std::span<const sdk::Invalidation> batch);
  std::size_t write_command(RespWriter& writer, const Slot& slot, std::span<const sdk::Invalidation> batch,
                            std::size_t index) const;
  // SCAN MATCH + DEL in rounds; nullopt when done, else the result to return.
  std::optional<sdk::DeliveryResult> delete_pattern(Slot& slot, const sdk::Invalidation& invalidation);
  sdk::DeliveryResult lost(Slot& slot);
  void report_unreachable(const std::string& reason);
  void report_reachable();

  RedisSinkOptions options_;
  sdk::Logger* logger_;
  std::string tombstone_ttl_ms_;

  std::vector<std::unique_ptr<Slot>> slots_;
  sdk::Pool<Slot> pool_;

  std::atomic<bool> stopped_{false};
  std::atomic<bool> reported_unreachable_{false};
};

}  // namespace invalidator::plugins
