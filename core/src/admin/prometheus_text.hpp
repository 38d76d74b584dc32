#pragma once

// The Prometheus text exposition format (version 0.0.4), written in this one place: metric
// families with their HELP and TYPE lines, samples with escaped labels, and histograms with
// cumulative buckets. See https://prometheus.io/docs/instrumenting/exposition_formats/.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace invalidator::admin {

enum class MetricType { counter, gauge, histogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

// A histogram's state at one moment: per-bucket counts (not cumulative) for each upper bound,
// the count above the last bound, and the sum of every observation.
struct HistogramSnapshot {
  std::span<const double> upper_bounds;
  std::vector<std::uint64_t> bucket_counts;  // one per upper bound
  std::uint64_t above = 0;                   // observations over the last bound
  double sum = 0;

  std::uint64_t count() const;
  // Adds another snapshot of the same bounds (a sink's lanes are summed).
  void add(const HistogramSnapshot& other);
  // The value below which `quantile` (0..1) of the observations fall, interpolated within its
  // bucket as Prometheus's histogram_quantile() does; 0 with no observations. For the status
  // page's p50 and p99.
  double quantile(double quantile) const;
};

// Prometheus's naming rules: [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, [a-zA-Z_][a-zA-Z0-9_]*
// for label names, and "__" reserved at the start of a label name.
bool is_metric_name(std::string_view name);
bool is_label_name(std::string_view name);

class PrometheusText {
 public:
  // Starts a family: its HELP and TYPE lines. Every sample until the next family belongs to
  // it. A counter's name ends in "_total".
  void family(std::string_view name, MetricType type, std::string_view help);
  // A counter's or gauge's sample, named as its family.
  void sample(const Labels& labels, double value);
  // A histogram's samples: <name>_bucket{le=...} (cumulative, ending with +Inf), _sum, _count.
  void histogram(const Labels& labels, const HistogramSnapshot& snapshot);

  const std::string& text() const { return text_; }

 private:
  void write_sample(std::string_view suffix, const Labels& labels, const std::pair<std::string, std::string>* extra,
                    double value);

  std::string text_;
  std::string family_;
  MetricType type_ = MetricType::counter;
};

// A number as the format writes it: "+Inf", "-Inf", "NaN", or the shortest decimal that
// reads back as the same double.
std::string format_value(double value);

}  // namespace invalidator::admin
