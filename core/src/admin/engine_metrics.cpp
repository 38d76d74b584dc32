#include "admin/engine_metrics.hpp"

#include <stdexcept>

#include "route/router.hpp"

namespace invalidator::admin {
namespace {

const MetricFamily& family(std::string_view name) {
  for (const auto& declared : metric_families()) {
    if (declared.name == name) return declared;
  }
  throw std::logic_error("metric family not declared: " + std::string(name));
}

void begin(PrometheusText& out, std::string_view name) {
  const MetricFamily& declared = family(name);
  out.family(declared.name, declared.type, declared.help);
}

// A sink's histogram: its lanes' added up.
HistogramSnapshot sum_of(const std::vector<const pipeline::SinkMetrics*>& lanes,
                         const Histogram pipeline::SinkMetrics::*histogram) {
  HistogramSnapshot total = (lanes.front()->*histogram).snapshot();
  for (std::size_t i = 1; i < lanes.size(); ++i) {
    const HistogramSnapshot lane = (lanes[i]->*histogram).snapshot();
    for (std::size_t b = 0; b < total.bucket_counts.size(); ++b) total.bucket_counts[b] += lane.bucket_counts[b];
    total.above += lane.above;
    total.sum += lane.sum;
  }
  return total;
}

}  // namespace

const std::vector<MetricFamily>& metric_families() {
  static const std::vector<MetricFamily> families = {
      {"invalidator_invalidations_total", MetricType::counter,
       "Invalidations a sink settled: result \"delivered\" (applied by the sink) or \"dead_lettered\" (refused for "
       "good, or out of attempts, and written to the dead-letter file).",
       {"sink", "action", "result"}},
      {"invalidator_retries_total", MetricType::counter,
       "Deliveries a sink asked to be tried again (its server unreachable, busy or refusing for now).", {"sink"}},
      {"invalidator_batch_size", MetricType::histogram, "Invalidations handed to a sink in one delivery.", {"sink"}},
      {"invalidator_delivery_seconds", MetricType::histogram,
       "How long a sink took over one delivery, retries apart.", {"sink"}},
      {"invalidator_staleness_seconds", MetricType::histogram,
       "From a change's commit in the database to its invalidation settled by the sink: how long a cache could "
       "serve the old value. Changes whose commit time the source does not give are left out; the database's clock "
       "and this host's are compared.",
       {"sink"}},
      {"invalidator_keys_unrendered_total", MetricType::counter,
       "Keys a route's templates could not render, so that a cache entry may stay stale: reason \"absent\", "
       "\"null\", \"unavailable\" (an unchanged TOASTed value), \"not_in_before_image\" (REPLICA IDENTITY "
       "DEFAULT) or \"missing_header\".",
       {"route", "reason"}},
  };
  return families;
}

std::string render_metrics(const pipeline::Pipeline& pipeline) {
  PrometheusText out;
  const auto& sinks = pipeline.sink_ids();
  std::vector<std::vector<const pipeline::SinkMetrics*>> lanes;
  for (std::size_t s = 0; s < sinks.size(); ++s) lanes.push_back(pipeline.sink_metrics(s));

  begin(out, "invalidator_invalidations_total");
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    for (std::size_t a = 0; a < pipeline::kActionCount; ++a) {
      std::uint64_t delivered = 0;
      std::uint64_t dead_lettered = 0;
      for (const auto* lane : lanes[s]) {
        delivered += lane->delivered[a].load(std::memory_order_relaxed);
        dead_lettered += lane->dead_lettered[a].load(std::memory_order_relaxed);
      }
      const std::string action(sdk::to_string(pipeline::kActions[a]));
      out.sample({{"sink", sinks[s]}, {"action", action}, {"result", "delivered"}}, static_cast<double>(delivered));
      out.sample({{"sink", sinks[s]}, {"action", action}, {"result", "dead_lettered"}},
                 static_cast<double>(dead_lettered));
    }
  }
  begin(out, "invalidator_retries_total");
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    std::uint64_t retries = 0;
    for (const auto* lane : lanes[s]) retries += lane->retries.load(std::memory_order_relaxed);
    out.sample({{"sink", sinks[s]}}, static_cast<double>(retries));
  }
  const std::pair<const char*, const Histogram pipeline::SinkMetrics::*> histograms[] = {
      {"invalidator_batch_size", &pipeline::SinkMetrics::batch_size},
      {"invalidator_delivery_seconds", &pipeline::SinkMetrics::delivery_seconds},
      {"invalidator_staleness_seconds", &pipeline::SinkMetrics::staleness_seconds},
  };
  for (const auto& [name, member] : histograms) {
    begin(out, name);
    for (std::size_t s = 0; s < sinks.size(); ++s) out.histogram({{"sink", sinks[s]}}, sum_of(lanes[s], member));
  }

  begin(out, "invalidator_keys_unrendered_total");
  const route::Router& router = pipeline.router();
  for (std::size_t r = 0; r < router.route_count(); ++r) {
    const route::RouteCounters& counters = router.counters(r);
    for (std::size_t reason = 0; reason < route::kUnrenderedReasons; ++reason) {
      out.sample({{"route", "routes[" + std::to_string(r) + "]"},
                  {"reason", std::string(route::to_string(static_cast<route::Unrendered>(reason)))}},
                 static_cast<double>(counters.unrendered_by_reason[reason].load(std::memory_order_relaxed)));
    }
  }
  return out.text();
}

}  // namespace invalidator::admin
