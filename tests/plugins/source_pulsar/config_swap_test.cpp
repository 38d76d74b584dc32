// "Swap Kafka for Pulsar by editing one table": configs/debezium-kafka-redis.toml and
// configs/debezium-pulsar-redis.toml are the same file but for [sources.cdc], and the same
// Debezium events, read from Kafka (librdkafka's mock cluster, or KAFKA_BROKERS) or from Pulsar
// (the test broker, or PULSAR_URL), leave Redis (a real server on loopback) the same.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "support/kafka_cluster.hpp"
#include "support/local_server.hpp"
#include "support/pulsar_producer.hpp"
#include "support/pulsar_target.hpp"
#include "support/redis_client.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(kafka);
INVALIDATOR_DECLARE_STATIC_PLUGIN(pulsar);
INVALIDATOR_DECLARE_STATIC_PLUGIN(redis);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

const std::filesystem::path kKafkaConfig = std::filesystem::path(INVALIDATOR_SOURCE_DIR) / "configs/debezium-kafka-redis.toml";
const std::filesystem::path kPulsarConfig =
    std::filesystem::path(INVALIDATOR_SOURCE_DIR) / "configs/debezium-pulsar-redis.toml";

// The file's text from its first table on, without the [sources.cdc] table: what the two
// files must share.
std::string without_source_table(const std::filesystem::path& path) {
  std::istringstream in(testing::read_file(path));
  std::string out;
  bool started = false;
  bool in_source = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '[') {
      started = true;
      in_source = line == "[sources.cdc]";
    }
    if (started && !in_source) out += line + "\n";
  }
  return out;
}

TEST(ConfigSwap, TheKafkaAndPulsarConfigurationsDifferOnlyInTheSourceTable) {
  toml::table kafka = toml::parse_file(kKafkaConfig.string());
  toml::table pulsar = toml::parse_file(kPulsarConfig.string());
  ASSERT_TRUE(kafka["sources"]["cdc"].is_table());
  ASSERT_TRUE(pulsar["sources"]["cdc"].is_table());
  EXPECT_EQ(kafka["sources"].as_table()->size(), 1u);
  EXPECT_EQ(pulsar["sources"].as_table()->size(), 1u);
  EXPECT_EQ(kafka["sources"]["cdc"]["type"].value_or(std::string()), "kafka");
  EXPECT_EQ(pulsar["sources"]["cdc"]["type"].value_or(std::string()), "pulsar");
  kafka.erase("sources");
  pulsar.erase("sources");
  std::ostringstream kafka_rest;
  std::ostringstream pulsar_rest;
  kafka_rest << kafka;
  pulsar_rest << pulsar;
  EXPECT_EQ(kafka_rest.str(), pulsar_rest.str()) << "the files differ beyond [sources.cdc]";
  // The same text too, comments included, from the first table on.
  EXPECT_EQ(without_source_table(kKafkaConfig), without_source_table(kPulsarConfig));
}

// Debezium's messages (no schema) for public.customers, each with its record key.
struct Change {
  std::string key;
  std::string value;
};

std::string customer(int id, const std::string& first, const std::string& email, const std::string& login) {
  return R"({"id":)" + std::to_string(id) + R"(,"first_name":")" + first + R"(","last_name":"Doe","email":")" + email +
         R"(","last_login":")" + login + R"("})";
}

std::vector<Change> scenario() {
  auto change = [](int id, const std::string& op, const std::string& before, const std::string& after, int lsn) {
    return Change{R"({"id":)" + std::to_string(id) + "}",
                  R"({"before":)" + before + R"(,"after":)" + after +
                      R"(,"source":{"connector":"postgresql","name":"dbserver1","db":"shop","schema":"public","table":"customers","lsn":)" +
                      std::to_string(lsn) + R"(,"ts_ms":1700000000000},"op":")" + op + R"(","ts_ms":1700000000001})"};
  };
  return {
      change(1, "u", customer(1, "Ann", "a@x", "mon"), customer(1, "Anne", "a@x", "mon"), 100),  // a shown field
      change(2, "u", customer(2, "Bob", "b@x", "mon"), customer(2, "Bob", "b@y", "mon"), 200),   // the email itself
      change(3, "u", customer(3, "Cid", "c@x", "mon"), customer(3, "Cid", "c@x", "tue"), 300),   // a login: nothing
      change(4, "d", customer(4, "Dee", "d@x", "mon"), "null", 400),                             // a delete
      change(5, "c", "null", customer(5, "Eve", "e@x", "mon"), 500),                             // an insert: nothing
  };
}

const std::vector<std::string> kCandidateKeys{"customer:1",          "customer:2",          "customer:3",
                                              "customer:4",          "customer:5",          "customer:email:a@x",
                                              "customer:email:b@x",  "customer:email:b@y",  "customer:email:c@x",
                                              "customer:email:d@x",  "customer:email:e@x"};

// Runs `config` over the scenario, produced by `produce`; the candidate keys left in Redis.
std::set<std::string> keys_left(const std::filesystem::path& config, int redis_port, const std::function<void()>& produce) {
  testing::RedisClient redis(redis_port);
  redis.command({"FLUSHALL"});
  redis.set_many(kCandidateKeys, "cached");
  auto engine = EngineBuilder()
                    .without_plugin_files()
                    .register_plugin(invalidator_static_plugin_kafka())
                    .register_plugin(invalidator_static_plugin_pulsar())
                    .register_plugin(invalidator_static_plugin_redis())
                    .config_file(config)
                    .build();
  EXPECT_TRUE(engine) << engine.error();
  if (!engine) return {};
  EXPECT_TRUE((*engine)->start().ok());
  produce();
  const std::uint64_t messages = scenario().size();
  EXPECT_TRUE(eventually([&] { return (*engine)->stats().acknowledged >= messages; }, 60s))
      << config << ": " << (*engine)->stats().acknowledged << " of " << messages << " acknowledged";
  EXPECT_TRUE((*engine)->stop().ok());
  std::set<std::string> left;
  for (const auto& key : kCandidateKeys) {
    if (redis.get(key) == "cached") left.insert(key);
  }
  return left;
}

class ScopedEnvironment {
 public:
  void set(const std::string& name, const std::string& value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    for (auto at = saved_.rbegin(); at != saved_.rend(); ++at) {
      if (at->second) {
        setenv(at->first.c_str(), at->second->c_str(), 1);
      } else {
        unsetenv(at->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(ConfigSwap, BothConfigurationsLeaveRedisTheSameForTheSameEvents) {
  auto redis = testing::LocalServer::start_for_test("redis");
  ASSERT_NE(redis, nullptr);
  testing::KafkaCluster cluster(1);
  testing::PulsarTarget pulsar;
  testing::TempDir state;
  ScopedEnvironment environment;
  environment.set("REDIS_URL", redis->address());
  environment.set("KAFKA_BROKERS", cluster.bootstrap());
  environment.set("PULSAR_URL", pulsar.url());
  environment.set("INVALIDATOR_DEAD_LETTER", (state.path() / "dead-letter.jsonl").string());
  const std::string topic = "dbserver1.public.customers";

  cluster.create_topic(topic, 1);
  const auto from_kafka = keys_left(kKafkaConfig, redis->port(), [&] {
    for (const auto& change : scenario()) cluster.produce(topic, 0, change.key, change.value);
    cluster.flush();
  });

  testing::create_pulsar_subscription(pulsar.url(), topic, "invalidator-customers");
  const auto from_pulsar = keys_left(kPulsarConfig, redis->port(), [&] {
    testing::PulsarProducer producer(pulsar.url(), topic);
    for (const auto& change : scenario()) producer.send(change.value, change.key);
  });

  const std::set<std::string> expected{"customer:3", "customer:5", "customer:email:c@x", "customer:email:e@x"};
  EXPECT_EQ(from_kafka, expected) << "the Kafka configuration";
  EXPECT_EQ(from_pulsar, from_kafka) << "the Pulsar configuration left Redis otherwise than the Kafka one";
}

}  // namespace
}  // namespace invalidator::plugins
