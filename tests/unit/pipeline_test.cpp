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
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);
INVALIDATOR_DECLARE_STATIC_PLUGIN(file);

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using namespace invalidator::testing;

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
  ASSERT_TRUE(eventually([&] { return sink_ptr->calls >= 5; }));
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u) << "nothing delivered, nothing acknowledged";
  sink_ptr->fail_next(0);
  ASSERT_TRUE(eventually([&] { return source_ptr->last_acknowledged() >= 1; }));
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
  // The sink holds its first batch; emit() blocks the source once the queues are full, so
  // however far it got, it is within their bound.
  ASSERT_TRUE(eventually([&] { return sink_ptr->calls >= 1 && source_ptr->emitted.load() >= 100; }));
  std::size_t emitted = source_ptr->emitted.load();
  EXPECT_LT(emitted, values.size()) << "the source is held back";
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

TEST(Pipeline, ReplayingADeadLetterFileRestoresTheInvalidationsExactly) {
  TempDir dir;
  RouteDefinition sets = customer_id_route();
  sets.action = "set";
  sets.value = "{email}";
  sets.ttl = "90s";
  std::vector<sdk::Invalidation> given_up;
  {
    auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{sdk::DeliveryResult::failed("refused")});
    auto* sink_ptr = sink.get();
    auto engine = build(EngineBuilder()
                            .config_string("[engine]\nstate_dir = \"" + dir.path().string() + "\"\n")
                            .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                      customer_update_at(1, "caf\xc3\xa9", 77, 1'700'000'000'123)}))
                            .add_sink("sink", std::move(sink))
                            .add_route(sets));
    ASSERT_TRUE(engine->start());
    ASSERT_TRUE(engine->wait());
    ASSERT_EQ(engine->stats().dead_lettered, 1u);
    given_up = sink_ptr->calls().at(0).batch;
  }
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .register_plugin(invalidator_static_plugin_file())
                          .config_string("[sources.replay]\ntype = \"file\"\npath = \"" +
                                         (dir / "dead-letters.jsonl").string() + "\"\n[engine]\nstate_dir = \"" +
                                         (dir / "replay").string() + "\"\n")
                          .add_sink("sink", std::move(sink)));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].batch.size(), 1u);
  ASSERT_EQ(given_up.size(), 1u);
  const sdk::Invalidation& replayed = calls[0].batch[0];
  EXPECT_EQ(replayed.action, given_up[0].action);
  EXPECT_EQ(replayed.key, given_up[0].key);
  EXPECT_EQ(replayed.value, given_up[0].value);
  EXPECT_EQ(replayed.value, "caf\xc3\xa9");
  EXPECT_EQ(replayed.ttl, given_up[0].ttl);
  EXPECT_EQ(replayed.version, given_up[0].version);
  EXPECT_EQ(replayed.commit_time, given_up[0].commit_time);
  EXPECT_NE(replayed.commit_time, std::chrono::system_clock::time_point{});
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
  std::size_t applied_when_acknowledged = 0;
  ASSERT_TRUE(eventually([&] {
    const bool acknowledged = source_ptr->last_acknowledged() >= 1;
    applied_when_acknowledged = sink_ptr->applied_copy().size();
    return acknowledged;
  }));
  EXPECT_EQ(applied_when_acknowledged, 2u) << "acknowledged before the second delete was delivered";
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
  ASSERT_TRUE(eventually([&] { return sink_ptr->calls >= 2; }));
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
  route::RouteSpec route;
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
                              std::make_unique<pipeline::DeadLetterFile>());
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
  auto source = std::make_unique<ScriptedSource>(values);
  auto* source_ptr = source.get();
  auto engine = build(EngineBuilder().add_source("source", std::move(source)).add_sink("sink", std::move(sink)).add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  // Everything is queued behind the held first batch before the sink lets go.
  ASSERT_TRUE(eventually([&] { return sink_ptr->calls >= 1 && source_ptr->emitted.load() == values.size(); }));
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
