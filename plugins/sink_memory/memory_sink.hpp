#pragma once

#include <atomic>
#include <memory>

#include "invalidator/sdk/options.hpp"
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

  static sdk::OptionsSpec<MemoryCacheLimits> options();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(MemoryCacheLimits limits, const sdk::PluginContext& context);
  // The declared defaults, for a cache built in code.
  static MemoryCacheLimits default_limits();

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override;
  void stop() override { stopped_.store(true, std::memory_order_release); }
  sdk::Cache* cache() override { return &cache_; }
  // The cache locks per shard: any number of lanes may deliver at once.
  std::size_t concurrency() const override { return 64; }

 private:
  MemoryCache cache_;
  std::atomic<bool> stopped_{false};
};

}  // namespace invalidator::plugins
