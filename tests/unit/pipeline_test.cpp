#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <map>
#include <set>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "pipeline/pipeline.hpp"
#include "route/router.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);
INVALIDATOR_DECLARE_STATIC_PLUGIN(file);

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::read_file;
using invalidator::testing::TempDir;

std::string customer_update(int id, const std::string& old_email, const std::string& new_email, std::uint64_t lsn) {
  return R"({"before":{"id":)" + std::to_string(id) + R"(,"email":")" + old_email + R"("},"after":{"id":)" +
         std::to_string(id) + R"(,"email":")" + new_email +
         R"("},"source":{"db":"shop","schema":"public","table":"customers","lsn":)" + std::to_string(lsn) +
         R"(},"op":"u"})";
}

// Emits prepared messages, then ends (or waits for stop). Records acknowledgements.
class ScriptedSource final : public sdk::Source {
 public:
  explicit ScriptedSource(std::vector<std::string> values, bool wait_for_stop = false)
      : values_(std::move(values)), wait_for_stop_(wait_for_stop) {}
  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.value = values_[i];
      message.position = sdk::Position{0, i + 1};
      if (!emitter.emit(std::move(message))) return sdk::Status::success();
      emitted.fetch_add(1);
    }
    while (wait_for_stop_ && !stop.stop_requested()) std::this_thread::sleep_for(5ms);
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position& position) override {
    std::lock_guard guard(mutex_);
    EXPECT_GE(position.offset, last_acknowledged_) << "acknowledgements never go back";
    last_acknowledged_ = position.offset;
  }
  std::uint64_t last_acknowledged() {
    std::lock_guard guard(mutex_);
    return last_acknowledged_;
  }
  std::atomic<std::size_t> emitted{0};

 private:
  std::vector<std::string> values_;
  bool wait_for_stop_;
  std::mutex mutex_;
  std::uint64_t last_acknowledged_ = 0;
};

// A sink whose behaviour the test controls: records what it applied, can refuse (retry),
// fail items permanently, or hold every delivery until released.
class ControlledSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    std::unique_lock lock(mutex_);
    ++calls;
    released_.wait(lock, [&] { return !hold_ || stopped_; });
    if (stopped_) return sdk::DeliveryResult::retry("stopped");
    if (retries_left_ > 0) {
      --retries_left_;
      return sdk::DeliveryResult::retry("simulated outage", 1ms);
    }
    std::vector<sdk::ItemFailure> failures;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!poison_key_.empty() && batch[i].key == poison_key_) {
        failures.push_back(sdk::ItemFailure{i, "WRONGTYPE simulated", false});
        continue;
      }
      applied.push_back(std::string(sdk::to_string(batch[i].action)) + " " + batch[i].key);
    }
    if (!failures.empty()) return sdk::DeliveryResult::partial(std::move(failures));
    return sdk::DeliveryResult::ok();
  }
  void stop() override {
    std::lock_guard guard(mutex_);
    stopped_ = true;
    released_.notify_all();
  }
  void hold(bool on) {
    std::lock_guard guard(mutex_);
    hold_ = on;
    released_.notify_all();
  }
  void fail_next(int times) {
    std::lock_guard guard(mutex_);
    retries_left_ = times;
  }
  void poison(std::string key) {
    std::lock_guard guard(mutex_);
    poison_key_ = std::move(key);
  }
  std::vector<std::string> applied_copy() {
    std::lock_guard guard(mutex_);
    return applied;
  }
  std::atomic<int> calls{0};
  std::vector<std::string> applied;

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool hold_ = false;
  bool stopped_ = false;
  int retries_left_ = 0;
  std::string poison_key_;
};

RouteDefinition customers_route(std::string to = "sink") {
  RouteDefinition route;
  route.from = {"source"};
  route.table = "public.customers";
  route.keys = {"customer:{id}", "customer:email:{email}"};
  route.to = {std::move(to)};
  return route;
}

std::unique_ptr<Engine> build(EngineBuilder& builder) {
  auto built = builder.without_plugin_files().build();
  EXPECT_TRUE(built) << built.error();
  return built ? std::move(built).value() : nullptr;
}

// `source` -> customers_route() -> `sink`, with `config` (TOML, e.g. an [engine] table).
std::unique_ptr<Engine> customers_engine(std::unique_ptr<sdk::Source> source, std::unique_ptr<sdk::Sink> sink,
                                         const std::string& config = "") {
  return build(EngineBuilder()
                   .config_string(config)
                   .add_source("source", std::move(source))
                   .add_sink("sink", std::move(sink))
                   .add_route(customers_route()));
}

TEST(Pipeline, DeliversEveryKeyAndAcknowledgesEverything) {
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{
      customer_update(1, "a@x", "b@x", 10), customer_update(2, "c@x", "c@x", 11), "null"});
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::move(source), std::move(sink));
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto applied = sink_ptr->applied_copy();
  std::sort(applied.begin(), applied.end());
  EXPECT_EQ(applied, (std::vector<std::string>{"delete customer:1", "delete customer:2", "delete customer:email:a@x",
                                               "delete customer:email:b@x", "delete customer:email:c@x"}));
  EXPECT_EQ(source_ptr->last_acknowledged(), 3u);
  auto stats = engine->stats();
  EXPECT_EQ(stats.events, 2u);
  EXPECT_EQ(stats.skipped, 1u);
  EXPECT_EQ(stats.acknowledged, 3u);
}

// A source that decodes its own messages (as a logical-replication source does) hands the
// pipeline events, between raw messages of the same stream: both are routed, in order, and
// acknowledged.
class DecodingSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter& emitter, std::stop_token) override {
    for (std::uint64_t offset = 1; offset <= 3; ++offset) {
      bool emitted = false;
      if (offset == 2) {
        sdk::RawMessage message;
        message.topic = "shop.public.customers";
        message.value = customer_update(2, "raw@x", "raw@x", 2);
        message.position = sdk::Position{0, offset};
        emitted = emitter.emit(std::move(message));
      } else {
        sdk::ChangeEvent event;
        event.op = sdk::Op::update;
        event.table = sdk::TableId{"shop", "public", "customers"};
        const auto id = static_cast<std::int64_t>(offset);
        event.before = sdk::Row{{"id", id}, {"email", std::string("old") + std::to_string(id) + "@x"}};
        event.after = sdk::Row{{"id", id}, {"email", std::string("new") + std::to_string(id) + "@x"}};
        event.version = offset;
        event.position = sdk::Position{0, offset};
        emitted = emitter.emit(std::move(event));
      }
      if (!emitted) return sdk::Status::success();
    }
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position& position) override { last_acknowledged = position.offset; }
  std::atomic<std::uint64_t> last_acknowledged{0};
};

TEST(Pipeline, EventsASourceDecodedItselfAreRoutedAndAcknowledged) {
  auto source = std::make_unique<DecodingSource>();
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::move(source), std::move(sink));
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->applied_copy(),
            (std::vector<std::string>{"delete customer:1", "delete customer:email:new1@x", "delete customer:email:old1@x",
                                      "delete customer:2", "delete customer:email:raw@x", "delete customer:3",
                                      "delete customer:email:new3@x", "delete customer:email:old3@x"}));
  EXPECT_EQ(source_ptr->last_acknowledged.load(), 3u);
  EXPECT_EQ(engine->stats().events, 3u);
}

TEST(Pipeline, RetriesUntilTheSinkRecoversAndAcknowledgesOnlyThen) {
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->fail_next(1'000'000);
  auto engine = customers_engine(std::move(source), std::move(sink));
  ASSERT_TRUE(engine->start());
  while (sink_ptr->calls < 5) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u) << "nothing delivered, nothing acknowledged";
  sink_ptr->fail_next(0);
  while (source_ptr->last_acknowledged() < 1) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(sink_ptr->applied_copy().size(), 2u);
  EXPECT_GE(engine->stats().retries, 4u);
  ASSERT_TRUE(engine->stop());
}

TEST(Pipeline, FullSinkStopsTheSourceInsteadOfGrowingMemory) {
  std::vector<std::string> values;
  for (int i = 0; i < 50'000; ++i) values.push_back(customer_update(i, "a", "a", static_cast<std::uint64_t>(i)));
  auto source = std::make_unique<ScriptedSource>(values);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->hold(true);
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\nqueue_capacity = 100\n");
  ASSERT_TRUE(engine->start());
  // Let the source run into the limit, then check it stays there.
  std::this_thread::sleep_for(200ms);
  std::size_t emitted = source_ptr->emitted.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(source_ptr->emitted.load(), emitted) << "the source is blocked";
  // Input queue + router's batch + lane queue (at least one batch) + the batch in the sink.
  EXPECT_LE(emitted, 100u + 256u + 2 * 512u + 512u);
  sink_ptr->hold(false);
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(source_ptr->emitted.load(), values.size());
  EXPECT_EQ(source_ptr->last_acknowledged(), values.size());
}

TEST(Pipeline, MalformedMessagesAreDeadLetteredCountedAndAcknowledged) {
  TempDir dir;
  auto dead_letter = dir / "dead.jsonl";
  auto source = std::make_unique<ScriptedSource>(
      std::vector<std::string>{"{not json", customer_update(1, "a", "a", 1), R"({"op":"u","before":null,"after":null,"source":{}})"});
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\ndead_letter = \"" + dead_letter.string() + "\"\n");
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(engine->stats().malformed, 2u);
  EXPECT_EQ(source_ptr->last_acknowledged(), 3u);
  std::string text = read_file(dead_letter);
  EXPECT_NE(text.find(R"("value":"{not json")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("error":"malformed JSON)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("error":"no row and no key)"), std::string::npos) << text;
}

TEST(Pipeline, PermanentFailuresAreDeadLetteredAndTheRestDelivered) {
  TempDir dir;
  auto dead_letter = dir / "dead.jsonl";
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1), customer_update(2, "b", "b", 2)});
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->poison("customer:email:a");
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\ndead_letter = \"" + dead_letter.string() + "\"\n");
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(engine->stats().dead_lettered, 1u);
  EXPECT_EQ(sink_ptr->applied_copy().size(), 3u);
  EXPECT_EQ(source_ptr->last_acknowledged(), 2u);
  std::string text = read_file(dead_letter);
  EXPECT_NE(text.find(R"("kind":"invalidation")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("key":"customer:email:a")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("sink":"sink")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("topic":"shop.public.customers")"), std::string::npos) << text;
  EXPECT_NE(text.find("WRONGTYPE simulated"), std::string::npos) << text;
}

TEST(Pipeline, ADeadLetterFileCanBeReplayed) {
  TempDir dir;
  auto dead_letter = dir / "dead.jsonl";
  {
    auto sink = std::make_unique<ControlledSink>();
    sink->poison("customer:email:a");
    auto engine = build(EngineBuilder()
                            .config_string("[engine]\ndead_letter = \"" + dead_letter.string() + "\"\n")
                            .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                      customer_update(1, "a", "a", 1), "{broken"}))
                            .add_sink("sink", std::move(sink))
                            .add_route(customers_route()));
    ASSERT_TRUE(engine->start());
    ASSERT_TRUE(engine->wait());
    ASSERT_EQ(engine->stats().dead_lettered, 1u);
  }
  // Once the sink is healthy again, `invalidator run` over the dead-letter file delivers what
  // was given up on; what never decoded is dead-lettered again.
  auto replayed_dead_letter = dir / "dead-again.jsonl";
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .register_plugin(invalidator_static_plugin_file())
                          .config_string("[engine]\ndead_letter = \"" + replayed_dead_letter.string() +
                                         "\"\n[sources.replay]\ntype = \"file\"\npath = \"" + dead_letter.string() + "\"\n")
                          .add_sink("sink", std::move(sink)));
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->applied_copy(), (std::vector<std::string>{"delete customer:email:a"}));
  EXPECT_EQ(engine->stats().acknowledged, 2u);
  EXPECT_NE(read_file(replayed_dead_letter).find("{broken"), std::string::npos);
}

TEST(Pipeline, RedeleteSendsTheSameDeleteAgainAndAcknowledgesOnlyAfterIt) {
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  RouteDefinition route = customers_route();
  route.keys = {"customer:{id}"};
  route.redelete_after = "300ms";
  auto engine = build(EngineBuilder().add_source("source", std::move(source)).add_sink("sink", std::move(sink)).add_route(route));
  ASSERT_TRUE(engine->start());
  // Acknowledgement read first: once it is seen, both deletes must already be applied.
  for (;;) {
    std::uint64_t acknowledged = source_ptr->last_acknowledged();
    std::size_t applied = sink_ptr->applied_copy().size();
    if (acknowledged >= 1) {
      EXPECT_EQ(applied, 2u) << "acknowledged before the second delete was delivered";
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(sink_ptr->applied_copy(), (std::vector<std::string>{"delete customer:1", "delete customer:1"}));
  EXPECT_EQ(engine->stats().redeliveries, 1u);
  ASSERT_TRUE(engine->stop());
}

TEST(Pipeline, StoppingWaitsForOwedRedeletes) {
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  RouteDefinition route = customers_route();
  route.redelete_after = "200ms";
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1)}))
                          .add_sink("sink", std::move(sink))
                          .add_route(route));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());  // the source ended at once; the lane still owed the redeletes
  EXPECT_EQ(sink_ptr->applied_copy().size(), 4u);
  EXPECT_EQ(engine->stats().acknowledged, 1u);
}

TEST(Pipeline, ShutdownDeadlineLeavesUndeliveredWorkUnacknowledged) {
  auto source = std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1)}, true);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->fail_next(1'000'000);
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\nshutdown_timeout = \"100ms\"\n");
  ASSERT_TRUE(engine->start());
  while (sink_ptr->calls < 2) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(engine->stop());
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u);
  EXPECT_EQ(engine->outstanding(), 1u);
}

// A memory sink that stores each customer's email under customer:{id}, so that the final
// state of the cache shows the order in which changes were applied.
std::unique_ptr<Engine> email_cache_engine(std::vector<std::string> values, const std::string& sink_options) {
  EngineBuilder builder;
  builder.register_plugin(invalidator_static_plugin_memory())
      .config_string("[sinks.cache]\ntype = \"memory\"\n" + sink_options +
                     "[[routes]]\nfrom = [\"source\"]\ntable = \"public.customers\"\n"
                     "keys = [\"customer:{id}\"]\naction = \"set\"\nvalue = \"{email}\"\nto = [\"cache\"]\n")
      .add_source("source", std::make_unique<ScriptedSource>(std::move(values)));
  auto engine = build(builder);
  if (engine) {
    EXPECT_TRUE(engine->start());
    EXPECT_TRUE(engine->wait());
  }
  return engine;
}

TEST(Pipeline, KeepsPerKeyOrderAcrossBatches) {
  // Alternating set and delete of one key: the memory cache must end in the last state.
  std::vector<std::string> values;
  for (int i = 1; i <= 999; ++i) {
    std::string op = i % 2 ? "u" : "d";
    std::string after = i % 2 ? R"({"id":1,"email":"v)" + std::to_string(i) + R"("})" : "null";
    values.push_back(R"({"before":{"id":1,"email":"old"},"after":)" + after +
                     R"(,"source":{"schema":"public","table":"customers","lsn":)" + std::to_string(i) + R"(},"op":")" + op + R"("})");
  }
  auto engine = email_cache_engine(values, "[sinks.cache.batch]\nmax_events = 7\n");
  ASSERT_TRUE(engine);
  sdk::Cache* cache = engine->cache("cache");
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->get("customer:1"), "v999") << "the last change wins";
}

// Breaks the SDK's rule once: the pipeline must survive it and retry.
class ThrowingOnceSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    if (!thrown_.exchange(true)) throw std::runtime_error("connection pool exploded");
    delivered += batch.size();
    return sdk::DeliveryResult::ok();
  }
  std::atomic<std::size_t> delivered{0};

 private:
  std::atomic<bool> thrown_{false};
};

TEST(Pipeline, ASinkThatThrowsIsRetriedNotFatal) {
  auto sink = std::make_unique<ThrowingOnceSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "a", 1)}))
                          .add_sink("sink", std::move(sink))
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->delivered.load(), 2u);
  EXPECT_EQ(engine->stats().retries, 1u);
  EXPECT_EQ(engine->stats().acknowledged, 1u);
}

TEST(Pipeline, ManyLanesKeepEachKeysOrder) {
  // 50 keys, each set and deleted in turn 40 times, through 4 lanes: every key must end in
  // its own last state, whatever the interleaving between lanes.
  std::vector<std::string> values;
  std::uint64_t lsn = 0;
  for (int round = 1; round <= 40; ++round) {
    for (int id = 1; id <= 50; ++id) {
      // Alternate set and delete; the last round sets odd ids and deletes even ones.
      bool set = round == 40 ? id % 2 == 1 : round % 2 == 1;
      std::string op = set ? "u" : "d";
      std::string after = op == "u" ? R"({"id":)" + std::to_string(id) + R"(,"email":"r)" + std::to_string(round) + R"("})" : "null";
      values.push_back(R"({"before":{"id":)" + std::to_string(id) + R"(,"email":"x"},"after":)" + after +
                       R"(,"source":{"schema":"public","table":"customers","lsn":)" + std::to_string(++lsn) +
                       R"(},"op":")" + op + R"("})");
    }
  }
  auto engine = email_cache_engine(values, "lanes = 4\n[sinks.cache.batch]\nmax_events = 5\n");
  ASSERT_TRUE(engine);
  sdk::Cache* cache = engine->cache("cache");
  for (int id = 1; id <= 50; ++id) {
    auto value = cache->get("customer:" + std::to_string(id));
    if (id % 2 == 0) {
      EXPECT_EQ(value, std::nullopt) << id;
    } else {
      EXPECT_EQ(value, "r40") << id;
    }
  }
  EXPECT_EQ(engine->stats().acknowledged, values.size());
}

// Emits the messages of several streams interleaved, as a source reading many partitions
// does; checks each stream's acknowledgements go forward only.
class InterleavedStreamsSource final : public sdk::Source {
 public:
  explicit InterleavedStreamsSource(std::vector<std::vector<std::string>> streams) : streams_(std::move(streams)) {}
  sdk::Status run(sdk::Emitter& emitter, std::stop_token) override {
    for (std::size_t i = 0;; ++i) {
      bool any = false;
      for (std::size_t stream = 0; stream < streams_.size(); ++stream) {
        if (i >= streams_[stream].size()) continue;
        any = true;
        sdk::RawMessage message;
        message.topic = "shop.public.customers";
        message.value = streams_[stream][i];
        message.position = sdk::Position{stream, i + 1};
        if (!emitter.emit(std::move(message))) return sdk::Status::success();
      }
      if (!any) return sdk::Status::success();
    }
  }
  void acknowledge(const sdk::Position& position) override {
    std::lock_guard guard(mutex_);
    auto& last = acknowledged_[position.stream];
    EXPECT_GT(position.offset, last) << "stream " << position.stream << " went back";
    last = position.offset;
  }
  std::map<std::uint64_t, std::uint64_t> acknowledged() {
    std::lock_guard guard(mutex_);
    return acknowledged_;
  }

 private:
  std::vector<std::vector<std::string>> streams_;
  std::mutex mutex_;
  std::map<std::uint64_t, std::uint64_t> acknowledged_;
};

// Records every value written to each key, in the order the sink received them.
class WriteLogSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    std::lock_guard guard(mutex_);
    for (const auto& invalidation : batch) writes[invalidation.key].push_back(invalidation.value.value_or(""));
    return sdk::DeliveryResult::ok();
  }
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> writes;
};

TEST(Pipeline, StreamsSpreadOverDecodeThreadsKeepTheirOrderAndAreAllAcknowledged) {
  // 7 streams, each with its own 3 keys written 500 times in turn, decoded by 4 threads: every
  // key must see its values in the order of its stream, and every stream be acknowledged to
  // its end.
  constexpr int kStreams = 7, kKeysPerStream = 3, kRounds = 500;
  std::vector<std::vector<std::string>> streams(kStreams);
  for (int stream = 0; stream < kStreams; ++stream) {
    for (int round = 0; round < kRounds; ++round) {
      for (int k = 0; k < kKeysPerStream; ++k) {
        int id = stream * 100 + k;
        streams[stream].push_back(R"({"before":{"id":)" + std::to_string(id) + R"(,"email":"x"},"after":{"id":)" +
                                  std::to_string(id) + R"(,"email":")" + std::to_string(round) +
                                  R"("},"source":{"schema":"public","table":"customers"},"op":"u"})");
      }
    }
  }
  auto source = std::make_unique<InterleavedStreamsSource>(streams);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<WriteLogSink>();
  auto* sink_ptr = sink.get();
  RouteDefinition route;
  route.from = {"source"};
  route.table = "public.customers";
  route.keys = {"customer:{id}"};
  route.action = "set";
  route.value = "{email}";
  route.to = {"sink"};
  auto engine = build(EngineBuilder()
                          .config_string("[engine]\ndecode_threads = 4\nqueue_capacity = 64\n")
                          .add_source("source", std::move(source))
                          .add_sink("sink", std::move(sink))
                          .add_route(route));
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());

  ASSERT_EQ(sink_ptr->writes.size(), static_cast<std::size_t>(kStreams * kKeysPerStream));
  for (const auto& [key, values] : sink_ptr->writes) {
    // Coalescing may drop nothing here (every value differs), so each key sees every round.
    ASSERT_EQ(values.size(), static_cast<std::size_t>(kRounds)) << key;
    for (int round = 0; round < kRounds; ++round) {
      ASSERT_EQ(values[static_cast<std::size_t>(round)], std::to_string(round)) << key << " out of order";
    }
  }
  auto acknowledged = source_ptr->acknowledged();
  ASSERT_EQ(acknowledged.size(), static_cast<std::size_t>(kStreams));
  for (const auto& [stream, offset] : acknowledged) {
    EXPECT_EQ(offset, static_cast<std::uint64_t>(kRounds * kKeysPerStream)) << "stream " << stream;
  }
  EXPECT_EQ(engine->stats().acknowledged, static_cast<std::uint64_t>(kStreams * kRounds * kKeysPerStream));
}

// Counts deliveries running at once; takes one at a time, like a sink with one connection.
class ConcurrencyProbeSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation>, const sdk::DeliveryContext&) override {
    int now = ++in_flight_;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(200us);
    --in_flight_;
    return sdk::DeliveryResult::ok();
  }
  std::atomic<int> max_in_flight{0};

 private:
  std::atomic<int> in_flight_{0};
};

TEST(Pipeline, LanesAreCappedByWhatTheSinkSupports) {
  std::vector<std::string> values;
  for (int i = 0; i < 400; ++i) values.push_back(customer_update(i, "a", "a", static_cast<std::uint64_t>(i)));
  config::RouteSpec route;
  route.from = {"source"};
  route.table = "public.customers";
  route.ops = {sdk::Op::update};
  route.keys = {"customer:{id}"};
  route.to = {"sink"};
  auto router = route::Router::build({route}, {"source"}, {"sink"});
  ASSERT_TRUE(router);
  auto probe = std::make_unique<ConcurrencyProbeSink>();
  auto* probe_ptr = probe.get();
  std::vector<pipeline::SourceSlot> sources;
  sources.push_back(pipeline::SourceSlot{"source", std::make_unique<ScriptedSource>(values)});
  config::SinkSettings settings = config::default_sink_settings();
  settings.lanes = 4;  // asked for, but the sink takes one delivery at a time
  settings.batch.max_events = 4;
  std::vector<pipeline::SinkSlot> sinks;
  sinks.push_back(pipeline::SinkSlot{"sink", std::move(probe), settings});
  pipeline::Pipeline pipeline(config::default_engine_settings(), std::move(sources), std::move(sinks), std::move(router).value(),
                              std::move(pipeline::DeadLetterFile::open("").value()));
  ASSERT_TRUE(pipeline.start());
  ASSERT_TRUE(pipeline.wait());
  EXPECT_EQ(probe_ptr->max_in_flight.load(), 1);
  EXPECT_EQ(pipeline.acknowledged(), values.size());
}

TEST(Pipeline, CoalescesDuplicateKeysInsideABatch) {
  std::vector<std::string> values(200, customer_update(1, "same", "same", 5));
  auto sink = std::make_unique<ControlledSink>();
  auto* sink_ptr = sink.get();
  sink_ptr->hold(true);
  auto engine = build(EngineBuilder().add_source("source", std::make_unique<ScriptedSource>(values)).add_sink("sink", std::move(sink)).add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  std::this_thread::sleep_for(50ms);
  sink_ptr->hold(false);
  ASSERT_TRUE(engine->wait());
  EXPECT_LT(sink_ptr->applied_copy().size(), 400u);
  EXPECT_GT(engine->stats().coalesced, 0u);
  EXPECT_EQ(engine->stats().acknowledged, 200u);
}

TEST(Pipeline, FileSourceIntoMemorySinkThroughStaticPlugins) {
  TempDir dir;
  auto events = dir / "events.jsonl";
  invalidator::testing::write_file(events, customer_update(42, "old@x", "new@x", 1) + "\n\n" +
                                               customer_update(43, "p@x", "p@x", 2) + "\n");
  auto engine = build(EngineBuilder()
                          .register_plugin(invalidator_static_plugin_memory())
                          .register_plugin(invalidator_static_plugin_file())
                          .config_string("[sources.events]\ntype = \"file\"\npath = \"" + events.string() +
                                         "\"\n[sinks.cache]\ntype = \"memory\"\n[[routes]]\nfrom = [\"events\"]\n"
                                         "table = \"public.customers\"\nkeys = [\"customer:{id}\"]\nto = [\"cache\"]\n"));
  ASSERT_TRUE(engine);
  sdk::Cache* cache = engine->cache("cache");
  ASSERT_NE(cache, nullptr);
  cache->put("customer:42", "stale");
  cache->put("customer:43", "stale");
  cache->put("customer:44", "fresh");
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(cache->get("customer:42"), std::nullopt);
  EXPECT_EQ(cache->get("customer:43"), std::nullopt);
  EXPECT_EQ(cache->get("customer:44"), "fresh");
}

TEST(Engine, BuildReportsEveryConfigurationError) {
  auto built = EngineBuilder()
                   .without_plugin_files()
                   .register_plugin(invalidator_static_plugin_memory())
                   .config_string("[sinks.cache]\ntype = \"memory\"\nmax_entrie = 5\n[[routes]]\nfrom = [\"nope\"]\n"
                                  "table = \"t\"\nkeys = [\"k\"]\nto = [\"cache\"]\n",
                                  "inline.toml")
                   .build();
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().find("inline.toml:3:1: sinks.cache.max_entrie: unknown key 'max_entrie' (did you mean 'max_entries'?)"),
            std::string::npos)
      << built.error();
  EXPECT_NE(built.error().find("routes[0].from: unknown source 'nope'"), std::string::npos) << built.error();
}

TEST(Engine, AnIdGivenTwiceIsAnError) {
  auto built = EngineBuilder()
                   .without_plugin_files()
                   .register_plugin(invalidator_static_plugin_memory())
                   .config_string("[sinks.cache]\ntype = \"memory\"\n", "twice.toml")
                   .add_sink("cache", std::make_unique<ControlledSink>())
                   .build();
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().find("twice.toml:1:1: sinks.cache: this id is also given to an object added in code"),
            std::string::npos)
      << built.error();
}

// Records the scheduling policy of the thread each call runs on.
class PolicyRecordingSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter& emitter, std::stop_token) override {
    policy = sched_getscheduler(0);
    sdk::RawMessage message;
    message.topic = "shop.public.customers";
    message.value = customer_update(1, "a", "b", 1);
    message.position = sdk::Position{0, 1};
    emitter.emit(std::move(message));
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position&) override {}
  std::atomic<int> policy{-1};
};

class PolicyRecordingSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation>, const sdk::DeliveryContext&) override {
    policy = sched_getscheduler(0);
    return sdk::DeliveryResult::ok();
  }
  std::atomic<int> policy{-1};
};

std::pair<int, int> source_and_lane_policies(const std::string& engine_table) {
  auto source = std::make_unique<PolicyRecordingSource>();
  auto* source_ptr = source.get();
  auto sink = std::make_unique<PolicyRecordingSink>();
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::move(source), std::move(sink), engine_table);
  EXPECT_TRUE(engine->start());
  EXPECT_TRUE(engine->wait());
  return {source_ptr->policy.load(), sink_ptr->policy.load()};
}

TEST(Pipeline, ThreadsRunUnderBatchSchedulingUnlessTurnedOff) {
  EXPECT_EQ(source_and_lane_policies(""), std::make_pair(SCHED_BATCH, SCHED_BATCH));
  EXPECT_EQ(source_and_lane_policies("[engine]\nbatch_scheduling = false\n"), std::make_pair(SCHED_OTHER, SCHED_OTHER));
}

}  // namespace
}  // namespace invalidator

namespace invalidator {
namespace {

// Answers each delivery from a script (ok once the script runs out) and records what each
// call was handed: the delivery context, and each invalidation with its context.
class ScriptedSink final : public sdk::Sink {
 public:
  struct Call {
    sdk::DeliveryContext context;
    std::vector<sdk::Invalidation> batch;  // origins stay valid while the engine lives
  };
  explicit ScriptedSink(std::vector<sdk::DeliveryResult> answers = {}) : answers_(std::move(answers)) {}
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext& context) override {
    std::lock_guard guard(mutex_);
    calls_.push_back(Call{context, std::vector<sdk::Invalidation>(batch.begin(), batch.end())});
    if (next_ < answers_.size()) return answers_[next_++];
    return sdk::DeliveryResult::ok();
  }
  std::vector<Call> calls() {
    std::lock_guard guard(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::vector<sdk::DeliveryResult> answers_;
  std::size_t next_ = 0;
  std::vector<Call> calls_;
};

std::string customer_update_at(int id, const std::string& email, std::uint64_t lsn, std::int64_t ts_ms) {
  return R"({"before":{"id":)" + std::to_string(id) + R"(,"email":"old"},"after":{"id":)" + std::to_string(id) +
         R"(,"email":")" + email + R"("},"source":{"db":"shop","schema":"public","table":"customers","lsn":)" +
         std::to_string(lsn) + R"(,"ts_ms":)" + std::to_string(ts_ms) + R"(},"op":"u"})";
}

TEST(SinkContract, EachInvalidationSaysWhichTableOpSourceRouteAndCommitProducedIt) {
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("customers", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                       customer_update_at(7, "new@x", 4242, 1700000000123)}))
                          .add_sink("sink", std::move(sink))
                          .add_route([] {
                            RouteDefinition unrelated;
                            unrelated.from = {"customers"};
                            unrelated.table = "public.orders";
                            unrelated.keys = {"order:{id}"};
                            unrelated.to = {"sink"};
                            return unrelated;
                          }())
                          .add_route([] {
                            RouteDefinition route = customers_route();
                            route.from = {"customers"};
                            route.keys = {"customer:{id}"};
                            return route;
                          }()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].batch.size(), 1u);
  const sdk::Invalidation& item = calls[0].batch[0];
  EXPECT_EQ(item.key, "customer:7");
  EXPECT_EQ(item.version, 4242u);
  ASSERT_NE(item.origin, nullptr);
  EXPECT_EQ(item.table(), "public.customers");
  EXPECT_EQ(item.origin->op, sdk::Op::update);
  EXPECT_EQ(item.source(), "customers");
  EXPECT_EQ(item.route(), "routes[1]");
  EXPECT_EQ(item.commit_time, std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123)));
}

TEST(SinkContract, ABatchRetriedAsItWasKeepsItsIdAndCountsItsAttempts) {
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{
      sdk::DeliveryResult::retry("down", 1ms), sdk::DeliveryResult::retry("down", 1ms)});
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                    customer_update(1, "a", "b", 1), customer_update(2, "c", "d", 2)}))
                          .add_sink("sink", std::move(sink), SinkSettings{.batch_max_delay = 50ms,
                                                                          .retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0].context.attempt, 1u);
  EXPECT_EQ(calls[1].context.attempt, 2u);
  EXPECT_EQ(calls[2].context.attempt, 3u);
  EXPECT_EQ(calls[1].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[2].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[2].batch.size(), calls[0].batch.size());
  std::set<std::uint64_t> ids;
  for (const auto& call : calls) ids.insert(call.context.batch_id);
  EXPECT_EQ(ids.size(), calls.size() - 2) << "every other batch has an id of its own";
  EXPECT_EQ(engine->stats().acknowledged, 2u);
}

TEST(SinkContract, WhatIsLeftOfAPartlyAppliedBatchIsANewBatch) {
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{
      sdk::DeliveryResult::partial({sdk::ItemFailure{1, "busy", true}})});
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                    customer_update(1, "a", "b", 1)}))
                          .add_sink("sink", std::move(sink), SinkSettings{.retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].batch.size(), 3u);  // customer:1, customer:email:b, customer:email:a
  ASSERT_EQ(calls[1].batch.size(), 1u);
  EXPECT_EQ(calls[1].batch[0].key, calls[0].batch[1].key);
  EXPECT_NE(calls[1].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[1].context.attempt, 1u);
}

TEST(SinkContract, ABatchFailedWholeIsDeadLetteredAtOnceAndAcknowledged) {
  TempDir dir;
  auto dead_letter = dir / "dead.jsonl";
  auto sink = std::make_unique<ScriptedSink>(
      std::vector<sdk::DeliveryResult>{sdk::DeliveryResult::failed("HTTP 400: bad request")});
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "b", 1)}),
                                 std::move(sink), "[engine]\ndead_letter = \"" + dead_letter.string() + "\"\n");
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->calls().size(), 1u) << "a batch failed whole is not retried";
  EXPECT_EQ(engine->stats().dead_lettered, 3u);
  EXPECT_EQ(engine->stats().delivered, 0u);
  EXPECT_EQ(engine->stats().acknowledged, 1u);
  std::string text = read_file(dead_letter);
  EXPECT_NE(text.find("HTTP 400: bad request"), std::string::npos) << text;
  EXPECT_NE(text.find("customer:email:b"), std::string::npos) << text;
}

TEST(SinkContract, MaxBytesDeliversABatchInPartsInOrder) {
  std::vector<std::string> values;
  for (int i = 0; i < 20; ++i) values.push_back(customer_update(i, "x", "x", static_cast<std::uint64_t>(i + 1)));
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  RouteDefinition route = customers_route();
  route.keys = {"customer:{id}"};  // 10 or 11 bytes each
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(values))
                          .add_sink("sink", std::move(sink), SinkSettings{.batch_max_bytes = 32, .batch_max_delay = 200ms})
                          .add_route(route));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::vector<std::string> keys;
  for (const auto& call : sink_ptr->calls()) {
    std::size_t bytes = 0;
    for (const auto& item : call.batch) {
      bytes += item.key.size();
      keys.push_back(item.key);
    }
    EXPECT_LE(bytes, 32u);
    EXPECT_GE(call.batch.size(), 1u);
  }
  ASSERT_EQ(keys.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(keys[static_cast<std::size_t>(i)], "customer:" + std::to_string(i));
  EXPECT_EQ(engine->stats().acknowledged, 20u);
}

TEST(SinkContract, SettingsOfASinkAddedInCodeAreCheckedAsInAFile) {
  auto built = EngineBuilder()
                   .without_plugin_files()
                   .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{}))
                   .add_sink("sink", std::make_unique<ScriptedSink>(), SinkSettings{.lanes = 0, .batch_max_events = 0})
                   .add_route(customers_route())
                   .build();
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().find("sinks.sink.lanes: value is below the minimum of 1"), std::string::npos) << built.error();
  EXPECT_NE(built.error().find("sinks.sink.batch.max_events: value is below the minimum of 1"), std::string::npos)
      << built.error();
}

}  // namespace
}  // namespace invalidator

namespace invalidator {
namespace {

// Emits its script of messages and position-only markers, on the streams they name, then
// ends; or fails transiently a number of times first. Records what the engine tells it.
class MarkingSource final : public sdk::Source {
 public:
  struct Step {
    sdk::Position position;
    std::optional<std::string> value;  // none: a position-only marker
  };
  MarkingSource(std::vector<Step> steps, sdk::Completion completion = sdk::Completion::cumulative,
                int transient_failures = 0)
      : steps_(std::move(steps)), completion_(completion), transient_failures_(transient_failures) {}

  sdk::Status run(sdk::Emitter& emitter, std::stop_token) override {
    ++runs;
    if (transient_failures_ > 0) {
      --transient_failures_;
      return sdk::Status::transient_error("connection reset by peer");
    }
    for (const auto& step : steps_) {
      if (!step.value) {
        if (!emitter.emit_position(step.position)) break;
        continue;
      }
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.value = *step.value;
      message.position = step.position;
      if (!emitter.emit(std::move(message))) break;
    }
    return sdk::Status::success();
  }
  sdk::Completion completion() const override { return completion_; }
  void acknowledge(const sdk::Position& position) override { record(acknowledged, position); }
  void complete(const sdk::Position& position) override { record(completed, position); }
  void reject(const sdk::Position& position, std::string_view reason) override {
    record(rejected, position);
    std::lock_guard guard(mutex);
    reasons.emplace_back(reason);
  }

  std::mutex mutex;
  std::vector<sdk::Position> acknowledged;
  std::vector<sdk::Position> completed;
  std::vector<sdk::Position> rejected;
  std::vector<std::string> reasons;
  std::atomic<int> runs{0};

 private:
  void record(std::vector<sdk::Position>& into, const sdk::Position& position) {
    std::lock_guard guard(mutex);
    into.push_back(position);
  }
  std::vector<Step> steps_;
  sdk::Completion completion_;
  int transient_failures_;
};

TEST(SourceContract, APositionOnlyMarkerMovesTheAcknowledgedPositionPastMessagesThatInvalidateNothing) {
  auto source = std::make_unique<MarkingSource>(std::vector<MarkingSource::Step>{
      {{0, 1}, customer_update(1, "a", "b", 1)}, {{0, 2}, std::nullopt}, {{0, 3}, std::nullopt}});
  auto* source_ptr = source.get();
  auto engine = customers_engine(std::move(source), std::make_unique<ScriptedSink>());
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::lock_guard guard(source_ptr->mutex);
  ASSERT_FALSE(source_ptr->acknowledged.empty());
  EXPECT_EQ(source_ptr->acknowledged.back(), (sdk::Position{0, 3})) << "the last marker is acknowledged";
  EXPECT_EQ(engine->stats().acknowledged, 3u);
  EXPECT_EQ(engine->stats().events, 1u) << "a marker is no event";
}

TEST(SourceContract, IndividualCompletionReportsEachMessageAndRejectsWhatWasNotKept) {
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{sdk::DeliveryResult::retry("slow", 1ms)});
  auto source = std::make_unique<MarkingSource>(
      std::vector<MarkingSource::Step>{{{0, 1}, customer_update(1, "a", "b", 1)},
                                       {{1, 7}, "{this is not json"},
                                       {{2, 9}, std::nullopt},
                                       {{1, 8}, customer_update(2, "c", "d", 2)}},
      sdk::Completion::individual);
  auto* source_ptr = source.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::move(source))
                          .add_sink("sink", std::move(sink), SinkSettings{.retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::lock_guard guard(source_ptr->mutex);
  std::set<std::pair<std::uint64_t, std::uint64_t>> completed;
  for (const auto& position : source_ptr->completed) completed.insert({position.stream, position.offset});
  EXPECT_EQ(completed, (std::set<std::pair<std::uint64_t, std::uint64_t>>{{0, 1}, {1, 8}, {2, 9}}));
  EXPECT_EQ(source_ptr->completed.size(), 3u) << "each once";
  ASSERT_EQ(source_ptr->rejected.size(), 1u) << "no dead-letter file keeps the undecodable message";
  EXPECT_EQ(source_ptr->rejected[0], (sdk::Position{1, 7}));
  EXPECT_NE(source_ptr->reasons[0].find("JSON"), std::string::npos) << source_ptr->reasons[0];
  EXPECT_TRUE(source_ptr->acknowledged.empty()) << "nothing cumulative for an individual source";
}

TEST(SourceContract, ATransientFailureStartsTheSourceAgainAfterABackoff) {
  auto source = std::make_unique<MarkingSource>(
      std::vector<MarkingSource::Step>{{{0, 1}, customer_update(1, "a", "b", 1)}}, sdk::Completion::cumulative, 2);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\nsource_restart_backoff = \"1ms\"\n");
  ASSERT_TRUE(engine->start());
  auto status = engine->wait();
  EXPECT_TRUE(status) << status.message();
  EXPECT_EQ(source_ptr->runs.load(), 3);
  EXPECT_EQ(engine->stats().source_restarts, 2u);
  EXPECT_EQ(sink_ptr->calls().size(), 1u) << "the third run's message was delivered";
}

class FailingSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter&, std::stop_token) override {
    ++runs;
    return sdk::Status::error("authentication failed");
  }
  std::atomic<int> runs{0};
};

TEST(SourceContract, AFatalFailureStopsTheEngineWithoutARestart) {
  auto source = std::make_unique<FailingSource>();
  auto* source_ptr = source.get();
  auto engine = customers_engine(std::move(source), std::make_unique<ScriptedSink>(),
                                 "[engine]\nsource_restart_backoff = \"1ms\"\n");
  ASSERT_TRUE(engine->start());
  auto status = engine->wait();
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("source 'source' failed: authentication failed"), std::string::npos)
      << status.message();
  EXPECT_EQ(source_ptr->runs.load(), 1);
}

}  // namespace
}  // namespace invalidator
