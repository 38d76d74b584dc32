#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "support/kafka_cluster.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(kafka);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::fixture;
using testing::KafkaCluster;

// Waits (bounded) until `done` holds.
template <typename Condition>
bool eventually(Condition done, std::chrono::seconds limit = 60s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

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
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation>) override {
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
  std::this_thread::sleep_for(500ms);  // five commit intervals
  EXPECT_EQ(cluster.committed(group, topic, 0), 3) << "committed past undelivered events";

  healthy = true;
  EXPECT_TRUE(cluster.wait_committed(group, topic, 0, 6)) << cluster.committed(group, topic, 0);
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

// A topic that does not exist (auto-creation off) is fatal: the engine ends with the reason.
TEST(KafkaSource, AnUnknownTopicEndsTheRunWithTheReason) {
  KafkaCluster cluster;
  if (!cluster.set_topic_error("no.such.topic", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)) {
    GTEST_SKIP() << "only the mock cluster can be told to refuse a topic";
  }
  auto engine = kafka_to_memory(source_table(cluster, "no.such.topic", "unknown"),
                                "table = \"public.t\"\nkeys = [\"t:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start().ok());
  auto ended = (*engine)->wait();
  ASSERT_FALSE(ended.ok()) << "an unknown topic must end the run";
  EXPECT_NE(ended.message().find("no.such.topic"), std::string::npos) << ended.message();
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

  if (rd_kafka_version() < 0x020300ff) {
    config.set("librdkafka", std::map<std::string, std::string>{{"partition.assignment.strategy", "cooperative-sticky"}});
    auto cooperative = invalidator_static_plugin_kafka().create_source(config, sdk::PluginContext{});
    ASSERT_FALSE(cooperative) << "this librdkafka aborts such a consumer when it closes before its first assignment";
    EXPECT_NE(cooperative.error().find("2.3.0"), std::string::npos) << cooperative.error();
  }
}

}  // namespace
}  // namespace invalidator::plugins
