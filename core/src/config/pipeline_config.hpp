#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/diagnostics.hpp"
#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "route/route_spec.hpp"

namespace invalidator::config {

using namespace std::chrono_literals;

// The core's own tables, declared with their defaults in pipeline_config.cpp the same way as
// a plugin's options: default_engine_settings() and default_sink_settings() give those. The
// members start at zero, never at a default of their own.
// What is done with what cannot be decoded or delivered.
enum class OnError { dead_letter, stop };

struct EngineSettings {
  std::vector<std::string> plugin_path;
  std::chrono::milliseconds shutdown_timeout{};
  std::size_t queue_capacity{};
  std::size_t max_unacknowledged{};  // per source
  std::size_t decode_threads{};  // 0: one per core, at most 4
  bool batch_scheduling{};       // the engine's threads under SCHED_BATCH
  std::string log_level;
  std::string log_format;  // "text" or "json", applied by `invalidator run`
  OnError on_error{};
  std::string dead_letter;  // as written; relative to state_dir
  std::string state_dir;    // as written; relative to the configuration file's directory
  std::chrono::milliseconds source_restart_backoff{};
  std::chrono::milliseconds source_restart_max_backoff{};
  std::chrono::milliseconds stats_interval{};  // applied by `invalidator run`
  std::string admin;  // host:port of /metrics and /healthz; empty: none
};

struct BatchSettings {
  std::size_t max_events{};
  std::size_t max_bytes{};  // keys and values; 0: no limit
  std::chrono::milliseconds max_delay{};
};

struct RetrySettings {
  std::int64_t max_attempts{};  // 0: unlimited
  std::chrono::milliseconds initial_backoff{};
  std::chrono::milliseconds max_backoff{};
};

// What the core does for one sink, from the keys of [sinks.<id>] it owns.
struct SinkSettings {
  BatchSettings batch;
  RetrySettings retry;
  bool log_invalidations{};
  std::size_t lanes{};  // parallel deliveries, sharded by key hash
};

struct PluginInstance {
  std::string id;  // [sinks.<id>]
  std::string type;
  sdk::PluginKind kind = sdk::PluginKind::sink;
  sdk::Config options;
  Location where;
  SinkSettings sink;  // sinks only
};

struct PipelineConfig {
  std::string file;
  EngineSettings engine;
  std::vector<PluginInstance> sources;
  std::vector<PluginInstance> sinks;
  std::vector<route::RouteSpec> routes;
};

// engine.state_dir; a relative one taken from the configuration file's directory.
std::filesystem::path state_directory(const PipelineConfig& config);
// The dead-letter file: engine.dead_letter, a relative one in the state directory; empty
// with engine.on_error = "stop".
std::filesystem::path dead_letter_path(const PipelineConfig& config);

// What the configuration needs to know about the plugins that exist.
class PluginCatalog {
 public:
  virtual ~PluginCatalog() = default;
  virtual const sdk::PluginDescriptor* find(sdk::PluginKind kind, std::string_view name) const = 0;
  virtual std::vector<std::string> names(sdk::PluginKind kind) const = 0;
  // Why a plugin of that name is not available although a file offered it (refused), or "".
  virtual std::string refusal(sdk::PluginKind kind, std::string_view name) const = 0;
};

// The option specs of the core's own tables, also rendered by `invalidator plugins --docs`.
const sdk::ConfigSpec& engine_spec();
const sdk::ConfigSpec& sink_common_spec();
const sdk::ConfigSpec& batch_spec();
const sdk::ConfigSpec& retry_spec();
const sdk::ConfigSpec& route_spec();

EngineSettings default_engine_settings();
SinkSettings default_sink_settings();

std::optional<sdk::Op> parse_op(std::string_view text);

// Parses TOML text; syntax errors are added to `out`.
std::optional<toml::table> parse_toml(std::string_view text, const std::string& file, Diagnostics& out);
std::optional<toml::table> parse_toml_file(const std::string& path, Diagnostics& out);

// The keys of a [sinks.<id>] table the core owns (lanes, log_invalidations, [batch], [retry]),
// checked, with the declared defaults for what `table` leaves out.
SinkSettings read_sink_settings(const toml::table& table, const std::string& path, const std::string& file,
                                Diagnostics& out);

// [engine] alone: read first, because it says where the plugins are.
EngineSettings read_engine(const toml::table& root, const std::string& file, Diagnostics& out);

// Everything else, checked against the plugins' specs. Collects every error.
// `extra_sources` and `extra_sinks` are ids of objects registered in code, which routes may use.
PipelineConfig read_pipeline(const toml::table& root, const std::string& file,
                             const PluginCatalog& catalog, Diagnostics& out,
                             const std::vector<std::string>& extra_sources = {},
                             const std::vector<std::string>& extra_sinks = {});

}  // namespace invalidator::config
