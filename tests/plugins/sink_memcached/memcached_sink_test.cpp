#include <gtest/gtest.h>
#include <libmemcached/memcached.h>

#include <array>
#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"
#include "memcached_sink.hpp"
#include "support/invalidations.hpp"
#include "support/local_server.hpp"
#include "support/tcp_relay.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memcached);

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

std::unique_ptr<LocalServer> start_memcached() { return LocalServer::start_for_test("memcached"); }

std::unique_ptr<sdk::Sink> make_sink(std::vector<std::string> servers,
                                     std::map<std::string, sdk::ConfigValue> extra = {}) {
  sdk::Config config;
  config.set("servers", std::move(servers));
  config.set("command_timeout", std::chrono::milliseconds(1000));
  for (auto& [name, value] : extra) config.set(name, value);
  auto created = invalidator_static_plugin_memcached().create_sink(config, sdk::PluginContext{});
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created.value()) : nullptr;
}


// What a service reading the cache uses: libmemcached, hashing keys the same way as the sink.
class MemcachedClient {
 public:
  explicit MemcachedClient(const std::vector<int>& ports) : client_(memcached_create(nullptr)) {
    for (int port : ports) memcached_server_add(client_, "127.0.0.1", static_cast<in_port_t>(port));
    memcached_behavior_set(client_, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(client_, MEMCACHED_BEHAVIOR_KETAMA, 1);
    memcached_behavior_set(client_, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
    memcached_behavior_set(client_, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);  // or each get waits for a delayed ACK
  }
  ~MemcachedClient() { memcached_free(client_); }
  MemcachedClient(const MemcachedClient&) = delete;
  MemcachedClient& operator=(const MemcachedClient&) = delete;

  bool set(const std::string& key, const std::string& value, std::uint32_t flags = 0, time_t expiration = 0) {
    return memcached_set(client_, key.data(), key.size(), value.data(), value.size(), expiration, flags) ==
           MEMCACHED_SUCCESS;
  }
  struct Item {
    std::string value;
    std::uint32_t flags = 0;
    std::uint64_t cas = 0;
  };
  std::optional<Item> gets(const std::string& key) {
    const char* keys[] = {key.data()};
    const std::size_t lengths[] = {key.size()};
    if (memcached_mget(client_, keys, lengths, 1) != MEMCACHED_SUCCESS) return std::nullopt;
    std::optional<Item> found;
    memcached_return_t rc;
    while (memcached_result_st* result = memcached_fetch_result(client_, nullptr, &rc)) {
      found = Item{std::string(memcached_result_value(result), memcached_result_length(result)),
                   memcached_result_flags(result), memcached_result_cas(result)};
      memcached_result_free(result);
    }
    return found;
  }
  std::optional<std::string> get(const std::string& key) {
    auto item = gets(key);
    if (!item) return std::nullopt;
    return item->value;
  }
  // Thousands of keys in one go: sets sent noreply in buffered batches, then a read of the
  // last one so they are known to be applied.
  void set_many(const std::vector<std::string>& keys, const std::string& value) {
    memcached_st* bulk = memcached_clone(nullptr, client_);
    memcached_behavior_set(bulk, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    memcached_behavior_set(bulk, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    for (const auto& key : keys) memcached_set(bulk, key.data(), key.size(), value.data(), value.size(), 0, 0);
    memcached_flush_buffers(bulk);
    memcached_free(bulk);
    for (int i = 0; i < 500 && !keys.empty() && !get(keys.back()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Which of `keys` are present, a thousand per round trip.
  std::vector<std::string> present(const std::vector<std::string>& keys) {
    std::vector<std::string> found;
    for (std::size_t begin = 0; begin < keys.size(); begin += 1000) {
      std::vector<const char*> pointers;
      std::vector<std::size_t> lengths;
      for (std::size_t i = begin; i < std::min(keys.size(), begin + 1000); ++i) {
        pointers.push_back(keys[i].data());
        lengths.push_back(keys[i].size());
      }
      if (memcached_mget(client_, pointers.data(), lengths.data(), pointers.size()) != MEMCACHED_SUCCESS) continue;
      memcached_return_t rc;
      while (memcached_result_st* result = memcached_fetch_result(client_, nullptr, &rc)) {
        found.emplace_back(memcached_result_key_value(result), memcached_result_key_length(result));
        memcached_result_free(result);
      }
    }
    return found;
  }
  bool add(const std::string& key, const std::string& value, std::uint32_t flags) {
    return memcached_add(client_, key.data(), key.size(), value.data(), value.size(), 0, flags) == MEMCACHED_SUCCESS;
  }
  bool cas(const std::string& key, const std::string& value, std::uint32_t flags, std::uint64_t cas_unique) {
    return memcached_cas(client_, key.data(), key.size(), value.data(), value.size(), 0, flags, cas_unique) ==
           MEMCACHED_SUCCESS;
  }

 private:
  memcached_st* client_;
};

// A fenced item's payload, as a reader decodes it: nothing for a tombstone.
std::optional<std::string> fenced_payload(const std::optional<MemcachedClient::Item>& item) {
  if (!item || item->flags == kTombstoneFlags) return std::nullopt;
  if (item->flags != kFencedValueFlags) return item->value;
  return item->value.substr(kFenceVersionDigits + 1);
}

// ---------------------------------------------------------------------------------------
// The SDK's conformance suite against a real memcached, plain and fenced.

class MemcachedHarness final : public SinkHarness {
 public:
  explicit MemcachedHarness(bool fence) : fence_(fence), server_(start_memcached()) {
    if (server_) client_ = std::make_unique<MemcachedClient>(std::vector<int>{server_->port()});
  }
  std::unique_ptr<sdk::Sink> make_sink() override {
    if (!server_) return nullptr;
    return ::invalidator::plugins::make_sink({server_->address()}, {{"fence", fence_}});
  }
  void put(const std::string& key, const std::string& value) override { client_->set(key, value); }
  std::optional<std::string> read(const std::string& key) override { return fenced_payload(client_->gets(key)); }
  bool supports(Action action) override { return action != Action::delete_pattern; }
  bool begin_outage() override { return server_->stop(); }
  void end_outage() override { ASSERT_TRUE(server_->start_again()); }

 private:
  bool fence_;
  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<MemcachedClient> client_;
};

INSTANTIATE_TEST_SUITE_P(Memcached, SinkConformance,
                         ::testing::Values(SinkConformanceParam{"acknowledged", [] { return std::make_unique<MemcachedHarness>(false); }},
                                           SinkConformanceParam{"fenced", [] { return std::make_unique<MemcachedHarness>(true); }}),
                         sdk::testing::conformance_name);

// ---------------------------------------------------------------------------------------

class MemcachedSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = start_memcached();
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<MemcachedClient>(std::vector<int>{server_->port()});
  }
  std::unique_ptr<sdk::Sink> started(std::map<std::string, sdk::ConfigValue> extra = {}) {
    auto sink = make_sink({server_->address()}, std::move(extra));
    EXPECT_TRUE(sink->start().ok());
    return sink;
  }

  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<MemcachedClient> client_;
};

TEST_F(MemcachedSinkTest, AppliesEveryActionUnderTheKeyPrefix) {
  auto sink = started({{"key_prefix", std::string("app:")}});
  client_->set("app:order:1", "cached");
  client_->set("app:slow", "cached");
  client_->set("order:1", "cached");
  std::vector<Invalidation> batch{item(Action::delete_key, "order:1"), item(Action::set_value, "fresh", 2, "v", 60s),
                                  item(Action::expire, "slow", 3, std::nullopt, 1ms)};
  auto result = sink->deliver(batch, {});
  ASSERT_TRUE(result.is_ok()) << result.reason();
  EXPECT_EQ(client_->get("app:order:1"), std::nullopt);
  EXPECT_EQ(client_->get("order:1"), "cached") << "keys outside the prefix are not the sink's";
  EXPECT_EQ(client_->get("app:fresh"), "v");
  std::this_thread::sleep_for(2100ms);  // memcached expires in whole seconds: 1 ms is rounded up to 1 s
  EXPECT_EQ(client_->get("app:slow"), std::nullopt);
}

// Deletes are pipelined (text protocol); keys it cannot carry take libmemcached's binary path.
TEST_F(MemcachedSinkTest, KeysThePipelineCannotCarryAreStillDeletedOrFailedByThemselves) {
  auto sink = started();
  const std::string spaced = "customer name:Sally Thomas";
  client_->set(spaced, "v");
  client_->set("plain", "v");
  std::vector<Invalidation> batch{item(Action::delete_key, "plain"), item(Action::delete_key, spaced),
                                  item(Action::delete_key, std::string(300, 'k'))};
  auto result = sink->deliver(batch, {});
  ASSERT_EQ(result.kind(), DeliveryResult::Kind::partial) << result.reason();
  ASSERT_EQ(result.failures().size(), 1u);
  EXPECT_EQ(result.failures()[0].index, 2u);
  EXPECT_FALSE(result.failures()[0].retryable) << "a key too long will never be deleted";
  EXPECT_EQ(client_->get("plain"), std::nullopt);
  EXPECT_EQ(client_->get(spaced), std::nullopt);
}

TEST_F(MemcachedSinkTest, FireAndForgetModeDeletesTooWhenTheServerIsUp) {
  auto sink = started({{"reliable", false}});
  std::vector<Invalidation> batch;
  for (int i = 0; i < 2000; ++i) {
    client_->set("k" + std::to_string(i), "v");
    batch.push_back(item(Action::delete_key, "k" + std::to_string(i)));
  }
  ASSERT_TRUE(sink->deliver(batch, {}).is_ok());
  // noreply: nothing waits for the server, so give it a moment to apply what it received.
  std::optional<std::string> last;
  for (int i = 0; i < 100 && (last = client_->get("k1999")); ++i) std::this_thread::sleep_for(10ms);
  int left = 0;
  for (int i = 0; i < 2000; ++i) left += client_->get("k" + std::to_string(i)) ? 1 : 0;
  EXPECT_EQ(left, 0);
}

TEST_F(MemcachedSinkTest, APatternFailsWithTheReasonUnlessFlushAllIsChosen) {
  auto refusing = started();
  std::vector<Invalidation> batch{item(Action::delete_key, "a"), item(Action::delete_pattern, "customer:*")};
  auto result = refusing->deliver(batch, {});
  ASSERT_EQ(result.kind(), DeliveryResult::Kind::partial);
  ASSERT_EQ(result.failures().size(), 1u);
  EXPECT_EQ(result.failures()[0].index, 1u);
  EXPECT_FALSE(result.failures()[0].retryable) << "no retry lets memcached list its keys: it goes to the dead letters";
  EXPECT_NE(result.failures()[0].reason.find("flush_all"), std::string::npos) << result.failures()[0].reason;

  client_->set("customer:1", "v");
  auto flushing = started({{"on_pattern", std::string("flush_all")}});
  ASSERT_TRUE(flushing->deliver(batch, {}).is_ok());
  EXPECT_EQ(client_->get("customer:1"), std::nullopt);
}

TEST(MemcachedSinkConfig, AFenceNeedsAcknowledgedWrites) {
  sdk::Config config;
  config.set("fence", true);
  config.set("reliable", false);
  auto created = invalidator_static_plugin_memcached().create_sink(config, sdk::PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("reliable = true"), std::string::npos) << created.error();

  sdk::Config bad_server;
  bad_server.set("servers", std::vector<std::string>{"127.0.0.1:notaport"});
  auto refused = invalidator_static_plugin_memcached().create_sink(bad_server, sdk::PluginContext{});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("127.0.0.1:notaport"), std::string::npos) << refused.error();
}

// A pool of two servers with one down: its keys are retried, never moved to the live
// server nor skipped, and the error names it.
TEST(MemcachedSinkPool, ADownServerIsReportedNotSkipped) {
  auto up = start_memcached();
  auto down = start_memcached();
  ASSERT_TRUE(up && down);
  auto sink = make_sink({up->address(), down->address()});
  ASSERT_TRUE(sink->start().ok());
  MemcachedClient client({up->port(), down->port()});
  std::vector<Invalidation> batch;
  for (int i = 0; i < 50; ++i) {
    client.set("k" + std::to_string(i), "v");
    batch.push_back(item(Action::delete_key, "k" + std::to_string(i)));
  }
  ASSERT_TRUE(down->stop());
  auto during = sink->deliver(batch, {});
  ASSERT_EQ(during.kind(), DeliveryResult::Kind::retry);
  EXPECT_NE(during.reason().find(std::to_string(down->port())), std::string::npos) << during.reason();
  ASSERT_TRUE(down->start_again());
  DeliveryResult after = DeliveryResult::retry("");
  for (int i = 0; i < 100 && !(after = sink->deliver(batch, {})).is_ok(); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(after.is_ok()) << after.reason();
}

// ---------------------------------------------------------------------------------------
// Fencing with gets/CAS

TEST_F(MemcachedSinkTest, FencedSetsNeverGoBackInVersion) {
  auto fenced = started({{"fence", true}});
  std::vector<Invalidation> newer{item(Action::set_value, "k", 10, "v10")};
  std::vector<Invalidation> older{item(Action::set_value, "k", 9, "v9")};
  ASSERT_TRUE(fenced->deliver(newer, {}).is_ok());
  ASSERT_TRUE(fenced->deliver(older, {}).is_ok());
  EXPECT_EQ(fenced_payload(client_->gets("k")), "v10");
  std::vector<Invalidation> remove{item(Action::delete_key, "k", 8)};
  ASSERT_TRUE(fenced->deliver(remove, {}).is_ok());
  auto tombstone = client_->gets("k");
  ASSERT_TRUE(tombstone);
  EXPECT_EQ(tombstone->flags, kTombstoneFlags);
  EXPECT_EQ(tombstone->value, "00000000000000000010") << "a tombstone keeps the newest version seen";
}

// A reader's fill, as the README shows it: add on a miss, cas over a tombstone; either fails
// if an invalidation came in between.
struct ReadThrough {
  MemcachedClient& cache;
  struct Miss {
    std::optional<MemcachedClient::Item> tombstone;
  };
  std::optional<Miss> lookup(const std::string& key) {
    auto item = cache.gets(key);
    if (item && item->flags != kTombstoneFlags) return std::nullopt;  // a hit
    return Miss{item};
  }
  bool fill(const std::string& key, const Miss& miss, const std::string& value) {
    if (!miss.tombstone) return cache.add(key, std::string(kFenceVersionDigits, '0') + ":" + value, kFencedValueFlags);
    return cache.cas(key, miss.tombstone->value + ":" + value, kFencedValueFlags, miss.tombstone->cas);
  }
};

TEST_F(MemcachedSinkTest, WithoutAFenceAStaleWriteBackOutlivesTheInvalidation) {
  auto sink = started();
  std::string database = "old";
  ASSERT_EQ(client_->get("customer:1"), std::nullopt);
  std::string read_by_reader = database;
  database = "new";
  std::vector<Invalidation> invalidation{item(Action::delete_key, "customer:1", 2)};
  ASSERT_TRUE(sink->deliver(invalidation, {}).is_ok());
  client_->set("customer:1", read_by_reader);
  EXPECT_EQ(client_->get("customer:1"), "old") << "the race fencing closes";
}

TEST_F(MemcachedSinkTest, WithAFenceTheStaleWriteBackIsRefused) {
  auto sink = started({{"fence", true}});
  ReadThrough reader{*client_};
  for (bool tombstone_first : {false, true}) {
    const std::string key = tombstone_first ? "customer:2" : "customer:1";
    if (tombstone_first) {
      std::vector<Invalidation> earlier{item(Action::delete_key, key, 1)};
      ASSERT_TRUE(sink->deliver(earlier, {}).is_ok());
    }
    auto miss = reader.lookup(key);
    ASSERT_TRUE(miss);
    std::string read_by_reader = "old";
    std::vector<Invalidation> invalidation{item(Action::delete_key, key, 2)};
    ASSERT_TRUE(sink->deliver(invalidation, {}).is_ok());
    EXPECT_FALSE(reader.fill(key, *miss, read_by_reader)) << key;
    EXPECT_EQ(fenced_payload(client_->gets(key)), std::nullopt) << key;

    auto next = reader.lookup(key);
    ASSERT_TRUE(next);
    EXPECT_TRUE(reader.fill(key, *next, "new")) << key;
    EXPECT_EQ(fenced_payload(client_->gets(key)), "new") << key;
  }
}

// The race run for real: writers change rows and deliver their invalidations while readers
// fill concurrently. Once all has settled a fenced cache holds the newest row or nothing.
TEST_F(MemcachedSinkTest, ConcurrentReadersNeverLeaveAStaleValueBehindAFence) {
  constexpr int kKeys = 8;
  constexpr int kChanges = 200;
  auto sink = started({{"fence", true}, {"pool", std::int64_t{kKeys}}});
  std::array<std::atomic<int>, kKeys> database{};
  std::atomic<bool> writers_done{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "row:" + std::to_string(k);
    threads.emplace_back([&, k, key] {
      for (int version = 1; version <= kChanges; ++version) {
        database[static_cast<std::size_t>(k)].store(version);
        std::vector<Invalidation> batch{item(Action::delete_key, key, static_cast<std::uint64_t>(version))};
        while (!sink->deliver(batch, {}).is_ok()) {
        }
      }
    });
    threads.emplace_back([&, k, key] {
      MemcachedClient connection({server_->port()});
      ReadThrough reader{connection};
      std::minstd_rand random(static_cast<unsigned>(k));
      while (!writers_done.load()) {
        auto miss = reader.lookup(key);
        if (!miss) continue;
        std::string value = std::to_string(database[static_cast<std::size_t>(k)].load());
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 300));  // a slow query
        reader.fill(key, *miss, value);
      }
    });
  }
  for (std::size_t i = 0; i < threads.size(); i += 2) threads[i].join();
  writers_done = true;
  for (std::size_t i = 1; i < threads.size(); i += 2) threads[i].join();
  for (int k = 0; k < kKeys; ++k) {
    auto cached = fenced_payload(client_->gets("row:" + std::to_string(k)));
    if (cached) {
      EXPECT_EQ(*cached, std::to_string(kChanges)) << "row " << k << " holds a stale value";
    }
  }
}

// ---------------------------------------------------------------------------------------
// A restart in the middle of a 100k stream through the whole binary. memcached keeps nothing
// across a restart (its warm restart is broken in Debian 12's 1.6.18), so the test carries the
// keys over itself: it cuts the sink off, records which keys are still there, restarts the
// server, writes those keys back, and lets the sink in again. Every key must end up deleted.

TEST(MemcachedSinkRestart, EveryKeyIsDeletedAcrossAServerRestartMidStream) {
  auto server = start_memcached();
  ASSERT_NE(server, nullptr);
  testing::TcpRelay relay(server->port());
  constexpr int kEvents = 100'000;
  testing::TempDir dir;
  {
    std::ofstream events(dir / "events.jsonl");
    for (int i = 1; i <= kEvents; ++i) {
      events << R"({"before":{"id":)" << i << R"(},"after":{"id":)" << i
             << R"(},"source":{"schema":"public","table":"customers","lsn":)" << i << R"(},"op":"u"})" << "\n";
    }
  }
  std::vector<std::string> keys;
  for (int i = 1; i <= kEvents; ++i) keys.push_back("customer:" + std::to_string(i));
  {
    MemcachedClient client({server->port()});
    client.set_many(keys, "cached");
    ASSERT_EQ(client.present(keys).size(), keys.size());
  }
  testing::write_file(dir / "pipeline.toml",
                      "[engine]\nshutdown_timeout = \"60s\"\n"
                      "[sources.s]\ntype = \"file\"\npath = \"" + (dir / "events.jsonl").string() + "\"\n"
                      "[sinks.cache]\ntype = \"memcached\"\nservers = [\"127.0.0.1:" + std::to_string(relay.port()) + "\"]\n"
                      "lanes = 4\npool = 4\n"
                      "[sinks.cache.retry]\ninitial_backoff = \"20ms\"\nmax_backoff = \"200ms\"\n"
                      "[[routes]]\nfrom = [\"s\"]\ntable = \"public.customers\"\nkeys = [\"customer:{id}\"]\nto = [\"cache\"]\n");

  testing::CommandResult run;
  std::thread runner([&] {
    run = testing::run_command("'" INVALIDATOR_BINARY "' run -c '" + (dir / "pipeline.toml").string() + "'");
  });
  // Wait until the stream is under way: the first keys are gone.
  {
    MemcachedClient watcher({server->port()});
    for (int i = 0; i < 3000 && watcher.get(keys.front()); ++i) std::this_thread::sleep_for(2ms);
    std::this_thread::sleep_for(200ms);
  }
  relay.close();
  std::vector<std::string> left_before_restart = MemcachedClient({server->port()}).present(keys);
  EXPECT_GT(left_before_restart.size(), 0u) << "the stream ended before the restart; make it longer";
  EXPECT_LT(left_before_restart.size(), keys.size()) << "the restart came before the stream";
  ASSERT_TRUE(server->start_again());
  MemcachedClient({server->port()}).set_many(left_before_restart, "cached");
  relay.open();
  runner.join();
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(MemcachedClient({server->port()}).present(keys).size(), 0u) << "keys left behind after the restart";
}

}  // namespace
}  // namespace invalidator::plugins
