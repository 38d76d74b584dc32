#pragma once

// Embedding API: run Invalidator inside a C++ service.
//
//   auto engine = invalidator::EngineBuilder()
//                     .config_file("invalidator.toml")
//                     .build();
//   if (!engine) { /* engine.error() lists every configuration problem */ }
//   (*engine)->start();
//   invalidator::sdk::Cache* cache = (*engine)->cache("local");
//   ...
//   (*engine)->stop();

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/configuration.hpp"
#include "invalidator/sdk/cache.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator {

// The version of this build of Invalidator.
std::string_view version();

// The reference of the admin endpoint and of every metric /metrics exposes, as Markdown
// (docs/metrics.md).
std::string metrics_reference();

// A [[routes]] entry built in code; same fields, same validation as in TOML.
struct RouteDefinition {
  std::vector<std::string> from;
  std::string table;
  std::vector<std::string> ops;  // empty: insert, update, delete, truncate
  std::vector<std::string> changed;
  std::vector<std::string> keys;
  std::vector<std::string> to;
  std::string action = "delete";
  std::string value;
  std::string ttl;  // "5s"; empty: none
  std::string redelete_after;  // "500ms"; empty: off
  std::vector<std::string> on_truncate;
};

// How the engine feeds a sink added in code: the keys of a [sinks.<id>] table that the core
// owns. A field left unset takes the documented default (docs/configuration.md); a value out
// of range makes build() fail, as in a file.
struct SinkSettings {
  std::optional<std::size_t> lanes{};
  std::optional<bool> log_invalidations{};
  std::optional<std::size_t> batch_max_events{};
  std::optional<std::size_t> batch_max_bytes{};
  std::optional<std::chrono::milliseconds> batch_max_delay{};
  std::optional<std::int64_t> retry_max_attempts{};
  std::optional<std::chrono::milliseconds> retry_initial_backoff{};
  std::optional<std::chrono::milliseconds> retry_max_backoff{};
};

// What one [[routes]] entry did.
struct RouteStats {
  std::string route;  // "routes[0]"
  std::string table;  // as configured: "public.customers", "*.orders"
  std::vector<std::string> from;  // source ids
  std::vector<std::string> to;    // sink ids
  std::string action;             // "delete", "set", "expire", "delete_pattern"
  std::uint64_t matched = 0;
  std::uint64_t unchanged = 0;  // updates its `changed` list filtered out
  // Keys its templates could not render, so that a cache entry may stay stale, by reason:
  // "absent", "null", "unavailable" (TOAST), "not_in_before_image" (REPLICA IDENTITY
  // DEFAULT), "missing_header". Reasons never seen are left out.
  std::map<std::string, std::uint64_t> unrendered;
  std::uint64_t unrendered_total() const {
    std::uint64_t total = 0;
    for (const auto& [reason, count] : unrendered) total += count;
    return total;
  }
};

// What one source handed over, and how it stands.
struct SourceStats {
  std::string id;
  std::uint64_t received = 0;  // messages (or decoded events) handed to the pipeline
  // Records that are not row changes, by reason: "tombstone", "heartbeat", "message_event",
  // "transaction_marker", "schema_change". Reasons never seen are left out.
  std::map<std::string, std::uint64_t> skipped;
  std::uint64_t undecodable = 0;  // dead-lettered as malformed
  // "starting", "running", "reconnecting" (after a transient failure), "finished", "failed".
  std::string state;
  bool ready = false;  // running and connected, or finished
  std::string not_ready_reason;
  struct Lag {
    std::string stream;  // "orders/3"; empty for a source with one stream
    std::uint64_t lag = 0;
    std::string unit;  // "messages" or "bytes"
  };
  std::vector<Lag> lag;  // as the source last reported it; empty when it does not
};

// What one sink settled, and whether its server answers.
struct SinkStats {
  std::string id;
  std::uint64_t delivered = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t retries = 0;
  std::size_t queued = 0;  // invalidations waiting for the sink
  // From a change's commit to its invalidation settled by this sink; 0 before any.
  std::uint64_t staleness_observations = 0;
  double staleness_p50_seconds = 0;
  double staleness_p99_seconds = 0;
  bool ready = true;  // false while its last delivery is being retried
  std::string not_ready_reason;
};

struct EngineStats {
  std::uint64_t messages = 0;
  std::uint64_t events = 0;
  std::uint64_t skipped = 0;
  std::uint64_t malformed = 0;
  std::uint64_t invalidations = 0;
  std::uint64_t coalesced = 0;
  std::uint64_t delivered = 0;
  std::uint64_t retries = 0;
  std::uint64_t dead_lettered = 0;
  // Writes of the dead-letter file that failed (a full disk): retried, the positions held.
  std::uint64_t dead_letter_failures = 0;
  std::uint64_t redeliveries = 0;  // second deletes scheduled by redelete_after
  std::uint64_t source_restarts = 0;  // sources started again after a transient failure
  std::uint64_t acknowledged = 0;  // source positions acknowledged
  std::uint64_t unrendered_keys = 0;  // keys routes could not render (routes has them by reason)
  std::size_t decode_queue_depth = 0;  // messages taken from sources, not yet decoded
  std::vector<RouteStats> routes;
  std::vector<SourceStats> sources;
  std::vector<SinkStats> sinks;
};

class Engine;

// Collects configuration (TOML file or text, tables added in code, objects registered
// in-process) and builds an engine. Every configuration error is reported at once.
class EngineBuilder {
 public:
  EngineBuilder();
  ~EngineBuilder();
  EngineBuilder(EngineBuilder&&) noexcept;
  EngineBuilder& operator=(EngineBuilder&&) noexcept;

  EngineBuilder& config_file(const std::filesystem::path& path);
  // A configuration already loaded and checked: built from as it is, not read again.
  EngineBuilder& configuration(Configuration configuration);
  EngineBuilder& config_string(std::string toml, std::string name = "<config>");
  // A plugin linked into this binary (see INVALIDATOR_DECLARE_STATIC_PLUGIN).
  EngineBuilder& register_plugin(const sdk::PluginDescriptor& descriptor);
  // Do not search plugin directories for libraries (only registered plugins are used).
  EngineBuilder& without_plugin_files();
  // A source or sink object of the host's own: routes refer to it by `id`.
  EngineBuilder& add_source(std::string id, std::unique_ptr<sdk::Source> source);
  EngineBuilder& add_sink(std::string id, std::unique_ptr<sdk::Sink> sink, SinkSettings settings = {});
  EngineBuilder& add_route(RouteDefinition route);
  // The engine's log lines (its own and its plugins') of `minimum` level and above go to
  // `handler` instead of the process's log: a service routes them into its own logging.
  EngineBuilder& log_to(std::function<void(sdk::LogLevel level, std::string_view message)> handler,
                        sdk::LogLevel minimum = sdk::LogLevel::info);

  // An error lists every problem of the configuration, one a line; diagnostics() has them
  // one by one.
  sdk::Result<std::unique_ptr<Engine>> build();
  // The problems the last build() found in the configuration.
  const std::vector<Diagnostic>& diagnostics() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Engine {
 public:
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the sinks, then the sources. An error for an engine started before.
  sdk::Status start();
  // Asks sources to stop; what is in flight is still delivered and acknowledged until the
  // engine's shutdown_timeout.
  void request_stop();
  // Until every source has ended and its work is drained. An error if a source failed.
  sdk::Status wait();
  // request_stop() and wait().
  sdk::Status stop();

  // The in-process cache behind a sink (the memory sink), or null.
  sdk::Cache* cache(std::string_view sink_id);
  EngineStats stats() const;
  // Every metric the engine keeps, in Prometheus's text exposition format (what the admin
  // endpoint's /metrics serves); a service embedding the engine can serve it itself.
  std::string metrics_text() const;
  // The port of the admin endpoint (engine.admin) once started; none without one.
  std::optional<std::uint16_t> admin_port() const;
  std::size_t outstanding() const;

 private:
  friend class EngineBuilder;
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace invalidator
