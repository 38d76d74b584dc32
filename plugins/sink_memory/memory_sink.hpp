#pragma once

#include <atomic>
#include <memory>

#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "memory_cache.hpp"

namespace invalidator::plugins {

// The in-process cache as a sink: invalidations apply to a MemoryCache that the host
// service reads and fills through Sink::cache().
class MemorySink final : public sdk::Sink {
 public:
  explicit MemorySink(MemoryCacheLimits limits) : cache_(limits) {}

  static sdk::ConfigSpec spec();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(const sdk::Config& config, const sdk::PluginContext& context);

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch) override;
  void stop() override { stopped_.store(true, std::memory_order_release); }
  sdk::Cache* cache() override { return &cache_; }
  // The cache locks per shard: any number of lanes may deliver at once.
  std::size_t concurrency() const override { return 64; }

 private:
  MemoryCache cache_;
  std::atomic<bool> stopped_{false};
};

}  // namespace invalidator::plugins
