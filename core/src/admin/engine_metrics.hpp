#pragma once

// What an engine exposes at /metrics, in Prometheus's text format: every metric family the
// engine declares, with its samples now.

#include <string>
#include <vector>

#include "admin/prometheus_text.hpp"
#include "pipeline/pipeline.hpp"

namespace invalidator::admin {

// A metric family as the engine declares it: its name, type, help text and labels. The
// metrics reference (docs/metrics.md) is written from this list.
struct MetricFamily {
  const char* name;
  MetricType type;
  const char* help;
  std::vector<const char*> labels;
};

const std::vector<MetricFamily>& metric_families();

std::string render_metrics(const pipeline::Pipeline& pipeline);

// docs/metrics.md: the admin endpoint's paths and every family above, as Markdown.
std::string metrics_reference_markdown();

}  // namespace invalidator::admin
