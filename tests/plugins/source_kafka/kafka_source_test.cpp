#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include <librdkafka/rdkafka.h>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "invalidator/sdk/testing/source_conformance.hpp"
#include "support/kafka_cluster.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(kafka);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::fixture;
using testing::KafkaCluster;

using testing::eventually;

std::string source_table(const KafkaCluster& cluster, const std::string& topic, const std::string& group) {
  return "[sources.kafka]\ntype = \"kafka\"\nbrokers = \"" + cluster.bootstrap() + "\"\ntopics = [\"" + topic +
         "\"]\ngroup_id = \"" + group + "\"\ncommit_interval = \"100ms\"\n";
}

// An engine with the Kafka source (its table given) and a memory sink `cache` routed from
// `route` ([[routes]] body without from/to).
sdk::Result<std::unique_ptr<Engine>> kafka_to_memory(const std::string& source, const std::string& route) {
  return EngineBuilder()
      .without_plugin_files()
      .register_plugin(invalidator_static_plugin_kafka())
      .register_plugin(invalidator_static_plugin_memory())
      .config_string(source + "[sinks.cache]\ntype = \"memory\"\n[[routes]]\nfrom = [\"kafka\"]\nto = [\"cache\"]\n" + route)
      .build();
}

// The real Debezium fixtures, produced as Debezium would (keys, values, a tombstone), come
// out as exactly the expected invalidations, and the group's offset reaches the end.
TEST(KafkaSource, DeliversTheKeysOfRealDebeziumFixturesAndCommitsThem) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("fullfillment.inventory.products");
  const std::string group = cluster.unique("fixtures");
  cluster.create_topic(topic, 1);
  const std::vector<std::string> values{"pg_create_no_schema.json",           "pg_update_replica_full_no_schema.json",
                                        "pg_update_before_null_no_schema.json", "pg_delete_replica_full_no_schema.json",
                                        "pg_snapshot_read_with_schema.json",    "unwrap_create_plain.json"};
  for (const auto& file : values) cluster.produce(topic, 0, std::nullopt, fixture("debezium/" + file));
  cluster.produce(topic, 0, fixture("debezium/pg_tombstone.key.no_schema.json"), std::nullopt);  // a tombstone
  cluster.flush();
  const std::int64_t produced = static_cast<std::int64_t>(values.size()) + 1;

  auto engine = kafka_to_memory(source_table(cluster, topic, group),
                                "table = \"*.products\"\nops = [\"insert\", \"update\", \"delete\", \"read\"]\nkeys = [\"product:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  sdk::Cache* cache = (*engine)->cache("cache");
  for (const char* key : {"product:101", "product:106", "product:110", "product:111", "product:999"}) {
    cache->put(key, "cached");
  }
  ASSERT_TRUE((*engine)->start().ok());
  EXPECT_TRUE(eventually([&] { return (*engine)->stats().acknowledged >= static_cast<std::uint64_t>(produced); }))
      << "acknowledged " << (*engine)->stats().acknowledged << " of " << produced;
  EXPECT_TRUE(cluster.wait_committed(group, topic, 0, produced)) << cluster.committed(group, topic, 0);
  ASSERT_TRUE((*engine)->stop().ok());

  for (const char* key : {"product:101", "product:106", "product:110", "product:111"}) {
    EXPECT_EQ(cache->get(key), std::nullopt) << key;
  }
  EXPECT_EQ(cache->get("product:999"), "cached") << "a key no event named";
  auto stats = (*engine)->stats();
  EXPECT_EQ(stats.events, 6u);
  EXPECT_EQ(stats.skipped, 1u) << "the tombstone";
}

// A sink that cannot deliver: the group's offset stays before the first undelivered message,
// and moves to the end once the sink recovers.
class SwitchableSink final : public sdk::Sink {
 public:
  explicit SwitchableSink(std::atomic<bool>& healthy) : healthy_(healthy) {}
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation>, const sdk::DeliveryContext&) override {
    if (!healthy_) return sdk::DeliveryResult::retry("the cache is down (test)");
    return sdk::DeliveryResult::ok();
  }

 private:
  std::atomic<bool>& healthy_;
};

TEST(KafkaSource, OffsetsDoNotMovePastUndeliveredEvents) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("shop.public.customers");
  const std::string group = cluster.unique("stalled");
  cluster.create_topic(topic, 1);
  auto event = [](int id) {
    return R"({"before":{"id":)" + std::to_string(id) + R"(},"after":{"id":)" + std::to_string(id) +
           R"(},"source":{"schema":"public","table":"customers"},"op":"u"})";
  };
  for (int id = 1; id <= 3; ++id) cluster.produce(topic, 0, std::nullopt, event(id));
  cluster.flush();

  std::atomic<bool> healthy{true};
  auto engine = EngineBuilder()
                    .without_plugin_files()
                    .register_plugin(invalidator_static_plugin_kafka())
                    .add_sink("cache", std::make_unique<SwitchableSink>(healthy))
                    .config_string(source_table(cluster, topic, group) +
                                   "[[routes]]\nfrom = [\"kafka\"]\ntable = \"public.customers\"\n"
                                   "keys = [\"customer:{id}\"]\nto = [\"cache\"]\n")
                    .build();
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  ASSERT_TRUE(cluster.wait_committed(group, topic, 0, 3));

  healthy = false;
  for (int id = 4; id <= 6; ++id) cluster.produce(topic, 0, std::nullopt, event(id));
  cluster.flush();
  ASSERT_TRUE(eventually([&] { return (*engine)->stats().retries > 2; }));
  // Absence is watched for a while, not waited for: five commit intervals.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(cluster.committed(group, topic, 0), 3) << "committed past undelivered events";
  // The stall as an operator sees it: three messages of lag on the partition, the sink not ready.
  const std::string stream = topic + "/0";
  auto lag_of_partition = [&]() -> std::int64_t {
    const EngineStats stats = (*engine)->stats();  // kept: the loop reads into it
    for (const auto& lag : stats.sources.at(0).lag) {
      if (lag.stream == stream && lag.unit == "messages") return static_cast<std::int64_t>(lag.lag);
    }
    return -1;
  };
  auto lag_text = [&] {
    std::string text;
    const EngineStats stats = (*engine)->stats();
    for (const auto& lag : stats.sources.at(0).lag) {
      text += lag.stream + "=" + std::to_string(lag.lag) + " " + lag.unit + "; ";
    }
    return text;
  };
  EXPECT_TRUE(eventually([&] { return lag_of_partition() == 3; })) << lag_text();
  EXPECT_FALSE((*engine)->stats().sinks.at(0).ready);
  EXPECT_NE((*engine)->stats().sinks.at(0).not_ready_reason.find("the cache is down"), std::string::npos);

  healthy = true;
  EXPECT_TRUE(cluster.wait_committed(group, topic, 0, 6)) << cluster.committed(group, topic, 0);
  EXPECT_TRUE(eventually([&] { return lag_of_partition() == 0; })) << lag_text();
  EXPECT_TRUE((*engine)->stats().sinks.at(0).ready);
  ASSERT_TRUE((*engine)->stop().ok());
}

// Every broker down: the source says so (not ready, with librdkafka's reason) while it waits,
// and is ready again once a broker answers, without being restarted.
TEST(KafkaSource, BrokersDownMakeTheSourceNotReadyUntilOneAnswers) {
  KafkaCluster cluster;
  if (!cluster.is_mock()) GTEST_SKIP() << "takes brokers down: the mock cluster only";
  const std::string topic = cluster.unique_topic("shop.public.customers");
  const std::string group = cluster.unique("reachability");
  cluster.create_topic(topic, 1);
  auto engine = kafka_to_memory(source_table(cluster, topic, group),
                                "table = \"public.customers\"\nkeys = [\"customer:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  auto source = [&] { return (*engine)->stats().sources.at(0); };
  ASSERT_TRUE(eventually([&] { return source().ready; })) << source().not_ready_reason;
  for (std::int32_t broker = 1; broker <= cluster.brokers(); ++broker) ASSERT_TRUE(cluster.set_broker_up(broker, false));
  EXPECT_TRUE(eventually([&] { return !source().ready; }));
  EXPECT_NE(source().not_ready_reason.find("disconnected"), std::string::npos) << source().not_ready_reason;
  EXPECT_EQ(source().state, "running");
  for (std::int32_t broker = 1; broker <= cluster.brokers(); ++broker) ASSERT_TRUE(cluster.set_broker_up(broker, true));
  EXPECT_TRUE(eventually([&] { return source().ready; })) << source().not_ready_reason;
  ASSERT_TRUE((*engine)->stop().ok());
}

// Message headers reach the routes: a key template can name one ({header:NAME}).
TEST(KafkaSource, MessageHeadersReachKeyTemplates) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("saas.public.customers");
  const std::string group = cluster.unique("headers");
  cluster.create_topic(topic, 1);
  cluster.produce(topic, 0, std::nullopt,
                  R"({"before":{"id":5},"after":{"id":5},"source":{"schema":"public","table":"customers"},"op":"u"})",
                  {{"tenant", "acme"}});
  cluster.flush();
  auto engine = kafka_to_memory(source_table(cluster, topic, group),
                                "table = \"public.customers\"\nkeys = [\"{header:tenant}:customer:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  sdk::Cache* cache = (*engine)->cache("cache");
  cache->put("acme:customer:5", "cached");
  cache->put("other:customer:5", "cached");
  ASSERT_TRUE((*engine)->start().ok());
  EXPECT_TRUE(eventually([&] { return (*engine)->stats().acknowledged >= 1; }));
  ASSERT_TRUE((*engine)->stop().ok());
  EXPECT_EQ(cache->get("acme:customer:5"), std::nullopt);
  EXPECT_EQ(cache->get("other:customer:5"), "cached");
}

// Lines an engine logged, for tests that look for one.
class LogLines {
 public:
  EngineBuilder& attach(EngineBuilder& builder) {
    return builder.log_to([this](sdk::LogLevel, std::string_view line) {
      std::lock_guard guard(mutex_);
      lines_.emplace_back(line);
    });
  }
  bool has(const std::string& text) {
    std::lock_guard guard(mutex_);
    return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& line) { return line.find(text) != std::string::npos; });
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

sdk::Result<std::unique_ptr<Engine>> kafka_to_memory_logged(LogLines& log, const std::string& source,
                                                            const std::string& route) {
  EngineBuilder builder;
  builder.without_plugin_files()
      .register_plugin(invalidator_static_plugin_kafka())
      .register_plugin(invalidator_static_plugin_memory())
      .config_string(source + "[sinks.cache]\ntype = \"memory\"\n[[routes]]\nfrom = [\"kafka\"]\nto = [\"cache\"]\n" + route);
  return log.attach(builder).build();
}

// Debezium creates a table's topic on its first change: a topic named in `topics` that does
// not exist yet (auto-creation off) is waited for, and read once it appears.
TEST(KafkaSource, ATopicThatDoesNotExistYetIsWaitedForAndReadOnceCreated) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("shop.public.later");
  if (!cluster.set_topic_error(topic, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)) {
    GTEST_SKIP() << "only the mock cluster can be told to refuse a topic";
  }
  LogLines log;
  auto engine = kafka_to_memory_logged(
      log,
      source_table(cluster, topic, cluster.unique("later")) +
          "[sources.kafka.librdkafka]\n\"topic.metadata.refresh.interval.ms\" = \"200\"\n",
      "table = \"public.t\"\nkeys = [\"t:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  ASSERT_TRUE(eventually([&] { return log.has("topic '" + topic + "' does not exist yet"); }));
  cluster.set_topic_error(topic, RD_KAFKA_RESP_ERR_NO_ERROR);
  cluster.create_topic(topic, 1);
  cluster.produce(topic, 0, std::nullopt,
                  R"({"before":null,"after":{"id":1},"source":{"schema":"public","table":"t"},"op":"c"})");
  cluster.flush();
  EXPECT_TRUE(eventually([&] { return (*engine)->stats().acknowledged >= 1; })) << "read once it exists";
  EXPECT_TRUE((*engine)->stop().ok()) << "never a failure";
}

// An asynchronous commit the coordinator refuses is seen, logged and sent again: the group's
// offset reaches the end although no message comes after it.
TEST(KafkaSource, ARefusedCommitIsLoggedAndCommittedAgain) {
  KafkaCluster cluster;
  if (!cluster.is_mock()) GTEST_SKIP() << "only the mock cluster can be told to refuse commits";
  const std::string topic = cluster.unique_topic("shop.public.t");
  const std::string group = cluster.unique("refused");
  cluster.create_topic(topic, 1);
  for (int id = 1; id <= 3; ++id) {
    cluster.produce(topic, 0, std::nullopt,
                    R"({"before":null,"after":{"id":)" + std::to_string(id) +
                        R"(},"source":{"schema":"public","table":"t"},"op":"c"})");
  }
  cluster.flush();
  constexpr std::int16_t kOffsetCommit = 8;  // the request's API key in the Kafka protocol
  cluster.fail_requests(kOffsetCommit, 2, RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
  LogLines log;
  auto engine = kafka_to_memory_logged(log, source_table(cluster, topic, group), "table = \"public.t\"\nkeys = [\"t:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  EXPECT_TRUE(cluster.wait_committed(group, topic, 0, 3)) << cluster.committed(group, topic, 0);
  EXPECT_TRUE(log.has("Kafka: committing offsets failed: ")) << "seen, not taken for done";
  EXPECT_TRUE(log.has("committed again at the next commit"));
  ASSERT_TRUE((*engine)->stop().ok());
}

// A failed authentication is fatal: the run ends with librdkafka's reason instead of retrying
// forever. (The mock cluster speaks no SASL, so a SASL client fails to authenticate with it.)
TEST(KafkaSource, AFailedAuthenticationEndsTheRunWithTheReason) {
  KafkaCluster cluster;
  if (!cluster.is_mock()) GTEST_SKIP() << "needs a cluster that refuses the client's SASL";
  auto engine = kafka_to_memory(source_table(cluster, "t", "sasl") +
                                    "[sources.kafka.librdkafka]\n\"security.protocol\" = \"sasl_plaintext\"\n"
                                    "\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"p\"\n",
                                "table = \"public.t\"\nkeys = [\"t:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  auto ended = (*engine)->wait();
  ASSERT_FALSE(ended.ok());
  EXPECT_NE(ended.message().find("Authentication"), std::string::npos) << ended.message();
}

using sdk::testing::RecordingEmitter;

class RecordingLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(message);
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string all;
    for (const auto& line : lines_) all += line + "\n";
    return all;
  }
  std::size_t count_starting_with(std::string_view prefix) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(lines_.begin(), lines_.end(), [&](const std::string& line) { return line.rfind(prefix, 0) == 0; }));
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A topic of `partitions` partitions, each holding `per_partition` messages valued "P:N".
void create_numbered_topic(KafkaCluster& cluster, const std::string& topic, int partitions, int per_partition) {
  cluster.create_topic(topic, partitions);
  for (int partition = 0; partition < partitions; ++partition) {
    for (int n = 0; n < per_partition; ++n) {
      cluster.produce(topic, partition, std::nullopt, std::to_string(partition) + ":" + std::to_string(n));
    }
  }
  cluster.flush();
}

// librdkafka drops its own start of a newly assigned partition when the application's pause
// or resume of that partition (even one that changes nothing) overtakes it, and the partition
// is then never read; or its own pause or resume at a rebalance. The source must pause and
// resume only partitions that are fetching. librdkafka's debug log ("debug = topic") shows
// each application call ("[thrd:app]: Pause T [P] (vN)") and the state the partition was in
// when it was carried out ("T [P] received op PAUSE (vN) in fetch-state S"): each must have
// found its partition fetching. Returns how many calls were checked.
int expect_pauses_only_while_fetching(const std::string& text) {
  const std::regex application_call(R"(\[thrd:app\]: (Pause|Resume) (\S+) \[(\d+)\] \(v(\d+)\))");
  const std::regex carried_out(R"((\S+) \[(\d+)\] received (?:outdated )?op PAUSE \(v(\d+)\) in fetch-state (\S+) )");
  std::map<std::tuple<std::string, std::string, std::string>, std::string> state_of;  // topic, partition, version
  for (auto it = std::sregex_iterator(text.begin(), text.end(), carried_out); it != std::sregex_iterator(); ++it) {
    state_of[{(*it)[1], (*it)[2], (*it)[3]}] = (*it)[4];
  }
  int checked = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), application_call); it != std::sregex_iterator(); ++it) {
    auto found = state_of.find({(*it)[2], (*it)[3], (*it)[4]});
    if (found == state_of.end()) continue;  // not carried out before the consumer closed
    ++checked;
    EXPECT_EQ(found->second, "active") << (*it)[1] << " of partition " << (*it)[3] << " (v" << (*it)[4]
                                         << ") carried out while the partition was not fetching";
  }
  return checked;
}

// A consumer's partitions are revoked while it holds messages it read but could not hand
// over (the pipeline was full, the partitions paused). Those messages belong to the
// partitions' next owner, which reads them again from the committed offset, and that owner
// may be this same consumer: none of them may be handed over after the revoke. Otherwise a
// partition's stream would go back (the message, then the same offset read again). Nor may
// anything be handed over on a stream of an assignment that was revoked.
//
// The topic has one partition. A second member joins (one of the two gets the partition),
// then leaves, while the pipeline stays full: the first member hands over nothing between
// the two rebalances, and at the end it owns again the partition it last handed a message of.
TEST(KafkaSource, MessagesHeldAcrossARevokeAreNotHandedOver) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("held.public.customers");
  const std::string group = cluster.unique("held");
  constexpr int kPartitions = 1;
  constexpr int kPerPartition = 20;
  create_numbered_topic(cluster, topic, kPartitions, kPerPartition);

  // The group notices members coming and going within seconds, as in the rebalance tests.
  const std::vector<std::pair<std::string, std::string>> group_timing{{"session.timeout.ms", "6000"},
                                                                      {"heartbeat.interval.ms", "500"}};
  sdk::Config config;
  config.set("brokers", cluster.bootstrap());
  config.set("topics", std::vector<std::string>{topic});
  config.set("group_id", group);
  config.set("commit_interval", std::chrono::milliseconds(100));
  config.set("revoke_timeout", std::chrono::milliseconds(5000));
  auto settings = std::map<std::string, std::string>(group_timing.begin(), group_timing.end());
  settings["debug"] = "topic";
  config.set("librdkafka", settings);
  RecordingLogger logger;
  auto created = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{"kafka", &logger});
  ASSERT_TRUE(created) << created.error();
  sdk::Source& source = **created;
  constexpr std::size_t kRoom = 3;
  RecordingEmitter emitter(kRoom);
  emitter.acknowledge_with(&source);
  std::jthread running([&](std::stop_token stop) { EXPECT_TRUE(source.run(emitter, stop).ok()); });

  ASSERT_TRUE(eventually([&] { return emitter.emitted().size() == kRoom; }));
  // The source offers at once, then waits 500 ms for room, then pauses and keeps the message
  // it could not hand over, offering it again between polls: a third offer means it paused.
  ASSERT_TRUE(eventually([&] { return emitter.full_waits() >= 3; }));

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto other_settings = group_timing;
  other_settings.insert(other_settings.end(), {{"bootstrap.servers", cluster.bootstrap()},
                                               {"group.id", group},
                                               {"enable.auto.commit", "false"},
                                               {"auto.offset.reset", "earliest"}});
  for (const auto& [name, value] : other_settings) {
    ASSERT_EQ(rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error), RD_KAFKA_CONF_OK) << error;
  }
  rd_kafka_t* other = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  ASSERT_NE(other, nullptr) << error;
  rd_kafka_poll_set_consumer(other);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(other, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  std::jthread other_polling([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      if (rd_kafka_message_t* message = rd_kafka_consumer_poll(other, 50)) rd_kafka_message_destroy(message);
    }
  });
  ASSERT_TRUE(eventually([&] {
    return logger.count_starting_with("released") >= 1 && logger.count_starting_with("assigned") >= 2;
  })) << "the group did not rebalance when the second member joined: " << logger.text();
  other_polling.request_stop();
  other_polling.join();
  rd_kafka_consumer_close(other);
  rd_kafka_destroy(other);
  ASSERT_TRUE(eventually([&] {
    return logger.count_starting_with("released") >= 2 && logger.count_starting_with("assigned") >= 3;
  })) << "the group did not rebalance when the second member left: " << logger.text();
  EXPECT_EQ(emitter.emitted().size(), kRoom) << "handed over while the pipeline was full";

  emitter.open();
  auto read_to_the_end = [&] {
    auto emitted = emitter.emitted();
    std::set<std::string> values;
    for (const auto& message : emitted) values.insert(message.value);
    for (int partition = 0; partition < kPartitions; ++partition) {
      for (int n = 0; n < kPerPartition; ++n) {
        if (values.count(std::to_string(partition) + ":" + std::to_string(n)) == 0) return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(eventually(read_to_the_end)) << "a message was never handed over";
  running.request_stop();
  running.join();

  auto emitted = emitter.emitted();
  // The first kRoom were acknowledged, and committed when the partition was released; the one
  // held was dropped, not handed over; the partition's next owner (this source again) read on
  // from the commit: every message exactly once.
  EXPECT_EQ(emitted.size(), static_cast<std::size_t>(kPartitions * kPerPartition));
  std::set<std::uint64_t> streams_before_revoke;
  for (std::size_t i = 0; i < kRoom; ++i) streams_before_revoke.insert(emitted[i].position.stream);
  std::map<std::uint64_t, std::uint64_t> next_offset;
  for (std::size_t i = 0; i < emitted.size(); ++i) {
    const auto& message = emitted[i];
    auto [previous, first] = next_offset.try_emplace(message.position.stream, message.position.offset);
    EXPECT_TRUE(first || message.position.offset >= previous->second)
        << "stream " << message.position.stream << " went back to offset " << message.position.offset << " ("
        << message.value << ")";
    previous->second = message.position.offset + 1;
    if (i >= kRoom) {
      EXPECT_EQ(streams_before_revoke.count(message.position.stream), 0u)
          << message.value << " handed over on a stream of the assignment before the revoke";
    }
  }
  expect_pauses_only_while_fetching(logger.text());
}

// The pipeline is full from the first messages on, while the partitions are being started:
// every pause and resume must find its partition fetching.
TEST(KafkaSource, PartitionsArePausedAndResumedOnlyOnceTheyAreFetching) {
  KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("starting.public.customers");
  const std::string group = cluster.unique("starting");
  constexpr int kPartitions = 8;
  constexpr int kPerPartition = 20;
  create_numbered_topic(cluster, topic, kPartitions, kPerPartition);

  sdk::Config config;
  config.set("brokers", cluster.bootstrap());
  config.set("topics", std::vector<std::string>{topic});
  config.set("group_id", group);
  config.set("commit_interval", std::chrono::milliseconds(100));
  config.set("librdkafka", std::map<std::string, std::string>{{"debug", "topic"}});
  RecordingLogger logger;
  auto created = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{"kafka", &logger});
  ASSERT_TRUE(created) << created.error();
  sdk::Source& source = **created;
  RecordingEmitter emitter(2);
  emitter.acknowledge_with(&source);
  std::jthread running([&](std::stop_token stop) { EXPECT_TRUE(source.run(emitter, stop).ok()); });

  ASSERT_TRUE(eventually([&] { return emitter.emitted().size() == 2; }));
  // The source offers at once, waits 500 ms for room, then pauses: a third offer means it paused.
  ASSERT_TRUE(eventually([&] { return emitter.full_waits() >= 3; }));
  emitter.open();
  ASSERT_TRUE(eventually([&] { return emitter.emitted().size() >= kPartitions * kPerPartition; }))
      << "not every message was handed over: " << emitter.emitted().size();
  running.request_stop();
  running.join();

  EXPECT_GT(expect_pauses_only_while_fetching(logger.text()), 0)
      << "the source never paused: the test did not test anything. librdkafka's log:\n" << logger.text();
}

TEST(KafkaSource, ABadLibrdkafkaSettingIsRefusedWithLibrdkafkasMessage) {
  sdk::Config config;
  config.set("brokers", std::string("127.0.0.1:9"));
  config.set("topics", std::vector<std::string>{"t"});
  config.set("librdkafka", std::map<std::string, std::string>{{"fetch.wait.max.ms", "soon"}});
  auto created = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("librdkafka.fetch.wait.max.ms"), std::string::npos) << created.error();

  config.set("librdkafka", std::map<std::string, std::string>{{"enable.auto.commit", "true"}});
  auto owned = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{});
  ASSERT_FALSE(owned);
  EXPECT_NE(owned.error().find("set by the source itself"), std::string::npos) << owned.error();
  config.set("librdkafka", std::map<std::string, std::string>{{"group.instance.id", "a"}});
  auto instance = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{});
  ASSERT_FALSE(instance);
  EXPECT_NE(instance.error().find("instance_id"), std::string::npos) << "names the option to use: " << instance.error();

  if (rd_kafka_version() < 0x020300ff) {
    config.set("librdkafka", std::map<std::string, std::string>{{"partition.assignment.strategy", "cooperative-sticky"}});
    auto cooperative = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{});
    ASSERT_FALSE(cooperative) << "this librdkafka aborts such a consumer when it closes before its first assignment";
    EXPECT_NE(cooperative.error().find("2.3.0"), std::string::npos) << cooperative.error();
  }
}

// The SDK's source conformance suite over a topic of four partitions of the mock cluster
// (or $KAFKA_BROKERS): each harness its own topic and consumer group.
class KafkaHarness final : public sdk::testing::SourceHarness {
 public:
  KafkaHarness() : topic_(cluster_.unique_topic("conformance")), group_(cluster_.unique("conformance")) {
    cluster_.create_topic(topic_, 4);
  }
  std::unique_ptr<sdk::Source> make_source() override {
    sdk::Config config;
    config.set("brokers", cluster_.bootstrap());
    config.set("topics", std::vector<std::string>{topic_});
    config.set("group_id", group_);
    config.set("commit_interval", std::chrono::milliseconds(100));
    // What is in flight at a stop is not waited for: the next instance reads it again.
    config.set("revoke_timeout", std::chrono::milliseconds(100));
    config.set("librdkafka", std::map<std::string, std::string>{{"session.timeout.ms", "6000"},
                                                                 {"heartbeat.interval.ms", "500"}});
    auto created = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{"kafka", nullptr});
    EXPECT_TRUE(created) << created.error();
    return created ? std::move(created).value() : nullptr;
  }
  void produce(const std::vector<std::string>& values) override {
    // Spread over the partitions by key, as Debezium's record keys spread rows.
    for (std::size_t i = 0; i < values.size(); ++i) {
      cluster_.produce(topic_, static_cast<std::int32_t>(i % 4), "{\"id\":" + std::to_string(i) + "}", values[i]);
    }
    cluster_.flush();
  }

 private:
  KafkaCluster cluster_;
  std::string topic_;
  std::string group_;
};

}  // namespace
}  // namespace invalidator::plugins

namespace invalidator::plugins {
using sdk::testing::SourceConformance;
INSTANTIATE_TEST_SUITE_P(Kafka, SourceConformance,
                         ::testing::Values(sdk::testing::SourceConformanceParam{
                             "kafka", [] { return std::make_unique<KafkaHarness>(); }}),
                         sdk::testing::source_conformance_name);
}  // namespace invalidator::plugins
