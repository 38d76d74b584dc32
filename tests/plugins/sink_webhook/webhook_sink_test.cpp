#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <csignal>
#include <map>
#include <set>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"
#include "plugin_host/registry.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"
#include "support/tls_front.hpp"
#include "support/webhook_receiver.hpp"
#include "webhook_request.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(webhook);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::eventually;
using invalidator::testing::WebhookReceiver;
using sdk::testing::SinkConformance;
using sdk::testing::SinkConformanceParam;
using sdk::testing::SinkHarness;

sdk::Config config_for_url(const std::string& url, std::map<std::string, sdk::ConfigValue> extra = {}) {
  sdk::Config config;
  config.set("url", url);
  for (auto& [name, value] : extra) config.set(name, std::move(value));
  return config;
}

sdk::Config config_for(const WebhookReceiver& receiver, std::map<std::string, sdk::ConfigValue> extra = {}) {
  return config_for_url(receiver.url(), std::move(extra));
}

std::unique_ptr<sdk::Sink> make_sink(const sdk::Config& config) {
  auto created = invalidator_static_plugin_webhook().create_sink(config, sdk::PluginContext{});
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created.value()) : nullptr;
}

// The suite against the sink, loaded from its plugin file or linked in, and a receiver whose
// own store is the cache: what a service behind a webhook keeps.
class WebhookHarness final : public SinkHarness {
 public:
  explicit WebhookHarness(bool loaded) : loaded_(loaded) {}
  std::unique_ptr<sdk::Sink> make_sink() override {
    if (!loaded_) return plugins::make_sink(config_for(receiver_));
    static plugin_host::Registry registry;
    if (!registry.find(sdk::PluginKind::sink, "webhook")) {
      auto loaded = registry.load_file(std::string(INVALIDATOR_BUILD_PLUGIN_DIR) + "/libinvalidator_sink_webhook.so");
      EXPECT_TRUE(loaded) << loaded.message();
    }
    auto created = registry.create_sink("webhook", config_for(receiver_), sdk::PluginContext{});
    EXPECT_TRUE(created) << created.error();
    return created ? std::move(created.value()) : nullptr;
  }
  void put(const std::string& key, const std::string& value) override { receiver_.put(key, value); }
  std::optional<std::string> read(const std::string& key) override { return receiver_.get(key); }
  bool supports(sdk::Action) override { return true; }
  bool begin_outage() override {
    receiver_.stop();
    return true;
  }
  void end_outage() override { receiver_.start(); }

 private:
  bool loaded_;
  WebhookReceiver receiver_;
};

INSTANTIATE_TEST_SUITE_P(Webhook, SinkConformance,
                         ::testing::Values(SinkConformanceParam{"static", [] { return std::make_unique<WebhookHarness>(false); }},
                                           SinkConformanceParam{"loaded", [] { return std::make_unique<WebhookHarness>(true); }}),
                         sdk::testing::conformance_name);

// The receiver's check, written here apart from the sink's code: HMAC-SHA256 of "<t>.<body>".
std::string expected_signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  const std::string text = timestamp + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), digest, &length);
  char hex[2 * EVP_MAX_MD_SIZE + 1] = {};
  for (unsigned int i = 0; i < length; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return hex;
}

// Checks an Invalidator-Signature header as a receiver would, replay window included.
void expect_valid_signature(const WebhookReceiver::Request& request, const std::string& secret) {
  auto header = request.headers.find("invalidator-signature");
  ASSERT_NE(header, request.headers.end()) << "no Invalidator-Signature header";
  const std::string& value = header->second;  // t=<seconds>,v1=<hex>
  ASSERT_TRUE(value.starts_with("t=")) << value;
  const auto comma = value.find(",v1=");
  ASSERT_NE(comma, std::string::npos) << value;
  const std::string timestamp = value.substr(2, comma - 2);
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(std::llabs(now - std::stoll(timestamp)), 300) << "outside a five-minute replay window";
  EXPECT_EQ(value.substr(comma + 4), expected_signature(secret, timestamp, request.body));
}

sdk::Invalidation removal(std::string key, std::uint64_t version) {
  sdk::Invalidation item;
  item.key = std::move(key);
  item.version = version;
  return item;
}

TEST(WebhookSink, SendsTheDocumentedBodySignedAndWithOneIdempotencyKeyAcrossRetries) {
  WebhookReceiver receiver;
  auto sink = make_sink(config_for(receiver, {{"secret", std::string("s3cret")},
                                              {"bearer_token", std::string("t0ken")},
                                              {"headers", std::map<std::string, std::string>{{"X-Tenant", "shop"}}}}));
  ASSERT_TRUE(sink->start().ok());
  const sdk::InvalidationOrigin origin{"public.customers", sdk::Op::update, "pg", "routes[0]"};
  sdk::Invalidation deleted = removal("customer:42", 4242);
  deleted.origin = &origin;
  deleted.commit_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'796'000'000'123));
  sdk::Invalidation written;
  written.action = sdk::Action::set_value;
  written.key = "customer:\"quoted\"";
  written.value = "{\"name\":\"Ada\"}";
  written.version = 4243;
  std::vector<sdk::Invalidation> batch{deleted, written};

  receiver.fail_next(503, 1);
  auto refused = sink->deliver(batch, {0xabc, 1});
  EXPECT_EQ(refused.kind(), sdk::DeliveryResult::Kind::retry) << refused.reason();
  auto accepted = sink->deliver(batch, {0xabc, 2});
  ASSERT_TRUE(accepted.is_ok()) << accepted.reason();

  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/invalidate");
    EXPECT_EQ(request.headers.at("content-type"), "application/json");
    EXPECT_EQ(request.headers.at("authorization"), "Bearer t0ken");
    EXPECT_EQ(request.headers.at("x-tenant"), "shop");
    EXPECT_EQ(request.headers.at("idempotency-key"), "invalidator-0000000000000abc") << "the same for every attempt";
    expect_valid_signature(request, "s3cret");
  }

  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(requests[1].body);
  simdjson::dom::array items = body["invalidations"].get_array();
  ASSERT_EQ(items.size(), 2u);
  simdjson::dom::element first = items.at(0);
  EXPECT_EQ(first["action"].get_string().value(), "delete");
  EXPECT_EQ(first["key"].get_string().value(), "customer:42");
  EXPECT_EQ(first["table"].get_string().value(), "public.customers");
  EXPECT_EQ(first["op"].get_string().value(), "update");
  EXPECT_EQ(first["version"].get_uint64().value(), 4242u);
  EXPECT_EQ(first["commit_time"].get_string().value(), "2026-11-30T00:53:20.123Z");
  simdjson::dom::element second = items.at(1);
  EXPECT_EQ(second["action"].get_string().value(), "set");
  EXPECT_EQ(second["key"].get_string().value(), "customer:\"quoted\"");
  EXPECT_EQ(second["value"].get_string().value(), "{\"name\":\"Ada\"}");
  EXPECT_TRUE(second["table"].is_null());
  EXPECT_TRUE(second["commit_time"].is_null());
  EXPECT_TRUE(body["sent_at"].is_string());
  EXPECT_EQ(receiver.get("customer:\"quoted\""), "{\"name\":\"Ada\"}");
}

TEST(WebhookSink, PassesOnTheDelayARetryAfterAsksFor) {
  WebhookReceiver receiver;
  auto sink = make_sink(config_for(receiver));
  ASSERT_TRUE(sink->start().ok());
  std::vector<sdk::Invalidation> batch{removal("k", 1)};
  receiver.fail_next(429, 1, "7");
  auto busy = sink->deliver(batch, {1, 1});
  EXPECT_EQ(busy.kind(), sdk::DeliveryResult::Kind::retry);
  EXPECT_EQ(busy.retry_after(), 7s);
  EXPECT_NE(busy.reason().find("answered 429"), std::string::npos) << busy.reason();
  receiver.fail_next(503, 1, "Wed, 21 Oct 2015 07:28:00 GMT");
  auto past = sink->deliver(batch, {1, 2});
  EXPECT_EQ(past.kind(), sdk::DeliveryResult::Kind::retry);
  EXPECT_EQ(past.retry_after(), 0ms) << "a date already past asks for no wait";
  receiver.fail_next(503, 1, "86400");
  auto long_wait = sink->deliver(batch, {1, 3});
  EXPECT_EQ(long_wait.retry_after(), std::chrono::minutes(10)) << "capped";
}

TEST(WebhookSink, ARefusalIsAFailureWithTheStatusAndTheStartOfTheBody) {
  WebhookReceiver receiver;
  auto sink = make_sink(config_for(receiver));
  ASSERT_TRUE(sink->start().ok());
  std::vector<sdk::Invalidation> batch{removal("a", 1), removal("b", 2)};
  receiver.fail_next(400, 1);
  auto refused = sink->deliver(batch, {5, 1});
  ASSERT_EQ(refused.kind(), sdk::DeliveryResult::Kind::failed);
  EXPECT_EQ(refused.reason(), "webhook " + receiver.url() + " answered 400: injected failure");
  receiver.fail_next(408, 1);
  EXPECT_EQ(sink->deliver(batch, {6, 1}).kind(), sdk::DeliveryResult::Kind::retry) << "408 is worth another try";
}

TEST(WebhookSink, AHangingReceiverTimesOutAndTheBatchIsRetried) {
  WebhookReceiver receiver;
  auto sink = make_sink(config_for(receiver, {{"timeout", std::chrono::milliseconds(300)}}));
  ASSERT_TRUE(sink->start().ok());
  std::vector<sdk::Invalidation> batch{removal("hung", 1)};
  receiver.put("hung", "v");
  receiver.hang();
  auto timed_out = sink->deliver(batch, {9, 1});
  EXPECT_EQ(timed_out.kind(), sdk::DeliveryResult::Kind::retry);
  EXPECT_NE(timed_out.reason().find("timed out"), std::string::npos) << timed_out.reason();
  receiver.heal();
  auto delivered = sink->deliver(batch, {9, 2});
  ASSERT_TRUE(delivered.is_ok()) << delivered.reason();
  EXPECT_EQ(receiver.get("hung"), std::nullopt);
}

TEST(WebhookSink, SplitsABatchTheReceiverFindsTooLargeInsteadOfDeadLetteringIt) {
  WebhookReceiver receiver;
  auto sink = make_sink(config_for(receiver));
  ASSERT_TRUE(sink->start().ok());
  constexpr std::size_t kLimit = 2000;
  receiver.refuse_bodies_over(kLimit);
  std::vector<sdk::Invalidation> batch;
  for (int i = 0; i < 100; ++i) {
    receiver.put("big:" + std::to_string(i), "v");
    batch.push_back(removal("big:" + std::to_string(i), static_cast<std::uint64_t>(i + 1)));
  }
  auto result = sink->deliver(batch, {11, 1});
  ASSERT_TRUE(result.is_ok()) << result.reason();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(receiver.get("big:" + std::to_string(i)), std::nullopt) << i;
  // In order, once each, every accepted part under the limit with a key of its own.
  std::vector<std::string> keys;
  for (const auto& applied : receiver.applied()) keys.push_back(applied.key);
  ASSERT_EQ(keys.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(keys[static_cast<std::size_t>(i)], "big:" + std::to_string(i));
  std::set<std::string> idempotency_keys;
  for (const auto& request : receiver.requests()) {
    if (request.status != 200) continue;
    EXPECT_LE(request.body.size(), kLimit);
    EXPECT_TRUE(idempotency_keys.insert(request.headers.at("idempotency-key")).second);
  }

  // One invalidation over the limit on its own: that one is refused, its neighbours go.
  sdk::Invalidation huge;
  huge.action = sdk::Action::set_value;
  huge.key = "huge";
  huge.value = std::string(3 * kLimit, 'x');
  std::vector<sdk::Invalidation> mixed{removal("before", 1), huge, removal("after", 2)};
  auto partly = sink->deliver(mixed, {12, 1});
  ASSERT_EQ(partly.kind(), sdk::DeliveryResult::Kind::partial) << partly.reason();
  ASSERT_EQ(partly.failures().size(), 1u);
  EXPECT_EQ(partly.failures()[0].index, 1u);
  EXPECT_FALSE(partly.failures()[0].retryable);
  EXPECT_NE(partly.failures()[0].reason.find("answered 413"), std::string::npos) << partly.failures()[0].reason;
  EXPECT_NE(partly.failures()[0].reason.find("larger than the receiver accepts"), std::string::npos);
}

class CapturingLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    text_ += std::string(message) + "\n";
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

TEST(WebhookSink, ChecksTheReceiversCertificateUnlessToldNotTo) {
  testing::TempDir directory;
  ASSERT_TRUE(testing::make_self_signed_certificate(directory.path())) << "openssl could not make a certificate";
  WebhookReceiver receiver;
  testing::TlsFront front(directory / "cert.pem", directory / "key.pem", static_cast<std::uint16_t>(receiver.port()));
  const std::string url = "https://localhost:" + std::to_string(front.port()) + "/invalidate";
  std::vector<sdk::Invalidation> batch{removal("tls", 1)};

  auto trusting = make_sink(config_for_url(url, {{"ca_file", (directory / "cert.pem").string()}}));
  ASSERT_TRUE(trusting->start().ok());
  receiver.put("tls", "v");
  auto delivered = trusting->deliver(batch, {31, 1});
  ASSERT_TRUE(delivered.is_ok()) << delivered.reason();
  EXPECT_EQ(receiver.get("tls"), std::nullopt);

  auto checking = make_sink(config_for_url(url));
  ASSERT_TRUE(checking->start().ok());
  receiver.put("tls", "v");
  auto refused = checking->deliver(batch, {32, 1});
  EXPECT_EQ(refused.kind(), sdk::DeliveryResult::Kind::retry) << "an unknown certificate is not the receiver's verdict";
  EXPECT_NE(refused.reason().find("certificate"), std::string::npos) << refused.reason();
  EXPECT_EQ(receiver.get("tls"), "v") << "sent to a receiver whose certificate is not trusted";

  CapturingLogger logger;
  sdk::PluginContext context;
  context.instance_name = "hook";
  context.logger = &logger;
  sdk::Config insecure = config_for_url(url, {{"insecure_skip_verify", true}});
  auto created = invalidator_static_plugin_webhook().create_sink(insecure, context);
  ASSERT_TRUE(created) << created.error();
  auto skipping = std::move(created.value());
  ASSERT_TRUE(skipping->start().ok());
  EXPECT_NE(logger.text().find("insecure_skip_verify = true"), std::string::npos) << logger.text();
  auto accepted = skipping->deliver(batch, {33, 1});
  EXPECT_TRUE(accepted.is_ok()) << accepted.reason();
  EXPECT_EQ(receiver.get("tls"), std::nullopt);
}

TEST(WebhookSink, RefusesOptionsItCannotHonourAndNeverRepeatsASecret) {
  auto attempt = [](std::map<std::string, sdk::ConfigValue> values) {
    sdk::Config config;
    for (auto& [name, value] : values) config.set(name, std::move(value));
    auto created = invalidator_static_plugin_webhook().create_sink(config, sdk::PluginContext{});
    return created ? std::string() : created.error();
  };
  EXPECT_NE(attempt({{"url", std::string("ftp://127.0.0.1/x")}}).find("http:// or https://"), std::string::npos);
  EXPECT_NE(attempt({{"url", std::string("not a url")}}).find("write http://host:port/path"), std::string::npos);
  EXPECT_NE(attempt({{"url", std::string("http://127.0.0.1/x")}, {"ca_file", std::string("/etc/ssl/ca.pem")}})
                .find("only an https:// url"),
            std::string::npos);
  EXPECT_NE(attempt({{"url", std::string("http://127.0.0.1/x")},
                     {"headers", std::map<std::string, std::string>{{"Idempotency-Key", "mine"}}}})
                .find("written by the sink itself"),
            std::string::npos);
  const std::string with_secret = attempt({{"url", std::string("http://127.0.0.1/x")},
                                           {"bearer_token", std::string("hunter2")},
                                           {"headers", std::map<std::string, std::string>{{"X-Key", "sw0rdfish\r\nX: y"}}}});
  EXPECT_NE(with_secret.find("line break"), std::string::npos) << with_secret;
  EXPECT_EQ(with_secret.find("hunter2"), std::string::npos) << with_secret;
  EXPECT_EQ(with_secret.find("sw0rdfish"), std::string::npos) << with_secret;
  const std::string credentials = attempt({{"url", std::string("gopher://user:pa55word@127.0.0.1/x?token=abc")}});
  EXPECT_EQ(credentials.find("pa55word"), std::string::npos) << credentials;
}

// ----- In a pipeline: what the core makes of the sink's answers -------------------------

struct LogLines {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::string all() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
  }
};

// Updates customer id (i % customers) in turn, its LSN i + 1: the last version of each key is known.
std::vector<std::string> customer_updates(int count, int customers) {
  std::vector<std::string> values;
  for (int i = 0; i < count; ++i) {
    values.push_back(testing::customer_update(i % customers, "old", "new" + std::to_string(i), static_cast<std::uint64_t>(i + 1)));
  }
  return values;
}

std::unique_ptr<Engine> webhook_engine(std::unique_ptr<sdk::Source> source, const std::string& sink_table,
                                       const std::filesystem::path& state_dir, LogLines& log) {
  return testing::build(EngineBuilder()
                            .register_plugin(invalidator_static_plugin_webhook())
                            .config_string("[engine]\nstate_dir = \"" + state_dir.string() +
                                           "\"\n[sinks.hook]\ntype = \"webhook\"\n" + sink_table +
                                           "[sinks.hook.retry]\ninitial_backoff = \"20ms\"\nmax_backoff = \"200ms\"\n")
                            .add_source("source", std::move(source))
                            .add_route(testing::customer_id_route("hook"))
                            .log_to([&log](sdk::LogLevel, std::string_view line) {
                              std::lock_guard lock(log.mutex);
                              log.lines.emplace_back(line);
                            }));
}

// Every key's invalidations arrived in version order, the last one the newest change.
void expect_every_key_invalidated_in_order(const WebhookReceiver& receiver, int count, int customers) {
  std::map<std::string, std::uint64_t> last;
  for (const auto& applied : receiver.applied()) {
    auto& seen = last[applied.key];
    EXPECT_GE(applied.version, seen) << applied.key << " went back from " << seen << " to " << applied.version;
    seen = applied.version;
  }
  ASSERT_EQ(last.size(), static_cast<std::size_t>(customers));
  for (int id = 0; id < customers; ++id) {
    const std::uint64_t newest = static_cast<std::uint64_t>(count - customers + id + 1);
    EXPECT_EQ(last["customer:" + std::to_string(id)], newest) << "customer " << id;
  }
}

TEST(WebhookPipeline, AReceiverFailingForThreeSecondsLosesNothingAndKeepsEachKeysOrder) {
  testing::TempDir state;
  WebhookReceiver receiver;
  receiver.fail_until(500, std::chrono::steady_clock::now() + 3s);
  constexpr int kCount = 3000;
  constexpr int kCustomers = 40;
  auto source = std::make_unique<testing::ScriptedSource>(customer_updates(kCount, kCustomers));
  auto* source_ptr = source.get();
  LogLines log;
  auto engine = webhook_engine(std::move(source),
                               "url = \"" + receiver.url() + "\"\nsecret = \"k3y\"\nlanes = 4\n[sinks.hook.batch]\nmax_events = 64\n",
                               state.path(), log);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  const auto stats = engine->stats();
  EXPECT_EQ(stats.dead_lettered, 0u);
  EXPECT_GT(stats.retries, 0u) << "the receiver's failures were retried";
  EXPECT_EQ(source_ptr->last_acknowledged(), static_cast<std::uint64_t>(kCount));
  expect_every_key_invalidated_in_order(receiver, kCount, kCustomers);
  std::map<std::string, std::set<std::string>> bodies_by_key;  // one batch, one body, whatever its attempt
  for (const auto& request : receiver.requests()) {
    expect_valid_signature(request, "k3y");
    bodies_by_key[request.headers.at("idempotency-key")].insert(request.body.substr(0, request.body.find("],\"sent_at\"")));
  }
  for (const auto& [key, bodies] : bodies_by_key) EXPECT_EQ(bodies.size(), 1u) << key << " named different batches";
  EXPECT_EQ(log.all().find("k3y"), std::string::npos) << "the secret was logged";
}

TEST(WebhookPipeline, ARetryAfterIsWaitedFor) {
  testing::TempDir state;
  WebhookReceiver receiver;
  receiver.fail_next(429, 1, "1");
  LogLines log;
  auto engine = webhook_engine(std::make_unique<testing::ScriptedSource>(customer_updates(1, 1)),
                               "url = \"" + receiver.url() + "\"\n", state.path(), log);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  // A lower bound the sink must keep, however slow the machine: not a measure of speed.
  EXPECT_GE(requests[1].received - requests[0].received, 1s);
  EXPECT_EQ(receiver.applied().size(), 1u);
}

TEST(WebhookPipeline, WhatTheReceiverRefusesIsDeadLetteredWithItsReason) {
  testing::TempDir state;
  WebhookReceiver receiver;
  receiver.fail_next(400, 1);
  auto source = std::make_unique<testing::ScriptedSource>(customer_updates(3, 3));
  auto* source_ptr = source.get();
  LogLines log;
  auto engine = webhook_engine(std::move(source),
                               "url = \"" + receiver.url() + "\"\n[sinks.hook.batch]\nmax_delay = \"1s\"\n", state.path(), log);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  EXPECT_EQ(engine->stats().dead_lettered, 3u);
  EXPECT_EQ(source_ptr->last_acknowledged(), 3u) << "dead-lettered, then acknowledged";
  const std::string dead_letters = testing::read_file(state.path() / "dead-letters.jsonl");
  EXPECT_NE(dead_letters.find("answered 400: injected failure"), std::string::npos) << dead_letters;
}

TEST(WebhookPipeline, AReceiverStoppedAndStartedAgainGetsEverything) {
  testing::TempDir state;
  WebhookReceiver receiver;
  receiver.stop();
  constexpr int kCount = 500;
  constexpr int kCustomers = 25;
  auto source = std::make_unique<testing::ScriptedSource>(customer_updates(kCount, kCustomers));
  auto* source_ptr = source.get();
  LogLines log;
  auto engine = webhook_engine(std::move(source), "url = \"" + receiver.url() + "\"\n", state.path(), log);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(eventually([&] { return engine->stats().retries >= 3; }));
  EXPECT_EQ(source_ptr->last_acknowledged(), 0u) << "acknowledged while the receiver was down";
  receiver.start();
  ASSERT_TRUE(engine->wait().ok());
  EXPECT_EQ(engine->stats().dead_lettered, 0u);
  EXPECT_EQ(source_ptr->last_acknowledged(), static_cast<std::uint64_t>(kCount));
  expect_every_key_invalidated_in_order(receiver, kCount, kCustomers);
  EXPECT_NE(log.all().find("answers again"), std::string::npos) << log.all();
}

// The example configuration validates, and what validate prints holds none of its secrets.
TEST(WebhookConfig, TheExampleConfigurationValidatesWithoutShowingItsSecrets) {
  const std::string config = std::string(INVALIDATOR_SOURCE_DIR) + "/configs/debezium-kafka-webhook.toml";
  auto result = testing::run_command("WEBHOOK_SECRET=s3cr3t-from-env WEBHOOK_TOKEN=t0k3n-from-env " +
                                     std::string(INVALIDATOR_BINARY) + " validate -c " + config);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("ok (1 source(s), 1 sink(s), 1 route(s))"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("s3cr3t-from-env"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("t0k3n-from-env"), std::string::npos) << result.output;

  // A wrong type for a secret option is reported without its value.
  testing::TempDir directory;
  std::string text = testing::read_file(config);
  const std::string secret_line = "secret = \"${WEBHOOK_SECRET:-}\"";
  ASSERT_NE(text.find(secret_line), std::string::npos);
  text.replace(text.find(secret_line), secret_line.size(), "secret = 987654321");
  testing::write_file(directory / "bad.toml", text);
  auto bad = testing::run_command(std::string(INVALIDATOR_BINARY) + " validate -c " + (directory / "bad.toml").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("sinks.service.secret"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("987654321"), std::string::npos) << bad.output;
}

// ----- The receiver example of the plugin's README ----------------------------------------

// The example as the README shows it: the first python block.
std::string readme_receiver() {
  const std::string readme =
      testing::read_file(std::filesystem::path(INVALIDATOR_SOURCE_DIR) / "plugins/sink_webhook/README.md");
  constexpr std::string_view kOpening = "```python\n";
  const auto begin = readme.find(kOpening);
  const auto end = readme.find("```", begin + kOpening.size());
  if (begin == std::string::npos || end == std::string::npos) return {};
  return readme.substr(begin + kOpening.size(), end - begin - kOpening.size());
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// `python3 script port` with WEBHOOK_SECRET set, its output in a file; killed at the end.
class PythonReceiver {
 public:
  PythonReceiver(const std::filesystem::path& script, const std::string& secret, const std::filesystem::path& output)
      : port_(free_loopback_port()) {
    child_ = ::fork();
    if (child_ == 0) {
      ::setenv("WEBHOOK_SECRET", secret.c_str(), 1);
      if (std::freopen(output.c_str(), "w", stdout) == nullptr) ::_exit(126);
      if (std::freopen("/dev/null", "w", stderr) == nullptr) ::_exit(126);
      const std::string port = std::to_string(port_);
      ::execlp("python3", "python3", script.c_str(), port.c_str(), nullptr);
      ::_exit(127);
    }
  }
  ~PythonReceiver() {
    ::kill(child_, SIGTERM);
    testing::wait_for_exit(child_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  bool listening() const {
    httplib::Client client("127.0.0.1", port_);
    return static_cast<bool>(client.Get("/"));
  }

 private:
  int port_;
  pid_t child_ = -1;
};

TEST(WebhookReadme, TheReceiverExampleAcceptsWhatTheSinkSignsAndRefusesTheRest) {
  testing::TempDir directory;
  const std::string example = readme_receiver();
  ASSERT_FALSE(example.empty()) << "no python block in plugins/sink_webhook/README.md";
  EXPECT_LE(std::count(example.begin(), example.end(), '\n'), 25) << "the README promises a short example";
  testing::write_file(directory / "receiver.py", example);
  PythonReceiver python(directory / "receiver.py", "readme-secret", directory / "out.txt");
  ASSERT_TRUE(eventually([&] { return python.listening(); }, 30s)) << "the example does not start";

  std::vector<sdk::Invalidation> batch{removal("customer:1", 1), removal("customer:2", 2)};
  auto signed_sink = make_sink(config_for_url(python.url(), {{"secret", std::string("readme-secret")}}));
  ASSERT_TRUE(signed_sink->start().ok());
  auto accepted = signed_sink->deliver(batch, {21, 1});
  EXPECT_TRUE(accepted.is_ok()) << accepted.reason();
  EXPECT_TRUE(eventually([&] { return testing::read_file(directory / "out.txt") == "delete customer:1\ndelete customer:2\n"; }))
      << testing::read_file(directory / "out.txt");

  auto wrong_secret = make_sink(config_for_url(python.url(), {{"secret", std::string("guess")}}));
  ASSERT_TRUE(wrong_secret->start().ok());
  auto refused = wrong_secret->deliver(batch, {22, 1});
  EXPECT_EQ(refused.kind(), sdk::DeliveryResult::Kind::failed);
  EXPECT_NE(refused.reason().find("answered 401"), std::string::npos) << refused.reason();

  auto unsigned_sink = make_sink(config_for_url(python.url()));
  ASSERT_TRUE(unsigned_sink->start().ok());
  EXPECT_EQ(unsigned_sink->deliver(batch, {23, 1}).kind(), sdk::DeliveryResult::Kind::failed);

  // A request signed ten minutes ago, as a replay would be: refused though the signature is right.
  const std::string body = webhook::request_body(batch, std::chrono::system_clock::now());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  httplib::Client client(python.url().substr(0, python.url().size() - 1));
  auto replayed = client.Post("/", {{"Invalidator-Signature", webhook::signature("readme-secret", now - 600, body)}}, body,
                              "application/json");
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 401);
  auto fresh = client.Post("/", {{"Invalidator-Signature", webhook::signature("readme-secret", now, body)}}, body,
                           "application/json");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 204);
}

}  // namespace
}  // namespace invalidator::plugins
