// One configuration's routes behind either source: PostgreSQL's logical replication read
// directly, or Debezium's events of the same changes read from Kafka (librdkafka's mock
// cluster, or KAFKA_BROKERS). Only the [sources.shop] table differs; the keys invalidated
// must be the same.
#include <gtest/gtest.h>

#include <set>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "support/kafka_cluster.hpp"
#include "support/local_server.hpp"
#include "support/postgres_client.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(postgres);
INVALIDATOR_DECLARE_STATIC_PLUGIN(kafka);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

const char* const kRoutes = R"(
[sinks.cache]
type = "memory"

[[routes]]
from = ["shop"]
table = "public.customers"
ops = ["insert", "update", "delete"]
changed = ["name", "email", "address"]
keys = ["customer:{id}", "customer:by-email:{email}"]
to = ["cache"]
)";

// Every key the routes could produce for the rows of the scenario, cached before it runs.
const std::vector<std::string> kCandidateKeys{
    "customer:1",        "customer:2",        "customer:3",        "customer:33",       "customer:4",
    "customer:by-email:a@x", "customer:by-email:a@y", "customer:by-email:b@x", "customer:by-email:c@x",
    "customer:by-email:d@x"};

// The keys an engine of `source` + kRoutes invalidated while `produce` made its changes.
std::set<std::string> invalidated_keys(const std::string& source, const std::function<void()>& produce,
                                       std::size_t expected) {
  auto engine = EngineBuilder()
                    .without_plugin_files()
                    .register_plugin(invalidator_static_plugin_postgres())
                    .register_plugin(invalidator_static_plugin_kafka())
                    .register_plugin(invalidator_static_plugin_memory())
                    .config_string(source + kRoutes)
                    .build();
  EXPECT_TRUE(engine) << engine.error();
  if (!engine) return {};
  sdk::Cache* cache = (*engine)->cache("cache");
  for (const auto& key : kCandidateKeys) cache->put(key, "cached");
  EXPECT_TRUE((*engine)->start().ok());
  produce();
  auto gone = [&] {
    std::set<std::string> keys;
    for (const auto& key : kCandidateKeys) {
      if (!cache->get(key)) keys.insert(key);
    }
    return keys;
  };
  EXPECT_TRUE(eventually([&] { return gone().size() >= expected; }, 60s)) << gone().size() << " keys invalidated";
  std::this_thread::sleep_for(300ms);  // anything more would show now
  EXPECT_TRUE((*engine)->stop().ok());
  return gone();
}

TEST(SameRoutes, PostgresAndDebeziumOverKafkaInvalidateTheSameKeys) {
  const std::set<std::string> expected{"customer:1",           "customer:by-email:a@x", "customer:by-email:a@y",
                                       "customer:3",           "customer:33",           "customer:by-email:c@x",
                                       "customer:4",           "customer:by-email:d@x"};

  // PostgreSQL: the changes made for real, read from a slot.
  auto postgres = testing::LocalServer::start_for_test("postgres");
  ASSERT_NE(postgres, nullptr);
  testing::PostgresClient sql(postgres->address());
  sql.run("CREATE TABLE customers (id int PRIMARY KEY, name text, email text, address text, last_login bigint)");
  sql.run("ALTER TABLE customers REPLICA IDENTITY FULL");
  sql.run("INSERT INTO customers VALUES (2, 'Bob', 'b@x', 'Elm St', 0), (3, 'Cy', 'c@x', 'Oak St', 0), "
          "(4, 'Di', 'd@x', 'Ash St', 0)");
  auto from_postgres = invalidated_keys(
      "[sources.shop]\ntype = \"postgres\"\ndsn = \"" + postgres->address() +
          "\"\ncreate_publication = true\ntables = [\"public.customers\"]\n",
      [&] {
        // The slot is made when the source starts: wait for it before changing anything.
        ASSERT_TRUE(eventually(
            [&] { return sql.value("SELECT active FROM pg_replication_slots WHERE slot_name = 'invalidator'") == "t"; },
            30s));
        sql.run("INSERT INTO customers VALUES (1, 'Ann', 'a@x', 'Main St', 0)");
        sql.run("UPDATE customers SET email = 'a@y' WHERE id = 1");
        sql.run("UPDATE customers SET last_login = 1700000000 WHERE id = 2");
        sql.run("UPDATE customers SET id = 33 WHERE id = 3");
        sql.run("DELETE FROM customers WHERE id = 4");
      },
      expected.size());
  EXPECT_EQ(from_postgres, expected);

  // Kafka: Debezium's messages for the same changes (REPLICA IDENTITY FULL: whole before rows).
  testing::KafkaCluster cluster;
  const std::string topic = cluster.unique_topic("shop.public.customers");
  cluster.create_topic(topic, 1);
  auto row = [](int id, const char* name, const char* email, const char* address, long long login) {
    return "{\"id\":" + std::to_string(id) + ",\"name\":\"" + name + "\",\"email\":\"" + email + "\",\"address\":\"" +
           address + "\",\"last_login\":" + std::to_string(login) + "}";
  };
  auto message = [&](int key, const std::string& op, const std::string& before, const std::string& after, int lsn) {
    cluster.produce(topic, 0, "{\"id\":" + std::to_string(key) + "}",
                    "{\"before\":" + before + ",\"after\":" + after +
                        ",\"source\":{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":"
                        "\"customers\",\"lsn\":" + std::to_string(lsn) + "},\"op\":\"" + op + "\",\"ts_ms\":1}");
  };
  auto from_kafka = invalidated_keys(
      "[sources.shop]\ntype = \"kafka\"\nbrokers = \"" + cluster.bootstrap() + "\"\ntopics = [\"" + topic +
          "\"]\ngroup_id = \"" + cluster.unique("same-routes") + "\"\n",
      [&] {
        message(1, "c", "null", row(1, "Ann", "a@x", "Main St", 0), 1);
        message(1, "u", row(1, "Ann", "a@x", "Main St", 0), row(1, "Ann", "a@y", "Main St", 0), 2);
        message(2, "u", row(2, "Bob", "b@x", "Elm St", 0), row(2, "Bob", "b@x", "Elm St", 1700000000), 3);
        // Debezium turns a primary key change into a delete of the old row and a create of the
        // new one; pgoutput sends an update with both: the routes name both ops.
        message(3, "d", row(3, "Cy", "c@x", "Oak St", 0), "null", 4);
        message(33, "c", "null", row(33, "Cy", "c@x", "Oak St", 0), 4);
        message(4, "d", row(4, "Di", "d@x", "Ash St", 0), "null", 5);
        cluster.flush();
      },
      expected.size());
  EXPECT_EQ(from_kafka, expected) << "the Debezium path";
}

}  // namespace
}  // namespace invalidator::plugins
