#include "memory_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {

namespace {

// A cache limit as an option of the sink's options, which extend the limits.
template <typename Field>
Field MemorySinkOptions::*limit(Field MemoryCacheLimits::*member) {
  return member;
}

}  // namespace

sdk::Result<std::unique_ptr<InvalidationJournal>> InvalidationJournal::open(const std::filesystem::path& path) {
  std::error_code ignored;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ignored);
  const int descriptor = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (descriptor < 0) {
    return sdk::Status::error("cannot open the journal " + path.string() + ": " + std::strerror(errno) +
                              "; check that its directory can be made and written to, or leave journal empty");
  }
  return std::unique_ptr<InvalidationJournal>(new InvalidationJournal(descriptor, path));
}

InvalidationJournal::~InvalidationJournal() { ::close(descriptor_); }

sdk::Status InvalidationJournal::append(std::span<const sdk::Invalidation> batch) {
  std::string lines;
  for (const auto& invalidation : batch) {
    lines.append(sdk::to_string(invalidation.action)).append(" ").append(invalidation.key).append("\n");
  }
  std::lock_guard guard(mutex_);
  std::string_view rest = lines;
  while (!rest.empty()) {
    const auto written = ::write(descriptor_, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      // A batch retried is applied and journaled again: the journal may repeat, never omit.
      return sdk::Status::transient_error("cannot write the journal " + path_.string() + ": " +
                                          std::strerror(written < 0 ? errno : ENOSPC));
    }
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
  return sdk::Status::success();
}

sdk::OptionsSpec<MemorySinkOptions> MemorySink::options() {
  sdk::OptionsSpec<MemorySinkOptions> spec(
      "An in-process LRU cache with per-entry TTL. Invalidations delete, set or expire its entries; a host "
      "service embedding the engine reads and fills it through Engine::cache().");
  spec.option("max_entries", limit(&MemoryCacheLimits::max_entries))
      .description("Entries kept before the least recently used are evicted; 0: no limit.")
      .default_value(100'000)
      .min(0);
  spec.option("max_bytes", limit(&MemoryCacheLimits::max_bytes))
      .size()
      .description("Approximate memory (keys, values and bookkeeping) kept before evicting; 0: no limit.")
      .default_value(0)
      .example("\"256MiB\"")
      .min(0);
  spec.option("shards", limit(&MemoryCacheLimits::shards))
      .description("Independently locked parts; more shards, less contention between threads.")
      .default_value(16)
      .min(1)
      .max(4096);
  spec.option("default_ttl", limit(&MemoryCacheLimits::default_ttl))
      .description("Time to live of entries written without one; 0: they live until evicted or invalidated.")
      .default_value(std::chrono::milliseconds(0))
      .min(0);
  spec.option("lease_timeout", limit(&MemoryCacheLimits::lease_timeout))
      .description("How long a reader's lease (Cache::lease, read_through) stays valid: a fill later than that is refused, as is one after the key was written or invalidated.")
      .default_value(std::chrono::milliseconds(10'000))
      .min(1);
  spec.option("journal", &MemorySinkOptions::journal)
      .description("A file each applied invalidation is appended to (\"<action> <key>\" per line) before its batch is "
                   "acknowledged: an audit of what the in-process cache dropped that outlives the process. A relative "
                   "path is taken from the sink's state directory. Empty: none.")
      .default_value(std::string{})
      .example("\"invalidations.log\"");
  return spec;
}

MemoryCacheLimits MemorySink::default_limits() { return options().fill({}).value(); }

sdk::Result<std::unique_ptr<sdk::Sink>> MemorySink::create(MemorySinkOptions options, const sdk::PluginContext& context) {
  std::unique_ptr<InvalidationJournal> journal;
  if (!options.journal.empty()) {
    std::filesystem::path path = options.journal;
    if (path.is_relative() && !context.state_directory.empty()) path = context.state_directory / path;
    auto opened = InvalidationJournal::open(path);
    if (!opened) return opened.status();
    journal = std::move(opened).value();
  }
  return std::unique_ptr<sdk::Sink>(std::make_unique<MemorySink>(options, std::move(journal)));
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
  if (journal_) {
    if (auto written = journal_->append(batch); !written) return sdk::DeliveryResult::retry(written.message());
  }
  return sdk::DeliveryResult::ok();
}

}  // namespace invalidator::plugins

INVALIDATOR_SINK_PLUGIN(memory, "0.2.0", invalidator::plugins::MemorySink::options, invalidator::plugins::MemorySink::create)
