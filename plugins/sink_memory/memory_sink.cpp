#include "memory_sink.hpp"

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {

sdk::OptionsSpec<MemoryCacheLimits> MemorySink::options() {
  sdk::OptionsSpec<MemoryCacheLimits> spec(
      "An in-process LRU cache with per-entry TTL. Invalidations delete, set or expire its entries; a host "
      "service embedding the engine reads and fills it through Engine::cache().");
  spec.option("max_entries", &MemoryCacheLimits::max_entries)
      .description("Entries kept before the least recently used are evicted; 0: no limit.")
      .default_value(100'000)
      .min(0);
  spec.option("max_bytes", &MemoryCacheLimits::max_bytes)
      .size()
      .description("Approximate memory (keys, values and bookkeeping) kept before evicting; 0: no limit.")
      .default_value(0)
      .example("\"256MiB\"")
      .min(0);
  spec.option("shards", &MemoryCacheLimits::shards)
      .description("Independently locked parts; more shards, less contention between threads.")
      .default_value(16)
      .min(1)
      .max(4096);
  spec.option("default_ttl", &MemoryCacheLimits::default_ttl)
      .description("Time to live of entries written without one; 0: they live until evicted or invalidated.")
      .default_value(std::chrono::milliseconds(0))
      .min(0);
  spec.option("lease_timeout", &MemoryCacheLimits::lease_timeout)
      .description("How long a reader's lease (Cache::lease, read_through) stays valid: a fill later than that is refused, as is one after the key was written or invalidated.")
      .default_value(std::chrono::milliseconds(10'000))
      .min(1);
  return spec;
}

MemoryCacheLimits MemorySink::default_limits() { return options().fill({}).value(); }

sdk::Result<std::unique_ptr<sdk::Sink>> MemorySink::create(MemoryCacheLimits limits, const sdk::PluginContext&) {
  return std::unique_ptr<sdk::Sink>(std::make_unique<MemorySink>(limits));
}

sdk::Status MemorySink::start() {
  stopped_.store(false, std::memory_order_release);
  return sdk::Status::success();
}

sdk::DeliveryResult MemorySink::deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // Checked now and then so that stop() interrupts a long batch promptly.
    if ((i & 1023) == 0 && stopped_.load(std::memory_order_acquire)) {
      return sdk::DeliveryResult::retry("the memory sink is stopped");
    }
    const auto& invalidation = batch[i];
    switch (invalidation.action) {
      case sdk::Action::delete_key:
        cache_.invalidate(invalidation.key);
        break;
      case sdk::Action::set_value:
        cache_.put(invalidation.key, invalidation.value.value_or(std::string{}), invalidation.ttl, invalidation.version);
        break;
      case sdk::Action::expire:
        cache_.expire(invalidation.key, invalidation.ttl);
        break;
      case sdk::Action::delete_pattern:
        cache_.erase_matching(invalidation.key);
        break;
    }
  }
  return sdk::DeliveryResult::ok();
}

}  // namespace invalidator::plugins

INVALIDATOR_SINK_PLUGIN(memory, "0.2.0", invalidator::plugins::MemorySink::options, invalidator::plugins::MemorySink::create)
