#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "invalidator/sdk/testing/source_conformance.hpp"
#include "pulsar_source.hpp"
#include "support/pulsar_producer.hpp"
#include "support/pulsar_target.hpp"
#include "support/tls_front.hpp"
#include "support/source_thread.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(pulsar);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::RecordingEmitter;
using testing::eventually;
using testing::fixture;
using testing::PulsarProducer;
using testing::PulsarTarget;
using testing::SourceThread;

class CapturingLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(message);
  }
  bool contains(const std::string& text) const {
    std::lock_guard lock(mutex_);
    return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& line) { return line.find(text) != std::string::npos; });
  }
  std::string all() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& line : lines_) out += line + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

struct SourceSettings {
  std::string subscription = "invalidator";
  std::string subscription_type = "Key_Shared";
  std::int64_t receiver_queue_size = 1000;
  std::string token;
  std::chrono::milliseconds redelivery_delay = 100ms;
  std::chrono::milliseconds keepalive = 30s;
  std::string url;  // the target's when empty
  std::string ca_file;
};

sdk::Result<std::unique_ptr<sdk::Source>> create_source(sdk::Config config, sdk::Logger* logger = nullptr) {
  return invalidator_static_plugin_pulsar().create_source(config, sdk::PluginContext{"pulsar", logger, {}});
}

std::unique_ptr<sdk::Source> make_source(const PulsarTarget& target, const std::vector<std::string>& topics,
                                         const SourceSettings& settings = {}, sdk::Logger* logger = nullptr) {
  sdk::Config config;
  config.set("url", settings.url.empty() ? target.url() : settings.url);
  config.set("topics", topics);
  if (!settings.ca_file.empty()) config.set("ca_file", settings.ca_file);
  config.set("subscription", settings.subscription);
  config.set("subscription_type", settings.subscription_type);
  config.set("receiver_queue_size", settings.receiver_queue_size);
  config.set("redelivery_delay", settings.redelivery_delay);
  config.set("keepalive", settings.keepalive);
  config.set("max_reconnect_backoff", std::chrono::milliseconds(500));
  if (!settings.token.empty()) config.set("token", settings.token);
  auto created = create_source(std::move(config), logger);
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created).value() : nullptr;
}

std::string seq_value(int seq, const std::string& key = "") {
  return "{\"seq\":" + std::to_string(seq) + (key.empty() ? "" : ",\"key\":\"" + key + "\"") + "}";
}

int seq_of(const std::string& value) {
  auto at = value.find("\"seq\":");
  return at == std::string::npos ? -1 : std::stoi(value.substr(at + 6));
}

std::multiset<int> seqs(const std::vector<RecordingEmitter::Emitted>& emitted) {
  std::multiset<int> out;
  for (const auto& item : emitted) out.insert(seq_of(item.value));
  return out;
}

// Each message once, however often it came.
std::set<int> distinct_seqs(const RecordingEmitter& emitter) {
  std::set<int> out;
  for (const auto& item : emitter.emitted()) out.insert(seq_of(item.value));
  return out;
}

std::set<int> range_set(int from, int to) {
  std::set<int> out;
  for (int i = from; i < to; ++i) out.insert(i);
  return out;
}

void produce(const PulsarTarget& target, const std::string& topic, int from, int to) {
  PulsarProducer producer(target.url(), topic);
  std::vector<std::pair<std::optional<std::string>, std::string>> messages;
  for (int seq = from; seq < to; ++seq) messages.emplace_back("k" + std::to_string(seq % 7), seq_value(seq));
  producer.send_all(messages);
}

// An engine with the Pulsar source and a memory sink `cache` routed from `route`.
sdk::Result<std::unique_ptr<Engine>> pulsar_to_memory(const PulsarTarget& target, const std::string& topic,
                                                      const std::string& route) {
  return EngineBuilder()
      .without_plugin_files()
      .register_plugin(invalidator_static_plugin_pulsar())
      .register_plugin(invalidator_static_plugin_memory())
      .config_string("[sources.pulsar]\ntype = \"pulsar\"\nurl = \"" + target.url() + "\"\ntopics = [\"" + topic +
                     "\"]\n[sinks.cache]\ntype = \"memory\"\n[[routes]]\nfrom = [\"pulsar\"]\nto = [\"cache\"]\n" + route)
      .build();
}

// Real Debezium fixtures, published as Debezium Server's Pulsar sink publishes them (the
// record key as the message key, a tombstone as an empty payload), come out as exactly the
// expected invalidations, and the broker has every message acknowledged.
TEST(PulsarSource, DeliversTheKeysOfRealDebeziumFixturesAndAcknowledgesEachMessage) {
  PulsarTarget target;
  const std::string topic = target.unique_topic("fullfillment.inventory.products");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  PulsarProducer producer(target.url(), topic);
  const std::vector<std::string> values{"pg_create_no_schema.json",           "pg_update_replica_full_no_schema.json",
                                        "pg_update_before_null_no_schema.json", "pg_delete_replica_full_no_schema.json",
                                        "pg_snapshot_read_with_schema.json",    "unwrap_create_plain.json"};
  for (const auto& file : values) producer.send(fixture("debezium/" + file), "{\"id\":1}");
  producer.send("", fixture("debezium/pg_tombstone.key.no_schema.json"));
  const std::uint64_t produced = values.size() + 1;

  auto engine = pulsar_to_memory(target, topic,
                                 "table = \"*.products\"\nops = [\"insert\", \"update\", \"delete\", \"read\"]\n"
                                 "keys = [\"product:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  sdk::Cache* cache = (*engine)->cache("cache");
  for (const char* key : {"product:101", "product:106", "product:110", "product:111", "product:999"}) {
    cache->put(key, "cached");
  }
  ASSERT_TRUE((*engine)->start().ok());
  EXPECT_TRUE(eventually([&] { return (*engine)->stats().acknowledged >= produced; }))
      << "acknowledged " << (*engine)->stats().acknowledged << " of " << produced;
  if (auto* broker = target.broker()) {
    EXPECT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").acknowledged == produced; }))
        << broker->stats(topic, "invalidator").acknowledged << " of " << produced << " acknowledged at the broker";
  }
  ASSERT_TRUE((*engine)->stop().ok());
  for (const char* key : {"product:101", "product:106", "product:110", "product:111"}) {
    EXPECT_EQ(cache->get(key), std::nullopt) << key;
  }
  EXPECT_EQ(cache->get("product:999"), "cached") << "a key no event named";
  auto stats = (*engine)->stats();
  EXPECT_EQ(stats.events, 6u);
  EXPECT_EQ(stats.skipped, 1u) << "the tombstone";
}

// The message key reaches the routes as the record key, and properties as headers.
TEST(PulsarSource, TheMessageKeyIsTheRecordKeyAndPropertiesAreHeaders) {
  PulsarTarget target;
  const std::string topic = target.unique_topic("shop.public.customers");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  auto engine = pulsar_to_memory(target, topic,
                                 "table = \"public.customers\"\nkeys = [\"tenant:{header:tenant}:customer:{id}\"]\n");
  ASSERT_TRUE(engine) << engine.error();
  sdk::Cache* cache = (*engine)->cache("cache");
  cache->put("tenant:acme:customer:7", "cached");
  ASSERT_TRUE((*engine)->start().ok());
  PulsarProducer producer(target.url(), topic);
  // A delete without a before image: the row's key comes from the record key alone.
  producer.send(R"({"before":null,"after":null,"source":{"schema":"public","table":"customers"},"op":"d"})",
                R"({"id":7})", {{"tenant", "acme"}});
  EXPECT_TRUE(eventually([&] { return !cache->get("tenant:acme:customer:7").has_value(); }));
  ASSERT_TRUE((*engine)->stop().ok());
}

// Each message is acknowledged on its own once done, in any order: a message still in the
// pipeline holds back none after it.
TEST(PulsarSource, EachMessageIsAcknowledgedOnItsOwnInAnyOrder) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  const std::string topic = target.unique_topic("individual");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  produce(target, topic, 0, 30);
  auto source = make_source(target, {topic});
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->completion(), sdk::Completion::individual);
  RecordingEmitter emitter;
  SourceThread running(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(30, 30s));
  auto emitted = emitter.emitted();
  // Everything but the first message, last first.
  for (auto item = emitted.rbegin(); item != emitted.rend(); ++item) {
    if (seq_of(item->value) != 0) source->complete(item->position);
  }
  auto* broker = target.broker();
  EXPECT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").acknowledged == 29; }, 10s));
  const auto stats = broker->stats(topic, "invalidator");
  EXPECT_EQ(stats.unacknowledged, 1u) << "the first message, still in the pipeline";
  EXPECT_EQ(stats.acknowledge_frames, 29u) << "one acknowledgement per message";
  EXPECT_TRUE(running.stop().ok());
}

// A message that was not kept is negatively acknowledged: the broker sends it again after
// redelivery_delay, and nothing else is sent twice.
TEST(PulsarSource, ARejectedMessageIsNegativelyAcknowledgedAndComesAgain) {
  PulsarTarget target;
  const std::string topic = target.unique_topic("rejected");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  produce(target, topic, 0, 5);
  auto source = make_source(target, {topic});
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  SourceThread running(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(5, 30s));
  for (const auto& item : emitter.emitted()) {
    if (seq_of(item.value) == 2) {
      source->reject(item.position, "the pipeline could not keep it (test)");
    } else {
      source->complete(item.position);
    }
  }
  ASSERT_TRUE(emitter.wait_for(6, 30s)) << "message 2 did not come again";
  const auto emitted = emitter.emitted();
  EXPECT_EQ(seq_of(emitted.back().value), 2);
  source->complete(emitted.back().position);
  if (auto* broker = target.broker()) {
    EXPECT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").acknowledged == 5; }, 10s));
    EXPECT_EQ(broker->stats(topic, "invalidator").negatively_acknowledged, 1u);
  }
  std::this_thread::sleep_for(300ms);  // watched for a while: nothing else comes again
  EXPECT_EQ(emitter.emitted().size(), 6u);
  EXPECT_TRUE(running.stop().ok());
}

// A full pipeline stops the broker: it sends no more than the permits granted, which the
// source grants only as the pipeline takes messages.
TEST(PulsarSource, AFullPipelineStopsTheBrokerInsteadOfFillingTheSource) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  const std::string topic = target.unique_topic("flow");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  produce(target, topic, 0, 500);
  SourceSettings settings;
  settings.receiver_queue_size = 20;
  auto source = make_source(target, {topic}, settings);
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter(5);
  emitter.acknowledge_with(source.get());
  SourceThread running(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(5, 30s));
  auto* broker = target.broker();
  // The broker's side settles once the permits are used up.
  ASSERT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").permits == 0; }, 10s));
  std::this_thread::sleep_for(300ms);
  auto stats = broker->stats(topic, "invalidator");
  EXPECT_LE(stats.delivered, 5u + 20u) << "sent beyond what the pipeline took and the permits";
  EXPECT_GE(stats.waiting, 500u - 25u) << "the rest waits at the broker";
  emitter.open();
  ASSERT_TRUE(emitter.wait_for(500, 60s)) << emitter.emitted().size() << " of 500";
  EXPECT_EQ(seqs(emitter.emitted()).size(), 500u);
  EXPECT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").acknowledged == 500; }, 10s));
  stats = broker->stats(topic, "invalidator");
  EXPECT_EQ(stats.redelivered, 0u);
  EXPECT_LT(stats.permit_frames, 100u) << "permits are granted in batches, not one frame per message";
  EXPECT_TRUE(running.stop().ok());
}

// Connections dropped without a word, closed with an error code, and a broker that goes
// down and comes up again: the source connects again and reads on; nothing is missed.
TEST(PulsarSource, ResumesAfterDroppedConnectionsErrorClosesAndABrokerRestart) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  auto* broker = target.broker();
  const std::string topic = target.unique_topic("resume");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  CapturingLogger logger;
  auto source = make_source(target, {topic}, {}, &logger);
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  emitter.acknowledge_with(source.get());
  SourceThread running(*source, emitter);
  ASSERT_TRUE(eventually([&] { return logger.contains("consuming"); }, 10s)) << logger.all();

  produce(target, topic, 0, 100);
  ASSERT_TRUE(emitter.wait_for(100, 30s));
  broker->drop_consumers();
  produce(target, topic, 100, 200);
  ASSERT_TRUE(eventually([&] { return distinct_seqs(emitter) == range_set(0, 200); }, 30s))
      << "after a dropped connection: " << emitter.emitted().size();

  broker->close_consumers(1011, "internal server error (test)");
  produce(target, topic, 200, 300);
  ASSERT_TRUE(eventually([&] { return distinct_seqs(emitter) == range_set(0, 300); }, 30s)) << "after an error close";
  EXPECT_TRUE(logger.contains("code 1011")) << logger.all();

  broker->go_down();
  std::this_thread::sleep_for(300ms);  // attempts fail meanwhile
  broker->come_up();
  produce(target, topic, 300, 400);
  ASSERT_TRUE(eventually([&] { return distinct_seqs(emitter) == range_set(0, 400); }, 30s)) << "after a broker restart";
  EXPECT_TRUE(eventually([&] { return broker->stats(topic, "invalidator").acknowledged == 400; }, 10s));
  EXPECT_TRUE(logger.contains("connected to")) << logger.all();
  EXPECT_TRUE(running.stop().ok());
}

// Key_Shared: two processes on one subscription share the keys; each key's messages go to one
// of them, in order.
TEST(PulsarSource, KeySharedSpreadsKeysOverTwoConsumersEachKeyInOrder) {
  PulsarTarget target;
  const std::string topic = target.unique_topic("keyshared");
  testing::create_pulsar_subscription(target.url(), topic, "shared-keys");
  SourceSettings settings;
  settings.subscription = "shared-keys";
  settings.receiver_queue_size = 50;
  CapturingLogger first_logger;
  CapturingLogger second_logger;
  auto first = make_source(target, {topic}, settings, &first_logger);
  auto second = make_source(target, {topic}, settings, &second_logger);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  RecordingEmitter first_emitter;
  RecordingEmitter second_emitter;
  first_emitter.acknowledge_with(first.get());
  second_emitter.acknowledge_with(second.get());
  SourceThread first_running(*first, first_emitter);
  SourceThread second_running(*second, second_emitter);
  // Both connected before the first message: a consumer that joins later takes keys over.
  ASSERT_TRUE(eventually([&] { return first_logger.contains("consuming") && second_logger.contains("consuming"); }, 10s));
  PulsarProducer producer(target.url(), topic);
  std::vector<std::pair<std::optional<std::string>, std::string>> messages;
  for (int seq = 0; seq < 400; ++seq) {
    const std::string key = "customer-" + std::to_string(seq % 20);
    messages.emplace_back(key, seq_value(seq, key));
  }
  producer.send_all(messages);
  ASSERT_TRUE(eventually([&] { return first_emitter.emitted().size() + second_emitter.emitted().size() >= 400; }, 30s));
  EXPECT_TRUE(first_running.stop().ok());
  EXPECT_TRUE(second_running.stop().ok());

  auto keys_of = [](const std::vector<RecordingEmitter::Emitted>& emitted) {
    std::map<std::string, std::vector<int>> keys;
    for (const auto& item : emitted) {
      const auto at = item.value.find("\"key\":\"");
      keys[item.value.substr(at + 7, item.value.find('"', at + 7) - at - 7)].push_back(seq_of(item.value));
    }
    return keys;
  };
  const auto first_keys = keys_of(first_emitter.emitted());
  const auto second_keys = keys_of(second_emitter.emitted());
  EXPECT_FALSE(first_keys.empty());
  EXPECT_FALSE(second_keys.empty());
  EXPECT_EQ(first_keys.size() + second_keys.size(), 20u) << "a key went to both consumers";
  for (const auto* keys : {&first_keys, &second_keys}) {
    for (const auto& [key, order] : *keys) {
      EXPECT_EQ(order.size(), 20u) << key;
      EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << key << " out of order";
    }
  }
}

// A broker that refuses the token ends the run with the reason; the right token is let in.
TEST(PulsarSource, ARefusedTokenEndsTheRunAndTheRightOneIsLetIn) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  target.broker()->require_token("s3cret");
  const std::string topic = target.unique_topic("auth");
  {
    SourceSettings settings;
    settings.token = "wrong";
    auto source = make_source(target, {topic}, settings);
    ASSERT_NE(source, nullptr);
    RecordingEmitter emitter;
    std::stop_source never;  // only the refusal may end the run
    auto run = std::async(std::launch::async, [&] { return source->run(emitter, never.get_token()); });
    const bool ended = run.wait_for(30s) == std::future_status::ready;
    if (!ended) never.request_stop();
    ASSERT_TRUE(ended) << "a refused token was retried instead of ending the run";
    const auto status = run.get();
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("HTTP 401"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("token"), std::string::npos) << status.message();
  }
  testing::create_pulsar_subscription(target.url(), topic, "invalidator", "Key_Shared", "s3cret");
  target.broker()->publish(topic, seq_value(1));
  SourceSettings settings;
  settings.token = "s3cret";
  auto source = make_source(target, {topic}, settings);
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  SourceThread running(*source, emitter);
  EXPECT_TRUE(emitter.wait_for(1, 30s));
  EXPECT_TRUE(running.stop().ok());
}

// A dead connection (the broker neither sends nor answers pings) is found by the keepalive
// and opened again.
TEST(PulsarSource, AConnectionThatAnswersNothingIsTakenForDeadAndOpenedAgain) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  auto* broker = target.broker();
  const std::string topic = target.unique_topic("keepalive");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  CapturingLogger logger;
  SourceSettings settings;
  settings.keepalive = 400ms;
  auto source = make_source(target, {topic}, settings, &logger);
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  emitter.acknowledge_with(source.get());
  SourceThread running(*source, emitter);
  ASSERT_TRUE(eventually([&] { return logger.contains("consuming"); }, 10s)) << logger.all();
  broker->hang();
  EXPECT_TRUE(eventually([&] { return logger.contains("taken for dead"); }, 10s)) << logger.all();
  broker->resume();
  produce(target, topic, 0, 10);
  EXPECT_TRUE(emitter.wait_for(10, 30s));
  EXPECT_TRUE(running.stop().ok());
}

// wss://: the broker's certificate is checked against ca_file (and its name against the
// host); a certificate of another authority is refused, and the source keeps trying.
TEST(PulsarSource, ReadsOverTlsAndRefusesACertificateOfAnotherAuthority) {
  PulsarTarget target;
  INVALIDATOR_NEEDS_TEST_BROKER(target);
  testing::TempDir authority;
  testing::TempDir other_authority;
  ASSERT_TRUE(testing::make_self_signed_certificate(authority.path())) << "openssl could not make a certificate";
  ASSERT_TRUE(testing::make_self_signed_certificate(other_authority.path()));
  testing::TlsFront front(authority.path() / "cert.pem", authority.path() / "key.pem", target.broker()->port());
  const std::string topic = target.unique_topic("tls");
  testing::create_pulsar_subscription(target.url(), topic, "invalidator");
  for (int seq = 0; seq < 5; ++seq) target.broker()->publish(topic, seq_value(seq));
  SourceSettings settings;
  settings.url = "wss://localhost:" + std::to_string(front.port());
  {
    CapturingLogger logger;
    settings.ca_file = (other_authority.path() / "cert.pem").string();
    auto source = make_source(target, {topic}, settings, &logger);
    ASSERT_NE(source, nullptr);
    RecordingEmitter emitter;
    SourceThread running(*source, emitter);
    EXPECT_TRUE(eventually([&] { return logger.contains("TLS handshake with localhost failed"); }, 10s)) << logger.all();
    EXPECT_TRUE(running.stop().ok());
    EXPECT_TRUE(emitter.emitted().empty()) << "read from a server whose certificate was not checked";
  }
  settings.ca_file = (authority.path() / "cert.pem").string();
  auto source = make_source(target, {topic}, settings);
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  emitter.acknowledge_with(source.get());
  SourceThread running(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(5, 30s));
  EXPECT_TRUE(eventually([&] { return target.broker()->stats(topic, "invalidator").acknowledged == 5; }, 10s));
  EXPECT_TRUE(running.stop().ok());
}

TEST(PulsarSource, OptionsAreCheckedWhenCreated) {
  auto create = [](const std::string& url, std::vector<std::string> topics, const std::string& ca_file = "") {
    sdk::Config config;
    config.set("url", url);
    config.set("topics", std::move(topics));
    if (!ca_file.empty()) config.set("ca_file", ca_file);
    auto created = create_source(std::move(config));
    return created ? std::string() : created.error();
  };
  EXPECT_NE(create("http://pulsar:8080", {"a"}).find("ws://host:8080"), std::string::npos);
  EXPECT_NE(create("ws://pulsar:8080", {"a/b"}).find("persistent://tenant/namespace/topic"), std::string::npos);
  EXPECT_NE(create("ws://pulsar:8080", {"a", "persistent://public/default/a"}).find("twice"), std::string::npos);
  EXPECT_NE(create("ws://pulsar:8080", {"a"}, "/etc/ssl/ca.pem").find("wss://"), std::string::npos);
  EXPECT_NE(create("wss://pulsar:8443", {"a"}, "/nonexistent/ca.pem").find("ca_file: cannot load '/nonexistent/ca.pem'"),
            std::string::npos);
  EXPECT_EQ(create("wss://pulsar:8443", {"a"}), "");
}

class PulsarHarness final : public sdk::testing::SourceHarness {
 public:
  PulsarHarness() : topic_(target_.unique_topic("conformance")) {
    testing::create_pulsar_subscription(target_.url(), topic_, "invalidator");
  }
  std::unique_ptr<sdk::Source> make_source() override { return plugins::make_source(target_, {topic_}); }
  void produce(const std::vector<std::string>& values) override {
    PulsarProducer producer(target_.url(), topic_);
    std::vector<std::pair<std::optional<std::string>, std::string>> messages;
    for (const auto& value : values) messages.emplace_back(std::nullopt, value);
    producer.send_all(messages);
  }
  std::chrono::milliseconds patience() override { return 30s; }

 private:
  PulsarTarget target_;
  std::string topic_;
};

}  // namespace
}  // namespace invalidator::plugins

namespace invalidator::plugins {
using sdk::testing::SourceConformance;
INSTANTIATE_TEST_SUITE_P(Pulsar, SourceConformance,
                         ::testing::Values(sdk::testing::SourceConformanceParam{
                             "pulsar", [] { return std::make_unique<PulsarHarness>(); }}),
                         sdk::testing::source_conformance_name);
}  // namespace invalidator::plugins
