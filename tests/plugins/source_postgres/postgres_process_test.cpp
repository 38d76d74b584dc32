// The PostgreSQL source inside real `invalidator run` processes, against a real PostgreSQL 15
// and a real redis-server: every key the changes touch is cached in Redis first, so "nothing
// missed" means Redis is empty at the end, whatever happened in between.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "support/local_server.hpp"
#include "support/postgres_client.hpp"
#include "support/redis_client.hpp"
#include "support/test_support.hpp"

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::LocalServer;
using testing::PostgresClient;
using testing::RedisClient;

class PostgresProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    postgres_ = LocalServer::start_for_test("postgres");
    redis_ = LocalServer::start_for_test("redis");
    ASSERT_NE(postgres_, nullptr);
    ASSERT_NE(redis_, nullptr);
    PostgresClient sql(postgres_->address());
    sql.run("CREATE TABLE customers (id int PRIMARY KEY, email text)");
    sql.run("INSERT INTO customers SELECT g, 'a@x' FROM generate_series(1, " + std::to_string(kRows) + ") g");
    sql.run("CREATE PUBLICATION invalidator FOR TABLE customers");
    // Made before the changes, so that the first process has them all to read.
    sql.value("SELECT lsn FROM pg_create_logical_replication_slot('invalidator', 'pgoutput')");
    testing::write_file(config_,
                        "[engine]\nshutdown_timeout = \"30s\"\nstate_dir = \"" + (dir_ / "state").string() + "\"\n"
                        "[sources.shop]\ntype = \"postgres\"\ndsn = \"" + postgres_->address() + "\"\n"
                        "status_interval = \"200ms\"\nconnect_timeout = \"2s\"\n"
                        "[sinks.cache]\ntype = \"redis\"\nurl = \"" + redis_->address() + "\"\n"
                        "[sinks.cache.retry]\ninitial_backoff = \"20ms\"\nmax_backoff = \"500ms\"\n"
                        "[[routes]]\nfrom = [\"shop\"]\ntable = \"public.customers\"\n"
                        "keys = [\"customer:{id}\"]\nto = [\"cache\"]\n");
  }

  // Updates rows [from, to] in transactions of `per_transaction` rows, and caches their keys.
  void update_rows(int from, int to, int per_transaction) {
    std::vector<std::string> keys;
    for (int id = from; id <= to; ++id) keys.push_back("customer:" + std::to_string(id));
    RedisClient(redis_->port()).set_many(keys, "cached");
    PostgresClient sql(postgres_->address());
    for (int first = from; first <= to; first += per_transaction) {
      const int last = std::min(to, first + per_transaction - 1);
      sql.run("UPDATE customers SET email = 'b@x' WHERE id BETWEEN " + std::to_string(first) + " AND " +
              std::to_string(last));
    }
  }

  long long keys_left() { return testing::redis_keys_left(redis_->port()); }
  bool wait_until_fewer_than(long long below, std::chrono::seconds limit = 120s) {
    return testing::wait_until_fewer_keys_than(redis_->port(), below, limit);
  }

  static constexpr int kRows = 100'000;
  std::unique_ptr<LocalServer> postgres_;
  std::unique_ptr<LocalServer> redis_;
  testing::TempDir dir_;
  const std::filesystem::path config_ = dir_ / "pipeline.toml";
};

// At-least-once across a crash: SIGKILL in the middle of the stream, then a new process on the
// same slot. Every changed key must be gone (duplicates allowed, none missing).
TEST_F(PostgresProcessTest, AKilledProcessIsRestartedAndEveryChangedKeyIsInvalidated) {
  update_rows(1, kRows, 200);
  pid_t first = testing::spawn_invalidator_run(config_.string(), dir_ / "first.log");
  ASSERT_TRUE(wait_until_fewer_than(kRows * 8 / 10)) << testing::read_file(dir_ / "first.log");
  ::kill(first, SIGKILL);
  testing::wait_for_exit(first);
  const long long left_at_kill = keys_left();
  EXPECT_GT(left_at_kill, 0) << "the stream ended before the kill; make it longer";

  pid_t second = testing::spawn_invalidator_run(config_.string(), dir_ / "second.log");
  EXPECT_TRUE(wait_until_fewer_than(1)) << keys_left() << " keys left; " << testing::read_file(dir_ / "second.log");
  ::kill(second, SIGTERM);
  EXPECT_EQ(testing::wait_for_exit(second), 0) << testing::read_file(dir_ / "second.log");
  EXPECT_EQ(keys_left(), 0);
}

// The server restarts under a running process: the engine runs the source again, which
// resumes from the slot; changes from before and after the restart are all invalidated.
TEST_F(PostgresProcessTest, AServerRestartMidStreamMissesNothing) {
  pid_t process = testing::spawn_invalidator_run(config_.string(), dir_ / "run.log");
  update_rows(1, 20'000, 100);
  ASSERT_TRUE(postgres_->start_again());
  update_rows(20'001, 40'000, 100);
  EXPECT_TRUE(wait_until_fewer_than(1)) << keys_left() << " keys left; " << testing::read_file(dir_ / "run.log");
  ::kill(process, SIGTERM);
  EXPECT_EQ(testing::wait_for_exit(process), 0) << testing::read_file(dir_ / "run.log");
  const std::string log = testing::read_file(dir_ / "run.log");
  EXPECT_NE(log.find("PostgreSQL"), std::string::npos) << "the lost connection is logged:\n" << log;
  // A clean stop confirms everything acknowledged: the slot has no change left to send.
  PostgresClient sql(postgres_->address());
  EXPECT_EQ(sql.value("SELECT count(*) FROM pg_logical_slot_peek_binary_changes('invalidator', NULL, NULL, "
                      "'proto_version', '1', 'publication_names', 'invalidator')"),
            "0");
}

}  // namespace
}  // namespace invalidator::plugins
