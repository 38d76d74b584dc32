// Nothing is acknowledged that was not kept: a dead letter reaches the disk before the
// position behind it moves, a failed write holds it, and without dead letters what cannot be
// kept stops the pipeline. Retries keep each key's order.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <map>
#include <set>
#include <mutex>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using namespace invalidator::testing;

// Log lines an engine sent to its handler.
class CapturedLog {
 public:
  EngineBuilder& attach(EngineBuilder& builder) {
    return builder.log_to(
        [this](sdk::LogLevel level, std::string_view message) {
          std::lock_guard guard(mutex_);
          lines_.emplace_back(level, std::string(message));
        },
        sdk::LogLevel::debug);
  }
  bool has(sdk::LogLevel level, const std::string& text) {
    std::lock_guard guard(mutex_);
    for (const auto& [line_level, line] : lines_) {
      if (line_level == level && line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<sdk::LogLevel, std::string>> lines_;
};

std::unique_ptr<Engine> engine_with(CapturedLog& log, const std::string& config, std::unique_ptr<sdk::Source> source,
                                    std::unique_ptr<sdk::Sink> sink, SinkSettings settings = {}) {
  EngineBuilder builder;
  builder.config_string(config)
      .add_source("source", std::move(source))
      .add_sink("sink", std::move(sink), settings)
      .add_route(customers_route());
  return build(log.attach(builder));
}

TEST(DeliveryGuarantees, AnUndecodableMessageThatCannotBeDeadLetteredHoldsItsPosition) {
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(
      std::vector<std::string>{"{not json", customer_update(1, "a", "b", 1)}, true);
  auto* source_ptr = source.get();
  auto engine = engine_with(log, "[engine]\ndead_letter = \"/dev/full\"\nshutdown_timeout = \"200ms\"\n",
                            std::move(source), std::make_unique<ControlledSink>());
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(eventually([&] { return engine->stats().dead_letter_failures >= 2; }))
      << "the write is retried";
  EXPECT_TRUE(log.has(sdk::LogLevel::error, "cannot write the dead-letter file /dev/full: No space left on device"));
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u);
  engine->stop();
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u) << "nor at the shutdown deadline";
  EXPECT_EQ(engine->stats().acknowledged, 0u);
}

TEST(DeliveryGuarantees, AnInvalidationThatCannotBeDeadLetteredHoldsItsPosition) {
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(
      std::vector<std::string>{customer_update(1, "a", "b", 1), customer_update(2, "c", "d", 2)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  sink->poison("customer:email:c");
  auto engine = engine_with(log, "[engine]\ndead_letter = \"/dev/full\"\nshutdown_timeout = \"200ms\"\n",
                            std::move(source), std::move(sink), SinkSettings{.retry_initial_backoff = 1ms});
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(eventually([&] { return engine->stats().dead_letter_failures >= 2; }));
  EXPECT_TRUE(log.has(sdk::LogLevel::error, "invalidations cannot be dead-lettered, so their source positions are held: "
                                            "cannot write the dead-letter file /dev/full"));
  // Offset 1 may go (if it was delivered in a batch of its own), offset 2 never.
  EXPECT_LT(source_ptr->last_acknowledged(), 2u);
  engine->stop();
  EXPECT_LT(source_ptr->last_acknowledged(), 2u) << "nor at the shutdown deadline";
  EXPECT_EQ(engine->stats().dead_lettered, 0u);
}

// The file is refused writes while the process's file-size limit is 0 (EFBIG), then allowed.
class FileSizeLimit {
 public:
  FileSizeLimit() {
    std::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing the process
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit none = saved_;
    none.rlim_cur = 0;
    setrlimit(RLIMIT_FSIZE, &none);
  }
  void lift() { setrlimit(RLIMIT_FSIZE, &saved_); }
  ~FileSizeLimit() { lift(); }

 private:
  rlimit saved_{};
};

TEST(DeliveryGuarantees, AFailedDeadLetterWriteIsRetriedAndTheSourceResumesOnceItSucceeds) {
  TempDir dir;
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(
      std::vector<std::string>{"{not json", customer_update(1, "a", "b", 1)}, true);
  auto* source_ptr = source.get();
  auto engine = engine_with(log, "[engine]\nstate_dir = \"" + dir.path().string() + "\"\nsource_restart_backoff = \"5ms\"\n",
                            std::move(source), std::make_unique<ControlledSink>());
  FileSizeLimit limit;
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(eventually([&] { return engine->stats().dead_letter_failures >= 1; }));
  EXPECT_TRUE(log.has(sdk::LogLevel::error, "File too large"));
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u);
  limit.lift();
  EXPECT_TRUE(eventually([&] { return source_ptr->last_acknowledged() == 2; }));
  engine->stop();
  const std::string text = read_file(dir / "dead-letters.jsonl");
  EXPECT_NE(text.find(R"("value":"{not json")"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "one whole line, however many attempts:\n" << text;
}

TEST(DeliveryGuarantees, WithoutDeadLettersAnUndeliverableInvalidationStopsThePipelineUnacknowledged) {
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(
      std::vector<std::string>{customer_update(1, "a", "b", 1), customer_update(2, "c", "d", 2)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  sink->poison("customer:email:a");
  auto engine = engine_with(log, "[engine]\non_error = \"stop\"\n", std::move(source), std::move(sink));
  ASSERT_TRUE(engine->start());
  auto stopped = engine->wait();
  ASSERT_FALSE(stopped) << "the pipeline stops by itself";
  EXPECT_NE(stopped.message().find("sink 'sink' cannot apply delete 'customer:email:a' (source 'source', topic "
                                   "'shop.public.customers', stream 0, offset 1): WRONGTYPE simulated"),
            std::string::npos)
      << stopped.message();
  EXPECT_TRUE(log.has(sdk::LogLevel::error, "engine.on_error = \"stop\""));
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u);
}

TEST(DeliveryGuarantees, RetryMaxAttemptsIsHonouredThenTheInvalidationIsDeadLettered) {
  TempDir dir;
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "b", 1)});
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->fail_next(1000);
  auto engine = engine_with(log, "[engine]\nstate_dir = \"" + dir.path().string() + "\"\n", std::move(source),
                            std::move(sink), SinkSettings{.retry_max_attempts = 3, .retry_initial_backoff = 1ms});
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->calls.load(), 3);
  EXPECT_EQ(engine->stats().dead_lettered, 3u) << "customer:1 and both e-mail keys";
  EXPECT_EQ(source_ptr->last_acknowledged(), 1u);
  EXPECT_NE(read_file(dir / "dead-letters.jsonl").find("gave up after 3 attempts: simulated outage"), std::string::npos);
}

TEST(DeliveryGuarantees, RetryMaxAttemptsWithoutDeadLettersStopsThePipeline) {
  CapturedLog log;
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "b", 1)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->fail_next(1000);
  auto engine = engine_with(log, "[engine]\non_error = \"stop\"\n", std::move(source), std::move(sink),
                            SinkSettings{.retry_max_attempts = 2, .retry_initial_backoff = 1ms});
  ASSERT_TRUE(engine->start());
  auto stopped = engine->wait();
  ASSERT_FALSE(stopped);
  EXPECT_NE(stopped.message().find("gave up after 2 attempts: simulated outage"), std::string::npos) << stopped.message();
  EXPECT_EQ(sink_ptr->calls.load(), 2);
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u);
}

// A cache that applies deletes and sets in order, and fails the first `failing_deletes`
// deletes of `key` (retryable), applying the rest of the batch.
class OrderedCacheSink final : public sdk::Sink {
 public:
  OrderedCacheSink(std::string key, int failing_deletes) : key_(std::move(key)), failing_deletes_(failing_deletes) {}
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    std::lock_guard guard(mutex_);
    std::vector<sdk::ItemFailure> failures;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& item = batch[i];
      if (item.action == sdk::Action::delete_key && item.key == key_ && failing_deletes_ > 0) {
        --failing_deletes_;
        failures.push_back(sdk::ItemFailure{i, "connection reset", true});
        continue;
      }
      if (item.action == sdk::Action::delete_key) cache_.erase(item.key);
      if (item.action == sdk::Action::set_value) cache_[item.key] = item.value.value_or("");
      history_.push_back(std::string(sdk::to_string(item.action)) + " " + item.key);
    }
    return failures.empty() ? sdk::DeliveryResult::ok() : sdk::DeliveryResult::partial(std::move(failures));
  }
  std::map<std::string, std::string> contents() {
    std::lock_guard guard(mutex_);
    return cache_;
  }
  std::vector<std::string> history() {
    std::lock_guard guard(mutex_);
    return history_;
  }

 private:
  std::mutex mutex_;
  std::string key_;
  int failing_deletes_;
  std::map<std::string, std::string> cache_;
  std::vector<std::string> history_;
};

TEST(DeliveryGuarantees, RetryingPartOfABatchKeepsEachKeysOrder) {
  // One change, two routes to one sink: delete customer:1, then set it to the new e-mail.
  RouteDefinition deletes = customer_id_route();
  RouteDefinition sets = deletes;
  sets.action = "set";
  sets.value = "{email}";
  auto sink = std::make_unique<OrderedCacheSink>("customer:1", 1);
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(
                                                    std::vector<std::string>{customer_update(1, "a", "v1", 1)}))
                          .add_sink("sink", std::move(sink), SinkSettings{.retry_initial_backoff = 1ms})
                          .add_route(deletes)
                          .add_route(sets));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->contents(), (std::map<std::string, std::string>{{"customer:1", "v1"}}))
      << "the set was applied after the retried delete";
  EXPECT_EQ(sink_ptr->history().back(), "set customer:1");
}

namespace bounded {

// Offers `count` messages as fast as the pipeline takes them: the first for a routed table,
// then tombstones and changes to a table no route wants. Counts the offers refused for want
// of room, and records the last position acknowledged.
class FloodSource final : public sdk::Source {
 public:
  explicit FloodSource(std::uint64_t count) : count_(count) {}
  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override {
    for (std::uint64_t offset = 1; offset <= count_ && !stop.stop_requested();) {
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.position = {0, offset};
      if (offset == 1) {
        message.value = customer_update(1, "a", "b", 1);
      } else if (offset % 2 == 0) {
        message.value = R"({"before":null,"after":{"id":1},"source":{"schema":"public","table":"orders"},"op":"c"})";
      }  // else a tombstone
      switch (emitter.try_emit(message, std::chrono::steady_clock::now() + 2ms)) {
        case sdk::EmitResult::accepted:
          ++offset;
          break;
        case sdk::EmitResult::full:
          refusals.fetch_add(1);
          break;
        case sdk::EmitResult::stopping:
          return sdk::Status::success();
      }
    }
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position& position) override { acknowledged.store(position.offset); }
  std::atomic<std::uint64_t> refusals{0};
  std::atomic<std::uint64_t> acknowledged{0};

 private:
  std::uint64_t count_;
};

TEST(DeliveryGuarantees, AStalledSinkPausesTheSourceWithTrackedPositionsBoundedByConfiguration) {
  constexpr std::uint64_t kMessages = 200'000;
  auto source = std::make_unique<FloodSource>(kMessages);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->hold(true);
  auto engine = customers_engine(std::move(source), std::move(sink),
                                 "[engine]\nqueue_capacity = 64\nmax_unacknowledged = 500\ndecode_threads = 1\n");
  ASSERT_TRUE(engine->start());
  // The sink holds the first message; every later one waits behind it for its acknowledgement.
  ASSERT_TRUE(eventually([&] { return source_ptr->refusals.load() >= 20; })) << "the source is paused";
  // The limit, plus the one batch a decode thread opens whole (256).
  EXPECT_LE(engine->outstanding(), 500u + 256u);
  EXPECT_LE(engine->stats().messages, 500u + 256u + 64u);
  EXPECT_EQ(source_ptr->acknowledged.load(), 0u);
  sink_ptr->hold(false);
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(source_ptr->acknowledged.load(), kMessages) << "everything, once the sink returned";
  EXPECT_EQ(engine->stats().messages, kMessages);
  EXPECT_EQ(engine->outstanding(), 0u);
  EXPECT_EQ(sink_ptr->applied_copy().size(), 3u);
}

}  // namespace bounded

// A service's read-through against the memory sink, with the change to its row arriving
// between the service's database read and its cache fill: the stale value must not stay.
class GatedSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override {
    std::unique_lock lock(mutex_);
    open_.wait(lock, stop, [&] { return released_; });
    if (stop.stop_requested()) return sdk::Status::success();
    lock.unlock();
    sdk::RawMessage message;
    message.topic = "shop.public.customers";
    message.value = customer_update(1, "old@x", "new@x", 1);
    message.position = {0, 1};
    emitter.emit(std::move(message));
    lock.lock();
    open_.wait(lock, stop, [] { return false; });
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position&) override {}
  void release() {
    std::lock_guard guard(mutex_);
    released_ = true;
    open_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any open_;
  bool released_ = false;
};

// What the reader thread and the test say to each other.
struct Handshake {
  std::mutex mutex;
  std::condition_variable changed;
  bool database_read = false;
  bool may_fill = false;
  void set(bool Handshake::*flag) {
    std::lock_guard guard(mutex);
    this->*flag = true;
    changed.notify_all();
  }
  bool wait(bool Handshake::*flag) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(60), [&] { return this->*flag; });
  }
};

TEST(MemorySinkFill, AReadThroughLoaderHeldPastAnInvalidationDoesNotCacheItsStaleValue) {
  for (const bool with_lease : {true, false}) {
    auto source = std::make_unique<GatedSource>();
    auto* source_ptr = source.get();
    auto engine = build(EngineBuilder()
                            .register_plugin(invalidator_static_plugin_memory())
                            .config_string("[sinks.local]\ntype = \"memory\"\n")
                            .add_source("source", std::move(source))
                            .add_route(customers_route("local")));
    ASSERT_TRUE(engine->start());
    sdk::Cache& cache = *engine->cache("local");
    Handshake handshake;
    auto load = [&] {
      std::string read = "old@x";  // the row as the database had it, before the change
      handshake.set(&Handshake::database_read);
      handshake.wait(&Handshake::may_fill);
      return read;
    };
    std::thread reader([&] {
      if (with_lease) {
        cache.read_through("customer:1", load);
      } else if (!cache.get("customer:1")) {
        cache.put("customer:1", load());  // the race leases close
      }
    });
    ASSERT_TRUE(handshake.wait(&Handshake::database_read));
    source_ptr->release();  // the change, and its invalidation of customer:1
    ASSERT_TRUE(eventually([&] { return engine->stats().delivered >= 3; }));
    handshake.set(&Handshake::may_fill);
    reader.join();
    if (with_lease) {
      EXPECT_EQ(cache.get("customer:1"), std::nullopt) << "the stale value was not cached";
    } else {
      EXPECT_EQ(cache.get("customer:1"), "old@x") << "without a lease, the race leaves it stale";
    }
    engine->stop();
  }
}

// A source whose run() ignores its stop token until the test lets it go.
class StuckSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter&, std::stop_token) override {
    std::unique_lock lock(mutex_);
    running_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return let_go_; });
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position&) override {}
  void wait_running() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return running_; });
  }
  void let_go() {
    std::lock_guard guard(mutex_);
    let_go_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool running_ = false;
  bool let_go_ = false;
};

TEST(DeliveryGuarantees, ShutdownTimeoutBoundsTheStopOfASourceThatIgnoresIt) {
  auto source = std::make_unique<StuckSource>();
  auto* source_ptr = source.get();
  CapturedLog log;
  auto engine = engine_with(log, "[engine]\nshutdown_timeout = \"50ms\"\n", std::move(source),
                            std::make_unique<ControlledSink>());
  ASSERT_TRUE(engine->start());
  source_ptr->wait_running();
  // Returns (the test would time out otherwise), with an error naming the source.
  auto stopped = engine->stop();
  ASSERT_FALSE(stopped);
  EXPECT_NE(stopped.message().find("source 'source' did not stop within shutdown_timeout (50 ms)"), std::string::npos)
      << stopped.message();
  engine.reset();  // kept alive behind the scenes while its source thread runs
  source_ptr->let_go();
}

// Records the keys of each delivery, taking a moment for each, as a real cache would.
class SlowRecordingSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    std::this_thread::sleep_for(std::chrono::microseconds(100));  // simulated work, not a synchronisation
    std::lock_guard guard(mutex_);
    for (const auto& item : batch) keys_.push_back(item.key);
    return sdk::DeliveryResult::ok();
  }
  std::vector<std::string> keys() {
    std::lock_guard guard(mutex_);
    return keys_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> keys_;
};

TEST(DeliveryGuarantees, SecondDeletesAreNotStarvedByAFullQueue) {
  // Every message queued before the first delivery: the lane's queue stays full for the
  // whole run, while second deletes fall due 1 ms after each first delete.
  constexpr int kMessages = 2000;
  std::vector<std::string> values;
  for (int i = 1; i <= kMessages; ++i) values.push_back(customer_update(i, "e", "e", static_cast<std::uint64_t>(i)));
  RouteDefinition route = customer_id_route();
  route.redelete_after = "1ms";
  auto source = std::make_unique<ScriptedSource>(values);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<SlowRecordingSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .config_string("[engine]\nqueue_capacity = 4096\n")
                          .add_source("source", std::move(source))
                          .add_sink("sink", std::move(sink), SinkSettings{.batch_max_events = 4})
                          .add_route(route));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(source_ptr->last_acknowledged(), static_cast<std::uint64_t>(kMessages));
  const auto keys = sink_ptr->keys();
  ASSERT_EQ(keys.size(), 2u * kMessages);
  // Where the first second delete went, against where the last first delete went.
  std::set<std::string> seen;
  std::size_t first_repeat = keys.size();
  std::size_t last_first = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (seen.insert(keys[i]).second) {
      last_first = i;
    } else if (first_repeat == keys.size()) {
      first_repeat = i;
    }
  }
  EXPECT_LT(first_repeat, last_first / 2) << "second deletes waited for the queue to run dry";
}

}  // namespace
}  // namespace invalidator
