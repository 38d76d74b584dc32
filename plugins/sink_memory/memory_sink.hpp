#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "memory_cache.hpp"

namespace invalidator::plugins {

struct MemorySinkOptions : MemoryCacheLimits {
  std::string journal;  // empty: none
};

// An append-only file of the invalidations a sink applied, one "<action> <key>" line each,
// written before the batch is acknowledged: the cache it describes lives and dies with the
// process, the journal outlives it (write(2), no fsync: a process killed keeps it, a machine
// that loses power may not).
class InvalidationJournal {
 public:
  static sdk::Result<std::unique_ptr<InvalidationJournal>> open(const std::filesystem::path& path);
  ~InvalidationJournal();
  InvalidationJournal(const InvalidationJournal&) = delete;
  InvalidationJournal& operator=(const InvalidationJournal&) = delete;

  sdk::Status append(std::span<const sdk::Invalidation> batch);

 private:
  InvalidationJournal(int descriptor, std::filesystem::path path) : descriptor_(descriptor), path_(std::move(path)) {}
  int descriptor_;
  std::filesystem::path path_;
  std::mutex mutex_;  // lanes deliver at once; one batch's lines stay together
};

// The in-process cache as a sink: invalidations apply to a MemoryCache that the host
// service reads and fills through Sink::cache().
class MemorySink final : public sdk::Sink {
 public:
  explicit MemorySink(MemoryCacheLimits limits, std::unique_ptr<InvalidationJournal> journal = nullptr)
      : cache_(limits), journal_(std::move(journal)) {}

  static sdk::OptionsSpec<MemorySinkOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(MemorySinkOptions options, const sdk::PluginContext& context);
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
  std::unique_ptr<InvalidationJournal> journal_;
  std::atomic<bool> stopped_{false};
};

}  // namespace invalidator::plugins
