// The Pulsar source inside real `invalidator run` processes, against the test broker (or
// PULSAR_URL) and a real redis-server: every key of the stream is pre-populated in Redis, so
// "nothing missed" means Redis is empty at the end, whatever happened in between.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "support/local_server.hpp"
#include "support/pulsar_producer.hpp"
#include "support/pulsar_target.hpp"
#include "support/redis_client.hpp"
#include "support/test_support.hpp"

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using testing::LocalServer;
using testing::RedisClient;

class PulsarProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = LocalServer::start_for_test("redis");
    ASSERT_NE(redis_, nullptr);
    testing::create_pulsar_subscription(pulsar_.url(), topic_, "invalidator");
  }

  // Publishes `count` update events keyed by id (as Debezium Server keys them) and caches
  // every key.
  void produce_stream(int count) {
    RedisClient client(redis_->port());
    std::vector<std::string> keys;
    std::vector<std::pair<std::optional<std::string>, std::string>> messages;
    for (int id = 1; id <= count; ++id) {
      keys.push_back("customer:" + std::to_string(id));
      messages.emplace_back(R"({"id":)" + std::to_string(id) + "}",
                            R"({"before":{"id":)" + std::to_string(id) + R"(,"email":"a@x"},"after":{"id":)" +
                                std::to_string(id) + R"(,"email":"b@x"},"source":{"schema":"public","table":"customers","lsn":)" +
                                std::to_string(id) + R"(},"op":"u"})");
    }
    client.set_many(keys, "cached");
    testing::PulsarProducer(pulsar_.url(), topic_).send_all(messages);
  }

  std::string write_config() {
    auto path = dir_ / "pipeline.toml";
    testing::write_file(path,
                        "[engine]\nshutdown_timeout = \"30s\"\n"
                        "[sources.pulsar]\ntype = \"pulsar\"\nurl = \"" + pulsar_.url() + "\"\n"
                        "topics = [\"" + topic_ + "\"]\nmax_reconnect_backoff = \"500ms\"\n"
                        "[sinks.cache]\ntype = \"redis\"\nurl = \"" + redis_->address() + "\"\n"
                        "[sinks.cache.retry]\ninitial_backoff = \"20ms\"\nmax_backoff = \"500ms\"\n"
                        "[[routes]]\nfrom = [\"pulsar\"]\ntable = \"public.customers\"\n"
                        "keys = [\"customer:{id}\"]\nto = [\"cache\"]\n");
    return path.string();
  }

  long long keys_left() { return testing::redis_keys_left(redis_->port()); }
  bool wait_until_fewer_than(long long below, std::chrono::seconds limit = 120s) {
    return testing::wait_until_fewer_keys_than(redis_->port(), below, limit);
  }

  testing::PulsarTarget pulsar_;
  std::unique_ptr<LocalServer> redis_;
  testing::TempDir dir_;
  const std::string topic_ = pulsar_.unique_topic("shop.public.customers");
};

// At-least-once across a crash: SIGKILL in the middle of the stream, then a new process on
// the same subscription. Every key must be gone (duplicates allowed, none missing).
TEST_F(PulsarProcessTest, AKilledConsumerIsReplacedAndNothingIsMissed) {
  constexpr int kEvents = 50'000;
  produce_stream(kEvents);
  std::string config = write_config();
  pid_t first = testing::spawn_invalidator_run(config, dir_ / "first.log");
  ASSERT_TRUE(wait_until_fewer_than(kEvents * 8 / 10)) << testing::read_file(dir_ / "first.log");
  ::kill(first, SIGKILL);
  testing::wait_for_exit(first);
  EXPECT_GT(keys_left(), 0) << "the stream ended before the kill; make it longer";

  pid_t second = testing::spawn_invalidator_run(config, dir_ / "second.log");
  EXPECT_TRUE(wait_until_fewer_than(1)) << keys_left() << " keys left; " << testing::read_file(dir_ / "second.log");
  ::kill(second, SIGTERM);
  EXPECT_EQ(testing::wait_for_exit(second), 0) << testing::read_file(dir_ / "second.log");
  EXPECT_EQ(keys_left(), 0);
  if (auto* broker = pulsar_.broker()) {
    const auto stats = broker->stats(topic_, "invalidator");
    EXPECT_EQ(stats.acknowledged, static_cast<std::size_t>(kEvents))
        << "every message acknowledged at the broker; delivered " << stats.delivered << ", acknowledgement frames "
        << stats.acknowledge_frames << ", permit frames " << stats.permit_frames << "; "
        << testing::read_file(dir_ / "second.log");
    EXPECT_EQ(stats.waiting + stats.unacknowledged, 0u);
  }
}

// The broker goes down mid-stream and comes back: the process reconnects, resumes, misses
// nothing, and never exits on it.
TEST_F(PulsarProcessTest, ABrokerDownAndUpAgainMissesNothing) {
  INVALIDATOR_NEEDS_TEST_BROKER(pulsar_);
  constexpr int kEvents = 50'000;
  produce_stream(kEvents);
  std::string config = write_config();
  pid_t child = testing::spawn_invalidator_run(config, dir_ / "run.log");
  ASSERT_TRUE(wait_until_fewer_than(kEvents * 9 / 10)) << testing::read_file(dir_ / "run.log");
  pulsar_.broker()->go_down();
  std::this_thread::sleep_for(2s);
  EXPECT_GT(keys_left(), 0) << "the stream ended before the outage";
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), 0) << "the process exited during the outage";
  pulsar_.broker()->come_up();
  EXPECT_TRUE(wait_until_fewer_than(1)) << keys_left() << " keys left; " << testing::read_file(dir_ / "run.log");
  ::kill(child, SIGTERM);
  EXPECT_EQ(testing::wait_for_exit(child), 0) << testing::read_file(dir_ / "run.log");
  EXPECT_NE(testing::read_file(dir_ / "run.log").find("connected to"), std::string::npos)
      << testing::read_file(dir_ / "run.log");
}

}  // namespace
}  // namespace invalidator::plugins
