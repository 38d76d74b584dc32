#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/pool.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "redis_address.hpp"
#include "redis_connection.hpp"

namespace invalidator::plugins {

enum class RedisDeleteCommand { del, unlink };

// The plugin's options, as declared in RedisSink::options() (which holds the defaults).
struct RedisSinkOptions {
  std::string url;
  std::string password;
  std::string key_prefix;
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds command_timeout{};
  std::size_t pool{};
  RedisDeleteCommand delete_command{};
  std::size_t keys_per_delete{};  // consecutive deletes joined into one DEL
  std::size_t pipeline_depth{};   // commands in flight on a connection
  bool fence{};
  std::string fence_suffix;
  std::chrono::milliseconds tombstone_ttl{};
  std::size_t scan_count{};
};

// Deletes, expires and sets Redis keys, a batch per pipeline on one of `pool` connections.
class RedisSink final : public sdk::Sink {
 public:
  RedisSink(RedisSinkOptions options, RedisAddress address, sdk::Logger* logger);
  ~RedisSink() override;

  static sdk::OptionsSpec<RedisSinkOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(RedisSinkOptions options, const sdk::PluginContext& context);

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override;
  void stop() override;
  std::size_t concurrency() const override { return options_.pool; }

 private:
  // A pooled connection and what was loaded on it.
  struct Slot {
    Slot(const RedisAddress& address, const RedisSinkOptions& options)
        : connection(address, RedisConnection::Timeouts{options.connect_timeout, options.command_timeout}) {}
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
  // Nothing when every matching key was deleted; a failed() result when the pattern cannot
  // be applied on this server (the item fails for good), another result to end the batch.
  std::optional<sdk::DeliveryResult> delete_pattern(Slot& slot, const sdk::Invalidation& invalidation);
  sdk::DeliveryResult lost(Slot& slot);
  void report_unreachable(const std::string& reason);
  void report_reachable();

  RedisSinkOptions options_;
  RedisAddress address_;
  sdk::Logger* logger_;
  std::string tombstone_ttl_ms_;

  std::vector<std::unique_ptr<Slot>> slots_;
  sdk::Pool<Slot> pool_;

  std::atomic<bool> stopped_{false};
  std::atomic<bool> reported_unreachable_{false};
};

}  // namespace invalidator::plugins
