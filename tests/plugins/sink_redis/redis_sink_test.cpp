#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <variant>
#include <thread>

#include "fence_script.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"
#include "redis_address.hpp"
#include "support/redis_client.hpp"
#include "redis_sink.hpp"
#include "support/invalidations.hpp"
#include "support/fake_resp_server.hpp"
#include "support/local_server.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(redis);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using sdk::Action;
using sdk::DeliveryResult;
using sdk::Invalidation;
using sdk::testing::SinkConformance;
using sdk::testing::SinkConformanceParam;
using sdk::testing::SinkHarness;
using testing::item;
using testing::LocalServer;
using testing::RedisClient;

std::unique_ptr<LocalServer> start_redis() { return LocalServer::start_for_test("redis"); }

sdk::Config config_for(const LocalServer& server, std::map<std::string, sdk::ConfigValue> extra = {}) {
  sdk::Config config;
  config.set("url", server.address());
  config.set("command_timeout", std::chrono::milliseconds(2000));
  for (auto& [name, value] : extra) config.set(name, value);
  return config;
}

std::unique_ptr<sdk::Sink> make_sink(const sdk::Config& config) {
  auto created = invalidator_static_plugin_redis().create_sink(config, sdk::PluginContext{});
  EXPECT_TRUE(created) << created.error();
  return std::move(created.value());
}


// ---------------------------------------------------------------------------------------
// The SDK's conformance suite against a real redis-server, plain and fenced.

class RedisHarness final : public SinkHarness {
 public:
  explicit RedisHarness(bool fence) : fence_(fence), server_(start_redis()) {
    if (server_) client_ = std::make_unique<RedisClient>(server_->port());
  }
  std::unique_ptr<sdk::Sink> make_sink() override {
    if (!server_) return nullptr;
    return ::invalidator::plugins::make_sink(config_for(*server_, {{"fence", fence_}}));
  }
  void put(const std::string& key, const std::string& value) override { client_->set(key, value); }
  std::optional<std::string> read(const std::string& key) override { return client_->get(key); }
  bool supports(Action) override { return true; }
  bool begin_outage() override {
    client_.reset();
    return server_->stop();
  }
  void end_outage() override {
    ASSERT_TRUE(server_->start_again());
    client_ = std::make_unique<RedisClient>(server_->port());
  }

 private:
  bool fence_;
  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<RedisClient> client_;
};

INSTANTIATE_TEST_SUITE_P(Redis, SinkConformance,
                         ::testing::Values(SinkConformanceParam{"plain", [] { return std::make_unique<RedisHarness>(false); }},
                                           SinkConformanceParam{"fenced", [] { return std::make_unique<RedisHarness>(true); }}),
                         sdk::testing::conformance_name);

// ---------------------------------------------------------------------------------------
// The URL

TEST(RedisUrl, ParsesEveryForm) {
  auto full = parse_redis_url("redis://app:p%40ss@cache.internal:6380/3");
  ASSERT_TRUE(full) << full.error();
  EXPECT_EQ(full->host, "cache.internal");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->user, "app");
  EXPECT_EQ(full->password, "p@ss");
  EXPECT_EQ(full->database, 3);
  EXPECT_EQ(full->describe(), "redis://cache.internal:6380/3") << "credentials never appear in log lines";

  auto password_only = parse_redis_url("redis://:secret@127.0.0.1");
  ASSERT_TRUE(password_only);
  EXPECT_EQ(password_only->user, "");
  EXPECT_EQ(password_only->password, "secret");
  EXPECT_EQ(password_only->port, 6379);

  auto ipv6 = parse_redis_url("redis://[::1]:7000");
  ASSERT_TRUE(ipv6);
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->port, 7000);

  auto unix_socket = parse_redis_url("unix:///run/redis/redis.sock?db=2");
  ASSERT_TRUE(unix_socket);
  EXPECT_EQ(unix_socket->socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(unix_socket->database, 2);
}

TEST(RedisUrl, RejectsWhatItCannotUseWithAReason) {
  EXPECT_NE(parse_redis_url("rediss://host").error().find("TLS is not supported"), std::string::npos);
  EXPECT_NE(parse_redis_url("redis://host:99999").error().find("port"), std::string::npos);
  EXPECT_NE(parse_redis_url("redis://host/x").error().find("database"), std::string::npos);
  EXPECT_NE(parse_redis_url("unix://relative.sock").error().find("absolute path"), std::string::npos);
  EXPECT_FALSE(parse_redis_url("redis://:%4@host"));
}

// ---------------------------------------------------------------------------------------
// Actions

class RedisSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_redis();
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<RedisClient>(server_->port());
  }
  std::unique_ptr<sdk::Sink> started(std::map<std::string, sdk::ConfigValue> extra = {}) {
    auto sink = make_sink(config_for(*server_, std::move(extra)));
    auto status = sink->start();
    EXPECT_TRUE(status.ok()) << status.message();
    return sink;
  }

  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(RedisSinkTest, AppliesEveryActionUnderTheKeyPrefix) {
  auto sink = started({{"key_prefix", std::string("app:")}});
  for (const char* key : {"app:customer:1", "app:customer:2", "app:customer:[odd]", "app:order:1", "app:slow",
                          "customer:1"}) {
    client_->set(key, "cached");
  }
  std::vector<Invalidation> batch{
      item(Action::delete_key, "order:1"),
      item(Action::set_value, "fresh", 2, "v", 60s),
      item(Action::expire, "slow", 3, std::nullopt, 30s),
      item(Action::delete_pattern, "customer:*", 4),
  };
  auto result = sink->deliver(batch, {});
  ASSERT_TRUE(result.is_ok()) << result.reason();
  EXPECT_EQ(client_->get("app:order:1"), std::nullopt);
  EXPECT_EQ(client_->get("app:fresh"), "v");
  EXPECT_GT(client_->command({"PTTL", "app:fresh"}).integer, 50'000);
  long long slow_ttl = client_->command({"PTTL", "app:slow"}).integer;
  EXPECT_GT(slow_ttl, 0);
  EXPECT_LE(slow_ttl, 30'000);
  EXPECT_EQ(client_->get("app:customer:1"), std::nullopt);
  EXPECT_EQ(client_->get("app:customer:2"), std::nullopt);
  EXPECT_EQ(client_->get("app:customer:[odd]"), std::nullopt);
  EXPECT_EQ(client_->get("customer:1"), "cached") << "keys outside the prefix are not the sink's";
}

TEST_F(RedisSinkTest, APatternWithAGlobCharacterInThePrefixMatchesOnlyThatPrefix) {
  auto sink = started({{"key_prefix", std::string("a*:")}});
  client_->set("a*:customer:1", "x");
  client_->set("ab:customer:1", "y");
  std::vector<Invalidation> batch{item(Action::delete_pattern, "customer:*")};
  ASSERT_TRUE(sink->deliver(batch, {}).is_ok());
  EXPECT_EQ(client_->get("a*:customer:1"), std::nullopt);
  EXPECT_EQ(client_->get("ab:customer:1"), "y");
}

TEST_F(RedisSinkTest, APatternDeletesEveryMatchingKeyOverManyScanRounds) {
  auto sink = started({{"scan_count", std::int64_t{10}}, {"delete_command", std::string("unlink")}});
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back("customer:" + std::to_string(i));
  client_->set_many(keys, "v");
  client_->set("invoice:1", "kept");
  std::vector<Invalidation> batch{item(Action::delete_pattern, "customer:*")};
  ASSERT_TRUE(sink->deliver(batch, {}).is_ok());
  EXPECT_EQ(client_->dbsize(), 1);
  EXPECT_EQ(client_->get("invoice:1"), "kept");
}

TEST_F(RedisSinkTest, JoinedDeletesAndSinglesKeepTheBatchOrder) {
  for (std::int64_t keys_per_delete : {1, 3, 64}) {
    auto sink = started({{"keys_per_delete", keys_per_delete}, {"pipeline_depth", std::int64_t{2}}});
    std::vector<Invalidation> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(item(Action::delete_key, "k" + std::to_string(i)));
    batch.push_back(item(Action::set_value, "k3", 2, "after-delete"));
    batch.push_back(item(Action::delete_key, "k4"));
    for (int i = 0; i < 10; ++i) client_->set("k" + std::to_string(i), "old");
    ASSERT_TRUE(sink->deliver(batch, {}).is_ok());
    EXPECT_EQ(client_->get("k3"), "after-delete") << keys_per_delete;
    EXPECT_EQ(client_->dbsize(), 1) << keys_per_delete;
    client_->command({"FLUSHALL"});
  }
}

TEST_F(RedisSinkTest, AWrongTypeFailsThatItemWithTheServersMessage) {
  auto sink = started();
  client_->command({"LPUSH", "list", "x"});
  client_->set("plain", "v");
  std::vector<Invalidation> batch{item(Action::set_value, "plain", 1, "new"),
                                  item(Action::set_value, "fresh", 1, "v"),
                                  item(Action::delete_key, "plain")};
  // A SET overwrites any type; PEXPIRE works on any type; what fails on a list is a fenced
  // script's GET of its fence key, so make the fence key the list.
  auto fenced = started({{"fence", true}, {"fence_suffix", std::string("")}});
  std::vector<Invalidation> fenced_batch{item(Action::set_value, "fresh", 1, "v"),
                                         item(Action::set_value, "list", 5, "v")};
  auto result = fenced->deliver(fenced_batch, {});
  ASSERT_EQ(result.kind(), DeliveryResult::Kind::partial);
  ASSERT_EQ(result.failures().size(), 1u);
  EXPECT_EQ(result.failures()[0].index, 1u);
  EXPECT_FALSE(result.failures()[0].retryable);
  EXPECT_NE(result.failures()[0].reason.find("WRONGTYPE"), std::string::npos) << result.failures()[0].reason;
  EXPECT_TRUE(sink->deliver(batch, {}).is_ok());
}

// Replies no standalone server gives: a cluster node's redirections, and replies of the wrong
// type, from a server on loopback that answers what the test says.
std::unique_ptr<sdk::Sink> sink_for(const testing::FakeRespServer& server) {
  sdk::Config config;
  config.set("url", "redis://127.0.0.1:" + std::to_string(server.port()));
  config.set("keys_per_delete", std::int64_t{1});
  auto sink = make_sink(config);
  EXPECT_TRUE(sink->start());
  return sink;
}

TEST(RedisSinkReplies, AClusterRedirectionFailsForGoodAndSaysClusterIsNotSupported) {
  testing::FakeRespServer server([](const std::vector<std::string>& command) -> std::string {
    if (command[0] == "SCAN") return "-ASK 3999 127.0.0.1:6381\r\n";
    return command[1] == "here" ? ":1\r\n" : "-MOVED 3999 127.0.0.1:6381\r\n";
  });
  auto sink = sink_for(server);
  std::vector<Invalidation> batch{item(Action::delete_key, "elsewhere"), item(Action::delete_key, "here"),
                                  item(Action::delete_pattern, "customer:*")};
  auto result = sink->deliver(batch, {});
  ASSERT_EQ(result.kind(), DeliveryResult::Kind::partial) << result.reason();
  ASSERT_EQ(result.failures().size(), 2u);
  EXPECT_EQ(result.failures()[0].index, 0u);
  EXPECT_EQ(result.failures()[1].index, 2u);
  for (const auto& failure : result.failures()) {
    EXPECT_FALSE(failure.retryable) << "retrying cannot help";
    EXPECT_NE(failure.reason.find("Redis Cluster is not supported yet: use a standalone server or a cluster proxy"),
              std::string::npos)
        << failure.reason;
  }
  EXPECT_NE(result.failures()[0].reason.find("MOVED 3999"), std::string::npos);
  EXPECT_NE(result.failures()[1].reason.find("ASK 3999"), std::string::npos);
}

TEST(RedisSinkReplies, AReplyOfTheWrongTypeIsAFailureNotASuccess) {
  testing::FakeRespServer server([](const std::vector<std::string>& command) -> std::string {
    if (command[0] == "SET") return ":1\r\n";      // a SET answers +OK
    if (command[0] == "DEL") return "+QUEUED\r\n";  // a DEL answers an integer
    return ":1\r\n";
  });
  auto sink = sink_for(server);
  std::vector<Invalidation> batch{item(Action::set_value, "a", 1, "v"), item(Action::delete_key, "b"),
                                  item(Action::expire, "c", 1, std::nullopt, 5s)};
  auto result = sink->deliver(batch, {});
  ASSERT_EQ(result.kind(), DeliveryResult::Kind::partial) << result.reason();
  ASSERT_EQ(result.failures().size(), 2u);
  EXPECT_EQ(result.failures()[0].index, 0u);
  EXPECT_NE(result.failures()[0].reason.find("Redis answered :1, which is not a success for set"), std::string::npos)
      << result.failures()[0].reason;
  EXPECT_EQ(result.failures()[1].index, 1u);
  EXPECT_NE(result.failures()[1].reason.find("+QUEUED"), std::string::npos) << result.failures()[1].reason;
}

TEST_F(RedisSinkTest, ABadPasswordFailsTheStartWithTheServersMessage) {
  client_->command({"CONFIG", "SET", "requirepass", "right"});
  auto wrong = make_sink(config_for(*server_, {{"password", std::string("wrong")}}));
  auto status = wrong->start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("authentication failed"), std::string::npos) << status.message();
  EXPECT_EQ(status.message().find("wrong"), std::string::npos) << "the password is never shown";

  auto right = make_sink(config_for(*server_, {{"password", std::string("right")}}));
  ASSERT_TRUE(right->start().ok());
  std::vector<Invalidation> batch{item(Action::delete_key, "k")};
  EXPECT_TRUE(right->deliver(batch, {}).is_ok());
}

TEST_F(RedisSinkTest, ABusyServerIsARetryNotAFailure) {
  auto sink = started();
  client_->command({"CONFIG", "SET", "busy-reply-threshold", "50"});
  std::thread busy([port = server_->port()] {
    RedisClient blocker(port);
    blocker.command({"EVAL", "while true do end", "0"});  // runs until SCRIPT KILL
  });
  std::this_thread::sleep_for(300ms);
  std::vector<Invalidation> batch{item(Action::delete_key, "k")};
  auto during = sink->deliver(batch, {});
  EXPECT_EQ(during.kind(), DeliveryResult::Kind::retry);
  EXPECT_NE(during.reason().find("BUSY"), std::string::npos) << during.reason();
  RedisClient killer(server_->port());
  killer.command({"SCRIPT", "KILL"});
  busy.join();
  EXPECT_TRUE(sink->deliver(batch, {}).is_ok());
}

TEST_F(RedisSinkTest, AnUnreachableServerAtStartIsRetriedNotFatal) {
  ASSERT_TRUE(server_->stop());
  auto sink = make_sink(config_for(*server_));
  EXPECT_TRUE(sink->start().ok()) << "a cache down at start-up must not stop the pipeline";
  std::vector<Invalidation> batch{item(Action::delete_key, "k")};
  EXPECT_EQ(sink->deliver(batch, {}).kind(), DeliveryResult::Kind::retry);
  ASSERT_TRUE(server_->start_again());
  EXPECT_TRUE(sink->deliver(batch, {}).is_ok());
}

TEST_F(RedisSinkTest, AFlushedFenceScriptIsLoadedAgain) {
  auto sink = started({{"fence", true}});
  std::vector<Invalidation> batch{item(Action::set_value, "k", 1, "v")};
  ASSERT_TRUE(sink->deliver(batch, {}).is_ok());
  client_->command({"SCRIPT", "FLUSH"});
  std::vector<Invalidation> next{item(Action::set_value, "k", 2, "w")};
  auto first = sink->deliver(next, {});
  EXPECT_EQ(first.kind(), DeliveryResult::Kind::retry);
  EXPECT_TRUE(sink->deliver(next, {}).is_ok());
  EXPECT_EQ(client_->get("k"), "w");
}

// ---------------------------------------------------------------------------------------
// Fencing

TEST_F(RedisSinkTest, FencedSetsNeverGoBackInVersion) {
  auto fenced = started({{"fence", true}});
  std::vector<Invalidation> newer{item(Action::set_value, "k", 10, "v10")};
  std::vector<Invalidation> older{item(Action::set_value, "k", 9, "v9")};
  ASSERT_TRUE(fenced->deliver(newer, {}).is_ok());
  ASSERT_TRUE(fenced->deliver(older, {}).is_ok()) << "a refused older write is not a failure";
  EXPECT_EQ(client_->get("k"), "v10");
  EXPECT_EQ(client_->get("k#fence"), fence_version(10));

  // Versions beyond 2^53 (where Lua's numbers lose precision) still compare right.
  std::vector<Invalidation> huge{item(Action::set_value, "big", 9'007'199'254'740'993ull, "a")};
  std::vector<Invalidation> huge_minus_one{item(Action::set_value, "big", 9'007'199'254'740'992ull, "b")};
  ASSERT_TRUE(fenced->deliver(huge, {}).is_ok());
  ASSERT_TRUE(fenced->deliver(huge_minus_one, {}).is_ok());
  EXPECT_EQ(client_->get("big"), "a");

  auto plain = started();
  ASSERT_TRUE(plain->deliver(older, {}).is_ok());
  EXPECT_EQ(client_->get("k"), "v9") << "without a fence the last delivered write wins";
}

TEST_F(RedisSinkTest, AFencedDeleteLeavesATombstoneThatExpires) {
  auto fenced = started({{"fence", true}, {"tombstone_ttl", std::chrono::milliseconds(5000)}});
  client_->set("k", "cached");
  std::vector<Invalidation> remove{item(Action::delete_key, "k", 7)};
  ASSERT_TRUE(fenced->deliver(remove, {}).is_ok());
  EXPECT_EQ(client_->get("k"), std::nullopt);
  EXPECT_EQ(client_->get("k#fence"), fence_version(7));
  long long ttl = client_->command({"PTTL", "k#fence"}).integer;
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 5000);
  // A redelivered older delete does not lower the tombstone.
  std::vector<Invalidation> older{item(Action::delete_key, "k", 3)};
  ASSERT_TRUE(fenced->deliver(older, {}).is_ok());
  EXPECT_EQ(client_->get("k#fence"), fence_version(7));
}

// The read-through pattern of the README, as a service would write it: on a miss, note the
// fence, read the database, then fill through the script, which refuses if an invalidation
// came in between.
struct ReadThrough {
  RedisClient& redis;
  std::string sha;

  // Step 1: the cached value, or the fence as it is now.
  std::variant<std::string, std::string> lookup(const std::string& key) {
    auto reply = redis.command({"MGET", key, key + "#fence"});
    if (reply.elements.at(0)) return std::variant<std::string, std::string>(std::in_place_index<0>, *reply.elements[0]);
    return std::variant<std::string, std::string>(std::in_place_index<1>, reply.elements.at(1).value_or(""));
  }
  // Step 3: write back what the database said, unless the fence moved.
  bool fill(const std::string& key, const std::string& fence_seen, const std::string& value) {
    auto reply = redis.command({"EVALSHA", sha, "2", key, key + "#fence", "fill", fence_seen, value, "0"});
    return reply.type == REDIS_REPLY_INTEGER && reply.integer == 1;
  }
};

std::string load_fence_script(RedisClient& client) {
  return client.command({"SCRIPT", "LOAD", std::string(kFenceScript)}).text;
}

// Why fencing exists, step by step: a reader misses, reads the old row, the row changes and
// its invalidation is applied, then the reader writes back what it read.
TEST_F(RedisSinkTest, WithoutAFenceAStaleWriteBackOutlivesTheInvalidation) {
  auto sink = started();
  std::string database = "old";
  ASSERT_EQ(client_->get("customer:1"), std::nullopt);  // 1. the reader misses
  std::string read_by_reader = database;               // 2. and reads the database
  database = "new";                                    // 3. the row changes...
  std::vector<Invalidation> invalidation{item(Action::delete_key, "customer:1", 2)};
  ASSERT_TRUE(sink->deliver(invalidation, {}).is_ok());    //    ...and is invalidated
  client_->set("customer:1", read_by_reader);          // 4. the reader writes back
  EXPECT_EQ(client_->get("customer:1"), "old") << "the stale value stays until its TTL: the race fencing closes";
}

TEST_F(RedisSinkTest, WithAFenceTheStaleWriteBackIsRefused) {
  auto sink = started({{"fence", true}});
  ReadThrough reader{*client_, load_fence_script(*client_)};
  std::string database = "old";
  auto looked_up = reader.lookup("customer:1");  // 1. miss; the fence is noted
  ASSERT_EQ(looked_up.index(), 1u);
  std::string fence_seen = std::get<1>(looked_up);
  std::string read_by_reader = database;  // 2.
  database = "new";                       // 3.
  std::vector<Invalidation> invalidation{item(Action::delete_key, "customer:1", 2)};
  ASSERT_TRUE(sink->deliver(invalidation, {}).is_ok());
  EXPECT_FALSE(reader.fill("customer:1", fence_seen, read_by_reader));  // 4. refused
  EXPECT_EQ(client_->get("customer:1"), std::nullopt);

  // The next reader sees the new fence and its fill goes through.
  auto again = reader.lookup("customer:1");
  ASSERT_EQ(again.index(), 1u);
  EXPECT_TRUE(reader.fill("customer:1", std::get<1>(again), database));
  EXPECT_EQ(client_->get("customer:1"), "new");
}

// The same race run for real: writers change rows and deliver their invalidations while
// readers fill the cache concurrently. When everything has settled, a fenced cache holds
// the newest row or nothing, for every key.
TEST_F(RedisSinkTest, ConcurrentReadersNeverLeaveAStaleValueBehindAFence) {
  constexpr int kKeys = 8;
  constexpr int kChanges = 300;
  auto sink = started({{"fence", true}, {"pool", std::int64_t{kKeys}}});
  std::array<std::atomic<int>, kKeys> database{};
  std::atomic<bool> writers_done{false};
  std::string sha = load_fence_script(*client_);

  std::vector<std::thread> threads;
  for (int k = 0; k < kKeys; ++k) {
    threads.emplace_back([&, k] {  // the row's writer and its change stream
      for (int version = 1; version <= kChanges; ++version) {
        database[static_cast<std::size_t>(k)].store(version);
        std::vector<Invalidation> batch{item(Action::delete_key, "row:" + std::to_string(k), static_cast<std::uint64_t>(version))};
        while (!sink->deliver(batch, {}).is_ok()) {
        }
      }
    });
    threads.emplace_back([&, k] {  // a reader of the same row
      RedisClient connection(server_->port());
      ReadThrough reader{connection, sha};
      std::minstd_rand random(static_cast<unsigned>(k));
      const std::string key = "row:" + std::to_string(k);
      while (!writers_done.load()) {
        auto looked_up = reader.lookup(key);
        if (looked_up.index() == 0) continue;
        std::string value = std::to_string(database[static_cast<std::size_t>(k)].load());
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 300));  // a slow query
        reader.fill(key, std::get<1>(looked_up), value);
      }
    });
  }
  for (std::size_t i = 0; i < threads.size(); i += 2) threads[i].join();
  writers_done = true;
  for (std::size_t i = 1; i < threads.size(); i += 2) threads[i].join();

  for (int k = 0; k < kKeys; ++k) {
    auto cached = client_->get("row:" + std::to_string(k));
    if (cached) {
      EXPECT_EQ(*cached, std::to_string(kChanges)) << "row " << k << " holds a stale value";
    }
  }
}

// ---------------------------------------------------------------------------------------
// A restart of the server in the middle of a stream, through the whole binary: every
// pre-populated key must be gone at the end.

TEST(RedisSinkRestart, EveryKeyIsDeletedAcrossAServerRestartMidStream) {
  auto server = start_redis();
  ASSERT_NE(server, nullptr);
  constexpr int kEvents = 100'000;
  testing::TempDir dir;
  {
    std::ofstream events(dir / "events.jsonl");
    for (int i = 1; i <= kEvents; ++i) {
      events << R"({"before":{"id":)" << i << R"(},"after":{"id":)" << i
             << R"(},"source":{"schema":"public","table":"customers","lsn":)" << i << R"(},"op":"u"})" << "\n";
    }
  }
  {
    RedisClient client(server->port());
    std::vector<std::string> keys;
    for (int i = 1; i <= kEvents; ++i) keys.push_back("customer:" + std::to_string(i));
    client.set_many(keys, "cached");
    ASSERT_EQ(client.dbsize(), kEvents);
  }
  testing::write_file(dir / "pipeline.toml",
                      "[engine]\nshutdown_timeout = \"60s\"\n"
                      "[sources.s]\ntype = \"file\"\npath = \"" + (dir / "events.jsonl").string() + "\"\n"
                      "[sinks.cache]\ntype = \"redis\"\nurl = \"" + server->address() + "\"\n"
                      "[sinks.cache.batch]\nmax_events = 64\n"
                      "[sinks.cache.retry]\ninitial_backoff = \"20ms\"\nmax_backoff = \"200ms\"\n"
                      "[[routes]]\nfrom = [\"s\"]\ntable = \"public.customers\"\nkeys = [\"customer:{id}\"]\nto = [\"cache\"]\n");

  testing::CommandResult run;
  std::thread runner([&] {
    run = testing::run_command("'" INVALIDATOR_BINARY "' run -c '" + (dir / "pipeline.toml").string() + "'");
  });
  // Restart once the stream is well under way, not before it started or after it ended.
  bool restarted = false;
  for (int i = 0; i < 3000 && !restarted; ++i) {
    try {
      RedisClient watcher(server->port());
      long long left = watcher.dbsize();
      if (left < kEvents * 8 / 10) {
        EXPECT_GT(left, 0) << "the stream ended before the restart; make it longer";
        restarted = server->start_again();
      }
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(2ms);
  }
  runner.join();
  EXPECT_TRUE(restarted);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  RedisClient client(server->port());
  EXPECT_EQ(client.dbsize(), 0) << "keys left behind after the restart";
}

}  // namespace
}  // namespace invalidator::plugins
