#include <gtest/gtest.h>
#include <httplib.h>

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

}  // namespace
}  // namespace invalidator
