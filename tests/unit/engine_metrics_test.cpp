#include <gtest/gtest.h>
#include <httplib.h>

#include <simdjson.h>

#include <set>
#include <sstream>

#include "admin/engine_metrics.hpp"
#include "admin/prometheus_text.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using testing::ControlledSink;
using testing::FedSource;
using testing::ScriptedSource;

// The value of the sample `series` (name and labels as written) in an exposition; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

double sum_of(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::string line;
  double total = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

TEST(EngineMetrics, EveryFamilyFollowsTheNamingRules) {
  std::set<std::string> names;
  for (const auto& family : admin::metric_families()) {
    EXPECT_TRUE(admin::is_metric_name(family.name)) << family.name;
    EXPECT_TRUE(std::string_view(family.name).starts_with("invalidator_")) << family.name;
    EXPECT_TRUE(names.insert(family.name).second) << family.name << " declared twice";
    if (family.type == admin::MetricType::counter) {
      EXPECT_TRUE(std::string_view(family.name).ends_with("_total")) << family.name;
    } else {
      EXPECT_FALSE(std::string_view(family.name).ends_with("_total")) << family.name << " is not a counter";
    }
    for (const char* label : family.labels) EXPECT_TRUE(admin::is_label_name(label)) << family.name << ": " << label;
    EXPECT_FALSE(std::string_view(family.help).empty()) << family.name;
  }
}

// The counters of /metrics against what the pipeline did: deliveries, dead letters, retries,
// and one staleness observation for each settled invalidation with a commit time.
TEST(EngineMetrics, TheSinkCountersAddUpToWhatWasDelivered) {
  testing::TempDir dir;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::string> values;
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) {
    values.push_back(testing::customer_update_at(i % 20, "mail" + std::to_string(i), static_cast<std::uint64_t>(i + 1),
                                                 now_ms - 50));
  }
  auto sink = std::make_unique<ControlledSink>();
  ControlledSink* controlled = sink.get();
  controlled->fail_next(2);
  controlled->poison("customer:7");
  auto engine = testing::customers_engine(std::make_unique<ScriptedSource>(values), std::move(sink),
                                          "[engine]\ndead_letter = \"" + (dir / "dead.jsonl").string() + "\"\n");
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  const EngineStats stats = engine->stats();
  const std::string text = engine->metrics_text();

  const double delivered = sample(text, R"(invalidator_invalidations_total{sink="sink",action="delete",result="delivered"})");
  const double dead_lettered =
      sample(text, R"(invalidator_invalidations_total{sink="sink",action="delete",result="dead_lettered"})");
  EXPECT_EQ(delivered, static_cast<double>(stats.delivered)) << text;
  EXPECT_EQ(dead_lettered, static_cast<double>(stats.dead_lettered));
  EXPECT_GT(dead_lettered, 0) << "customer:7 was refused";
  EXPECT_EQ(sample(text, R"(invalidator_invalidations_total{sink="sink",action="set",result="delivered"})"), 0);
  EXPECT_EQ(sample(text, R"(invalidator_retries_total{sink="sink"})"), 2);
  EXPECT_EQ(sample(text, R"(invalidator_batch_size_count{sink="sink"})"), static_cast<double>(controlled->calls.load()));
  EXPECT_EQ(sample(text, R"(invalidator_delivery_seconds_count{sink="sink"})"),
            static_cast<double>(controlled->calls.load()));
  EXPECT_EQ(sample(text, R"(invalidator_staleness_seconds_count{sink="sink"})"), delivered + dead_lettered);
  // Committed 50 ms before the run began: nothing settled sooner than that after its commit.
  EXPECT_EQ(sample(text, R"(invalidator_staleness_seconds_bucket{sink="sink",le="0.025"})"), 0);
  EXPECT_EQ(sum_of(text, "invalidator_keys_unrendered_total{"), static_cast<double>(stats.unrendered_keys));
}

// The whole exposition read back by Prometheus's Python client parser, independent of this code.
TEST(EngineMetrics, PrometheusClientParserReadsTheWholeExposition) {
  auto engine = testing::customers_engine(
      std::make_unique<ScriptedSource>(std::vector<std::string>{testing::customer_update(1, "a", "b", 1)}),
      std::make_unique<ControlledSink>());
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  testing::TempDir directory;
  testing::write_file(directory / "metrics.txt", engine->metrics_text());
  testing::write_file(directory / "read.py",
                      "import sys\n"
                      "from prometheus_client.parser import text_string_to_metric_families\n"
                      "families = list(text_string_to_metric_families(open(sys.argv[1]).read()))\n"
                      "print(len(families), sum(len(f.samples) for f in families))\n");
  auto result = testing::run_command("/usr/bin/python3 " + (directory / "read.py").string() + " " +
                                     (directory / "metrics.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.substr(0, result.output.find(' ')), std::to_string(admin::metric_families().size()))
      << result.output;
}

// The admin endpoint, scraped while a pipeline runs: /metrics counts what was delivered so far,
// /healthz answers, an unknown path is a 404, and a bad address fails the build.
TEST(AdminEndpoint, ServesTheMetricsOfARunningPipeline) {
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) values.push_back(testing::customer_update(i, "a", "b", static_cast<std::uint64_t>(i + 1)));
  auto source = std::make_unique<ScriptedSource>(values, /*wait_for_stop=*/true);
  auto sink = std::make_unique<ControlledSink>();
  auto engine = testing::customers_engine(std::move(source), std::move(sink), "[engine]\nadmin = \"127.0.0.1:0\"\n");
  ASSERT_NE(engine, nullptr);
  EXPECT_FALSE(engine->admin_port()) << "listening before start";
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->admin_port());
  httplib::Client client("127.0.0.1", *engine->admin_port());
  ASSERT_TRUE(testing::eventually([&] { return engine->stats().acknowledged == 50; }));
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(sample(metrics->body, R"(invalidator_invalidations_total{sink="sink",action="delete",result="delivered"})"),
            static_cast<double>(engine->stats().delivered))
      << metrics->body;
  EXPECT_GT(engine->stats().delivered, 0u);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "{\"status\":\"alive\"}\n");
  auto missing = client.Get("/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto posted = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 405);
  ASSERT_TRUE(engine->stop().ok());
}

TEST(AdminEndpoint, ABadAddressIsAConfigurationError) {
  for (const std::string address : {"localhost:9464", "127.0.0.1", "127.0.0.1:70000", "[::1:9464"}) {
    auto built = EngineBuilder()
                     .without_plugin_files()
                     .config_string("[engine]\nadmin = \"" + address + "\"\n")
                     .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{}))
                     .add_sink("sink", std::make_unique<ControlledSink>())
                     .add_route(testing::customers_route())
                     .build();
    ASSERT_FALSE(built) << address;
    EXPECT_NE(built.error().find("engine.admin"), std::string::npos) << built.error();
  }
}

// The source families: what a source handed over, what was skipped by reason, what could not
// be decoded, against the messages the test sent.
TEST(EngineMetrics, TheSourceCountersCountWhatEachSourceHandedOver) {
  testing::TempDir dir;
  std::vector<std::string> values;
  for (int i = 0; i < 40; ++i) values.push_back(testing::customer_update(i, "a", "b", static_cast<std::uint64_t>(i + 1)));
  for (int i = 0; i < 7; ++i) values.push_back("null");  // tombstones
  values.push_back(R"({"schema":null,"payload":null})");
  values.push_back(R"({"before":null,"after":{"id":1},"source":{},"op":"m"})");
  values.push_back("{not json");
  auto engine = testing::customers_engine(std::make_unique<ScriptedSource>(values), std::make_unique<ControlledSink>(),
                                          "[engine]\ndead_letter = \"" + (dir / "dead.jsonl").string() + "\"\n");
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(engine->wait().ok());
  const std::string text = engine->metrics_text();
  EXPECT_EQ(sample(text, R"(invalidator_events_received_total{source="source"})"), 50) << text;
  EXPECT_EQ(sample(text, R"(invalidator_events_skipped_total{source="source",reason="tombstone"})"), 8);
  EXPECT_EQ(sample(text, R"(invalidator_events_skipped_total{source="source",reason="message_event"})"), 1);
  EXPECT_EQ(sample(text, R"(invalidator_events_skipped_total{source="source",reason="heartbeat"})"), 0);
  EXPECT_EQ(sample(text, R"(invalidator_events_undecodable_total{source="source"})"), 1);
  EXPECT_EQ(sample(text, R"(invalidator_source_restarts_total{source="source"})"), 0);
  EXPECT_EQ(sample(text, R"(invalidator_source_up{source="source"})"), 1) << "a bounded source read to its end";
  EXPECT_EQ(sample(text, R"(invalidator_sink_up{sink="sink"})"), 1);
  EXPECT_EQ(sample(text, R"(invalidator_decode_queue_depth)"), 0);
  EXPECT_EQ(sample(text, R"(invalidator_sink_queue_depth{sink="sink"})"), 0);

  const EngineStats stats = engine->stats();
  ASSERT_EQ(stats.sources.size(), 1u);
  EXPECT_EQ(stats.sources[0].received, 50u);
  EXPECT_EQ(stats.sources[0].skipped.at("tombstone"), 8u);
  EXPECT_EQ(stats.sources[0].skipped.count("heartbeat"), 0u) << "reasons never seen are left out";
  EXPECT_EQ(stats.sources[0].undecodable, 1u);
  EXPECT_EQ(stats.sources[0].state, "finished");
}

std::unique_ptr<Engine> fed_engine(std::unique_ptr<FedSource> source, std::unique_ptr<ControlledSink> sink,
                                   const std::string& config = "[engine]\nadmin = \"127.0.0.1:0\"\n") {
  return testing::customers_engine(std::move(source), std::move(sink), config);
}

struct Answer {
  int status = 0;
  std::string body;
};
Answer get(const Engine& engine, const std::string& path) {
  httplib::Client client("127.0.0.1", *engine.admin_port());
  auto answer = client.Get(path);
  if (!answer) return {};
  return {answer->status, answer->body};
}

// /readyz follows each component: a source that says it lost its input, one failing
// transiently and waiting to be run again, a sink whose deliveries are retried; each named
// with its reason, and ready again once it recovers. The lag a source reports is a gauge.
TEST(AdminEndpoint, ReadinessNamesEachComponentThatIsNotReadyAndWhy) {
  auto source = std::make_unique<FedSource>();
  FedSource* fed = source.get();
  auto sink = std::make_unique<ControlledSink>();
  ControlledSink* controlled = sink.get();
  auto engine = fed_engine(std::move(source), std::move(sink),
                           "[engine]\nadmin = \"127.0.0.1:0\"\nsource_restart_backoff = \"2s\"\n"
                           "source_restart_max_backoff = \"2s\"\n");
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 200; }));
  EXPECT_EQ(get(*engine, "/readyz").body, "{\"status\":\"ready\"}\n");

  fed->post([](sdk::Emitter& emitter) {
    emitter.report_lag("customers/0", 42, sdk::LagUnit::messages);
    emitter.report_lag("customers/1", 7, sdk::LagUnit::messages);
    emitter.report_connection(false, "every broker is down");
  });
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 503; }));
  Answer answer = get(*engine, "/readyz");
  EXPECT_EQ(answer.body,
            "{\"status\":\"not ready\",\"not_ready\":[{\"component\":\"source\",\"id\":\"source\","
            "\"reason\":\"disconnected: every broker is down\"}]}\n");
  const std::string text = engine->metrics_text();
  EXPECT_EQ(sample(text, R"(invalidator_source_lag_messages{source="source",stream="customers/0"})"), 42) << text;
  EXPECT_EQ(sample(text, R"(invalidator_source_lag_messages{source="source",stream="customers/1"})"), 7);
  EXPECT_EQ(sample(text, R"(invalidator_source_up{source="source"})"), 0);
  EXPECT_EQ(sum_of(text, "invalidator_source_lag_bytes{"), 0);

  fed->post([](sdk::Emitter& emitter) { emitter.report_connection(true, ""); });
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 200; }));

  // A sink that keeps asking for a retry: not ready, with the sink's reason.
  controlled->fail_next(1'000'000);
  fed->push(testing::customer_update(1, "a", "b", 1));
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 503; }));
  answer = get(*engine, "/readyz");
  EXPECT_NE(answer.body.find(R"({"component":"sink","id":"sink","reason":"deliveries are being retried: simulated outage"})"),
            std::string::npos)
      << answer.body;
  EXPECT_EQ(sample(engine->metrics_text(), R"(invalidator_sink_up{sink="sink"})"), 0);
  controlled->fail_next(0);
  ASSERT_TRUE(testing::eventually([&] { return engine->stats().acknowledged == 1; }));
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 200; }));

  // run() failing transiently: reconnecting until it is called again, 2 s later.
  fed->fail_transiently("connection reset by peer");
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 503; }));
  answer = get(*engine, "/readyz");
  EXPECT_NE(answer.body.find(R"("reason":"reconnecting after: connection reset by peer")"), std::string::npos)
      << answer.body;
  EXPECT_EQ(sample(engine->metrics_text(), R"(invalidator_source_restarts_total{source="source"})"), 1);
  ASSERT_TRUE(testing::eventually([&] { return fed->runs.load() == 2; }));
  ASSERT_TRUE(testing::eventually([&] { return get(*engine, "/readyz").status == 200; }));
  ASSERT_TRUE(engine->stop().ok());
}

// /status, read as JSON: the graph (sources, routes, sinks), the counters of each, the sink's
// staleness quantiles, and the last warnings.
TEST(AdminEndpoint, StatusDescribesThePipelineAsJson) {
  auto source = std::make_unique<FedSource>();
  FedSource* fed = source.get();
  auto sink = std::make_unique<ControlledSink>();
  ControlledSink* controlled = sink.get();
  auto engine = fed_engine(std::move(source), std::move(sink));
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  controlled->fail_next(1);  // one warning in the log: a retried delivery
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (int i = 0; i < 30; ++i) {
    fed->push(testing::customer_update_at(i, "m" + std::to_string(i), static_cast<std::uint64_t>(i + 1), now_ms - 20));
  }
  fed->push("null");
  fed->post([](sdk::Emitter& emitter) { emitter.report_lag("", 4096, sdk::LagUnit::bytes); });
  ASSERT_TRUE(testing::eventually([&] { return engine->stats().acknowledged == 31; }));

  Answer answer = get(*engine, "/status");
  ASSERT_EQ(answer.status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element status;
  ASSERT_EQ(parser.parse(answer.body).get(status), simdjson::SUCCESS) << answer.body;
  EXPECT_EQ(std::string_view(status["version"]), std::string_view(version()));
  EXPECT_TRUE(bool(status["ready"]));
  EXPECT_EQ(std::uint64_t(status["totals"]["messages"]), 31u);
  EXPECT_EQ(std::uint64_t(status["totals"]["acknowledged"]), 31u);

  simdjson::dom::element source_json = status["sources"].at(0);
  EXPECT_EQ(std::string_view(source_json["id"]), "source");
  EXPECT_EQ(std::string_view(source_json["state"]), "running");
  EXPECT_EQ(std::uint64_t(source_json["received"]), 31u);
  EXPECT_EQ(std::uint64_t(source_json["skipped"]), 1u);
  EXPECT_EQ(std::uint64_t(source_json["lag"].at(0)["lag"]), 4096u);
  EXPECT_EQ(std::string_view(source_json["lag"].at(0)["unit"]), "bytes");

  simdjson::dom::element route = status["routes"].at(0);
  EXPECT_EQ(std::string_view(route["name"]), "routes[0]");
  EXPECT_EQ(std::string_view(route["table"]), "public.customers");
  EXPECT_EQ(std::string_view(route["action"]), "delete");
  EXPECT_EQ(std::string_view(route["from"].at(0)), "source");
  EXPECT_EQ(std::string_view(route["to"].at(0)), "sink");
  EXPECT_EQ(std::uint64_t(route["matched"]), 30u);

  simdjson::dom::element sink_json = status["sinks"].at(0);
  const EngineStats stats = engine->stats();
  EXPECT_EQ(std::uint64_t(sink_json["delivered"]), stats.delivered);
  EXPECT_EQ(std::uint64_t(sink_json["retries"]), 1u);
  EXPECT_EQ(std::uint64_t(sink_json["staleness_observations"]), stats.delivered);
  // Committed 20 ms before it was sent: no quantile can be below that.
  EXPECT_GE(double(sink_json["staleness_p50_seconds"]), 0.02 * 0.5);
  EXPECT_GE(double(sink_json["staleness_p99_seconds"]), double(sink_json["staleness_p50_seconds"]));

  bool retry_logged = false;
  for (simdjson::dom::element entry : simdjson::dom::array(status["errors"])) {
    if (std::string_view(entry["message"]).find("not delivered") != std::string_view::npos) {
      retry_logged = std::string_view(entry["level"]) == "warning";
    }
  }
  EXPECT_TRUE(retry_logged) << answer.body;
  ASSERT_TRUE(engine->stop().ok());
}

// "/" is the status page: HTML with its style and script inline, nothing loaded from elsewhere.
TEST(AdminEndpoint, TheStatusPageIsOneSelfContainedDocument) {
  auto engine = fed_engine(std::make_unique<FedSource>(), std::make_unique<ControlledSink>());
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->start().ok());
  httplib::Client client("127.0.0.1", *engine->admin_port());
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_TRUE(page->body.starts_with("<!doctype html>"));
  for (const char* external : {"src=", "href=", "@import", "url("}) {
    EXPECT_EQ(page->body.find(external), std::string::npos) << "the page refers to something outside it: " << external;
  }
  // No address at all but SVG's namespace, which names and fetches nothing.
  const std::string svg_namespace = "http://www.w3.org/2000/svg";
  for (std::size_t at = page->body.find("://"); at != std::string::npos; at = page->body.find("://", at + 3)) {
    EXPECT_EQ(page->body.compare(at - 4, svg_namespace.size(), svg_namespace), 0) << page->body.substr(at - 10, 60);
  }
  auto missing = client.Get("/nothing");
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->body.find("/readyz"), std::string::npos);
  ASSERT_TRUE(engine->stop().ok());
}

}  // namespace
}  // namespace invalidator
