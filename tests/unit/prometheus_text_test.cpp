#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <thread>

#include "admin/histogram.hpp"
#include "admin/prometheus_text.hpp"
#include "support/test_support.hpp"

namespace invalidator::admin {
namespace {

constexpr std::array<double, 3> kBounds{0.001, 0.01, 0.1};

TEST(PrometheusText, NamesFollowTheNamingRules) {
  EXPECT_TRUE(is_metric_name("invalidator_events_received_total"));
  EXPECT_TRUE(is_metric_name("job:rate5m"));
  EXPECT_FALSE(is_metric_name("9lives"));
  EXPECT_FALSE(is_metric_name("events-received"));
  EXPECT_FALSE(is_metric_name(""));
  EXPECT_TRUE(is_label_name("sink"));
  EXPECT_FALSE(is_label_name("__name__")) << "reserved";
  EXPECT_FALSE(is_label_name("a:b"));
}

TEST(PrometheusText, WritesFamiliesSamplesAndEscapedLabels) {
  PrometheusText out;
  out.family("invalidator_events_received_total", MetricType::counter, "Row changes decoded.\nFrom \\ sources.");
  out.sample({{"source", "shop"}}, 42);
  out.sample({{"source", "a \"quoted\" \\ name\nwith a line"}}, 1);
  out.family("invalidator_queue_depth", MetricType::gauge, "Messages waiting.");
  out.sample({}, 0.5);
  EXPECT_EQ(out.text(),
            "# HELP invalidator_events_received_total Row changes decoded.\\nFrom \\\\ sources.\n"
            "# TYPE invalidator_events_received_total counter\n"
            "invalidator_events_received_total{source=\"shop\"} 42\n"
            "invalidator_events_received_total{source=\"a \\\"quoted\\\" \\\\ name\\nwith a line\"} 1\n"
            "# HELP invalidator_queue_depth Messages waiting.\n"
            "# TYPE invalidator_queue_depth gauge\n"
            "invalidator_queue_depth 0.5\n");
}

TEST(PrometheusText, WritesSpecialValuesAsTheFormatSpellsThem) {
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(1e-3), "0.001");
  EXPECT_EQ(format_value(12345678901234.0), "12345678901234");
}

TEST(PrometheusText, AHistogramHasCumulativeBucketsEndingInInfinity) {
  Histogram latency(kBounds);
  for (double value : {0.0005, 0.001, 0.002, 0.05, 0.05, 3.0}) latency.observe(value);
  PrometheusText out;
  out.family("invalidator_delivery_seconds", MetricType::histogram, "Delivery time.");
  out.histogram({{"sink", "cache"}}, latency.snapshot());
  EXPECT_EQ(out.text(),
            "# HELP invalidator_delivery_seconds Delivery time.\n"
            "# TYPE invalidator_delivery_seconds histogram\n"
            "invalidator_delivery_seconds_bucket{sink=\"cache\",le=\"0.001\"} 2\n"
            "invalidator_delivery_seconds_bucket{sink=\"cache\",le=\"0.01\"} 3\n"
            "invalidator_delivery_seconds_bucket{sink=\"cache\",le=\"0.1\"} 5\n"
            "invalidator_delivery_seconds_bucket{sink=\"cache\",le=\"+Inf\"} 6\n"
            "invalidator_delivery_seconds_sum{sink=\"cache\"} 3.1035\n"
            "invalidator_delivery_seconds_count{sink=\"cache\"} 6\n");
}

TEST(Histogram, CountsEveryObservationFromManyThreads) {
  Histogram histogram(kBounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) histogram.observe(0.005);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(histogram.count(), 40'000u);
  EXPECT_EQ(histogram.snapshot().bucket_counts[1], 40'000u);
  EXPECT_NEAR(histogram.snapshot().sum, 200.0, 1e-6);
}

// Values on the bounds and hopping between buckets, as a tally's check of the last bucket meets them.
TEST(Histogram, ATallyAddsWhatObservingEachValueWould) {
  Histogram direct(kBounds);
  Histogram tallied(kBounds);
  Histogram::Tally tally(kBounds);
  for (double value : {0.5, 0.0005, 0.0005, 0.001, 0.005, 0.01, 0.0100001, 0.05, 0.1, 0.2, 0.002, 0.0009, 0.1}) {
    direct.observe(value);
    tally.observe(value);
  }
  tally.add_to(tallied);
  EXPECT_EQ(tallied.snapshot().bucket_counts, direct.snapshot().bucket_counts);
  EXPECT_EQ(tallied.snapshot().above, direct.snapshot().above);
  EXPECT_DOUBLE_EQ(tallied.snapshot().sum, direct.snapshot().sum);
  tally.add_to(tallied);
  EXPECT_EQ(tallied.count(), direct.count()) << "a tally starts again from zero once added";
}

TEST(Histogram, QuantilesInterpolateWithinABucketAsPrometheusDoes) {
  Histogram histogram(kBounds);
  EXPECT_EQ(histogram.quantile(0.5), 0);
  for (int i = 0; i < 100; ++i) histogram.observe(0.005);  // all in (0.001, 0.01]
  EXPECT_NEAR(histogram.quantile(0.5), 0.0055, 1e-12);
  EXPECT_NEAR(histogram.quantile(0.99), 0.00991, 1e-12);
  histogram.observe(10);  // above every bound
  EXPECT_EQ(histogram.quantile(1.0), 0.1);
}

// The exposition read back by Prometheus's own Python client parser, independent of this code.
TEST(PrometheusText, PrometheusClientParserReadsItBack) {
  Histogram latency(kBounds);
  latency.observe(0.002);
  latency.observe(0.2);
  PrometheusText out;
  out.family("invalidator_invalidations_total", MetricType::counter, "Invalidations by result.");
  out.sample({{"sink", "cache"}, {"action", "delete"}, {"result", "delivered"}}, 7);
  out.sample({{"sink", "odd \"name\""}, {"action", "set"}, {"result", "dead_lettered"}}, 2);
  out.family("invalidator_delivery_seconds", MetricType::histogram, "Delivery time.");
  out.histogram({{"sink", "cache"}}, latency.snapshot());
  testing::TempDir directory;
  testing::write_file(directory / "metrics.txt", out.text());
  testing::write_file(directory / "read.py",
                      "import sys\n"
                      "from prometheus_client.parser import text_string_to_metric_families\n"
                      "for family in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                      "    for s in family.samples:\n"
                      "        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n"
                      "        print(family.type, s.name, labels, s.value)\n");
  // Debian's interpreter, which has Debian's python3-prometheus-client.
  auto result = testing::run_command("/usr/bin/python3 " + (directory / "read.py").string() + " " +
                                     (directory / "metrics.txt").string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "counter invalidator_invalidations_total action=delete,result=delivered,sink=cache 7.0\n"
            "counter invalidator_invalidations_total action=set,result=dead_lettered,sink=odd \"name\" 2.0\n"
            "histogram invalidator_delivery_seconds_bucket le=0.001,sink=cache 0.0\n"
            "histogram invalidator_delivery_seconds_bucket le=0.01,sink=cache 1.0\n"
            "histogram invalidator_delivery_seconds_bucket le=0.1,sink=cache 1.0\n"
            "histogram invalidator_delivery_seconds_bucket le=+Inf,sink=cache 2.0\n"
            "histogram invalidator_delivery_seconds_sum sink=cache 0.202\n"
            "histogram invalidator_delivery_seconds_count sink=cache 2.0\n");
}

}  // namespace
}  // namespace invalidator::admin
