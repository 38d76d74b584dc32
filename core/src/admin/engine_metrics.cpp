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
  for (std::size_t i = 1; i < lanes.size(); ++i) total.add((lanes[i]->*histogram).snapshot());
  return total;
}

}  // namespace

const std::vector<MetricFamily>& metric_families() {
  static const std::vector<MetricFamily> families = {
      {"invalidator_events_received_total", MetricType::counter,
       "Messages (or row changes a source decoded itself) a source handed to the pipeline.", {"source"}},
      {"invalidator_events_skipped_total", MetricType::counter,
       "Records that are not row changes, passed over: reason \"tombstone\", \"heartbeat\", \"message_event\", "
       "\"transaction_marker\" or \"schema_change\".",
       {"source", "reason"}},
      {"invalidator_events_undecodable_total", MetricType::counter,
       "Messages that could not be decoded, written to the dead-letter file.", {"source"}},
      {"invalidator_source_restarts_total", MetricType::counter,
       "Times a source was started again after a transient failure (a lost connection).", {"source"}},
      {"invalidator_source_lag_messages", MetricType::gauge,
       "Messages between a stream's acknowledged position and the end of its input, as the source last reported it "
       "(Kafka: the partition's high watermark minus the next offset to commit).",
       {"source", "stream"}},
      {"invalidator_source_lag_bytes", MetricType::gauge,
       "Bytes between a stream's acknowledged position and the end of its input, as the source last reported it "
       "(PostgreSQL: the server's WAL end minus the slot's confirmed position).",
       {"source", "stream"}},
      {"invalidator_source_up", MetricType::gauge,
       "1 while a source runs connected to its input (or has read a bounded input to its end), else 0.", {"source"}},
      {"invalidator_decode_queue_depth", MetricType::gauge,
       "Messages taken from the sources and not yet decoded and routed.", {}},
      {"invalidator_invalidations_total", MetricType::counter,
       "Invalidations a sink settled: result \"delivered\" (applied by the sink) or \"dead_lettered\" (refused for "
       "good, or out of attempts, and written to the dead-letter file).",
       {"sink", "action", "result"}},
      {"invalidator_sink_queue_depth", MetricType::gauge, "Invalidations queued for a sink, not yet handed to it.",
       {"sink"}},
      {"invalidator_sink_up", MetricType::gauge,
       "1 while a sink's last delivery was answered (applied or refused for good), 0 while it is being retried.",
       {"sink"}},
      {"invalidator_dead_letter_write_failures_total", MetricType::counter,
       "Writes of the dead-letter file that failed (a full disk): retried, the source positions held meanwhile.", {}},
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
  const auto& sources = pipeline.source_ids();
  std::vector<pipeline::SourceHealth> health;
  for (std::size_t i = 0; i < sources.size(); ++i) health.push_back(pipeline.source_metrics(i).health());
  const auto per_source = [&](const char* name, const std::atomic<std::uint64_t> pipeline::SourceMetrics::*counter) {
    begin(out, name);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      out.sample({{"source", sources[i]}},
                 static_cast<double>((pipeline.source_metrics(i).*counter).load(std::memory_order_relaxed)));
    }
  };
  per_source("invalidator_events_received_total", &pipeline::SourceMetrics::received);
  begin(out, "invalidator_events_skipped_total");
  for (std::size_t i = 0; i < sources.size(); ++i) {
    for (std::size_t reason = 0; reason < codec::kSkipReasons; ++reason) {
      out.sample({{"source", sources[i]}, {"reason", std::string(codec::to_string(static_cast<codec::SkipReason>(reason)))}},
                 static_cast<double>(pipeline.source_metrics(i).skipped[reason].load(std::memory_order_relaxed)));
    }
  }
  per_source("invalidator_events_undecodable_total", &pipeline::SourceMetrics::undecodable);
  per_source("invalidator_source_restarts_total", &pipeline::SourceMetrics::restarts);
  for (const auto& [name, unit] : {std::pair{"invalidator_source_lag_messages", sdk::LagUnit::messages},
                                   std::pair{"invalidator_source_lag_bytes", sdk::LagUnit::bytes}}) {
    begin(out, name);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      for (const auto& [stream, lag] : health[i].lag) {
        if (lag.unit == unit) out.sample({{"source", sources[i]}, {"stream", stream}}, static_cast<double>(lag.lag));
      }
    }
  }
  begin(out, "invalidator_source_up");
  for (std::size_t i = 0; i < sources.size(); ++i) out.sample({{"source", sources[i]}}, health[i].ready() ? 1 : 0);
  begin(out, "invalidator_decode_queue_depth");
  out.sample({}, static_cast<double>(pipeline.decode_queue_depth()));

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
  begin(out, "invalidator_sink_queue_depth");
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    out.sample({{"sink", sinks[s]}}, static_cast<double>(pipeline.sink_queue_depth(s)));
  }
  begin(out, "invalidator_sink_up");
  for (std::size_t s = 0; s < sinks.size(); ++s) {
    out.sample({{"sink", sinks[s]}}, pipeline::unreachable_reason(lanes[s]) ? 0 : 1);
  }
  begin(out, "invalidator_dead_letter_write_failures_total");
  out.sample({}, static_cast<double>(pipeline.counters().dead_letter_failures.load(std::memory_order_relaxed)));
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

std::string metrics_reference_markdown() {
  std::string out =
      "# Metrics and the admin endpoint\n\n"
      "<!-- Generated by `invalidator metrics` from the families the engine declares; "
      "scripts/update-plugin-docs rewrites it, and a test fails when it is stale. -->\n\n"
      "With `engine.admin = \"127.0.0.1:9464\"` the engine serves, from a thread of its own:\n\n"
      "| Path | Answer |\n|---|---|\n"
      "| `/` | The status page: the pipeline as sources → routes → sinks with events/s, lag, dead letters, retries and "
      "staleness p50/p99 per sink, and the last warnings and errors. One HTML document, nothing fetched from "
      "elsewhere; it polls `/status` once a second (`/?interval=500` for another period, in ms). |\n"
      "| `/status` | The page's data as JSON: `version`, `time`, `uptime_seconds`, `ready`, `totals`, `sources`, "
      "`routes`, `sinks`, `errors`. |\n"
      "| `/metrics` | The families below, in Prometheus's text exposition format 0.0.4. |\n"
      "| `/healthz` | `200 {\"status\":\"alive\"}` while the process serves. |\n"
      "| `/readyz` | `200 {\"status\":\"ready\"}` when every source is running connected to its input (or has read a "
      "bounded input to its end) and every sink's last delivery was answered; else `503` with "
      "`{\"status\":\"not ready\",\"not_ready\":[{\"component\":\"source\",\"id\":\"kafka\",\"reason\":\"...\"}]}`. |\n\n"
      "A service embedding the engine reads the same through `Engine::metrics_text()` and `Engine::stats()`.\n\n"
      "## Families\n\n"
      "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n";
  for (const auto& declared : metric_families()) {
    std::string labels;
    for (const char* label : declared.labels) labels += std::string(labels.empty() ? "" : ", ") + "`" + label + "`";
    const char* type = declared.type == MetricType::counter ? "counter"
                       : declared.type == MetricType::gauge ? "gauge"
                                                            : "histogram";
    out += "| `" + std::string(declared.name) + "` | " + type + " | " + (labels.empty() ? "—" : labels) + " | " +
           declared.help + " |\n";
  }
  out += "\nHistograms have the `_bucket{le=...}`, `_sum` and `_count` series of Prometheus histograms; their "
         "buckets are fixed (batch size 1 to 10 000; delivery 100 µs to 10 s; staleness 1 ms to 1 h).\n";
  return out;
}

}  // namespace invalidator::admin
