#pragma once

// A configuration read, its plugins found and everything checked, without contacting any
// server: what `invalidator validate` reports, what `invalidator explain` runs messages
// through, and what an EngineBuilder builds an engine from without reading it again.
//
//   auto configuration = invalidator::Configuration::load_file("invalidator.toml");
//   if (!configuration.valid()) {
//     for (const auto& diagnostic : configuration.diagnostics()) show(diagnostic.to_string());
//   }
//   auto engine = invalidator::EngineBuilder().configuration(std::move(configuration)).build();

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace invalidator {

// One configuration error: where, which key, what is wrong and how to fix it.
struct Diagnostic {
  std::string file;
  std::uint32_t line = 0;  // 0: the file as a whole
  std::uint32_t column = 0;
  std::string path;  // "sinks.cache.url"
  std::string message;

  // FILE:LINE:COL: PATH: MESSAGE
  std::string to_string() const;
};

// A plugin library that was found but not loaded, and why.
struct PluginRefusal {
  std::string file;
  std::string message;
};

// What a valid configuration holds.
struct ConfigurationSummary {
  std::vector<std::string> sources;
  std::vector<std::string> sinks;
  std::size_t routes = 0;
  std::string log_level;
  std::string log_format;  // "text" or "json"
  // Where what cannot be decoded or delivered goes; empty: engine.on_error = "stop", the
  // pipeline stops at it instead.
  std::string dead_letter;
  std::chrono::milliseconds stats_interval{0};  // `invalidator run`'s stats line; 0: only at the end
};

// `invalidator explain`: one message through a source's codec and the routes.
struct ExplainRequest {
  std::string source;  // empty: the configuration's only source
  std::string topic;   // empty: the source's `topic` option
  std::optional<std::string> key;
  std::optional<std::string> value;  // none: a tombstone
};

struct ExplainedInvalidation {
  std::size_t route = 0;
  std::string sink;
  std::string action;
  std::string key;
  std::optional<std::string> value;
  std::chrono::milliseconds ttl{0};
  std::chrono::milliseconds redelete_after{0};

  // One JSON object, as `invalidator explain` prints it.
  std::string to_json() const;
};

struct Explanation {
  enum class Outcome {
    invalidations,  // decoded into a change event and routed (possibly to nothing)
    skipped,        // a tombstone, heartbeat or other message that changes nothing
    undecodable,    // counted and dead-lettered by a run
    replayed,       // a dead-lettered invalidation, replayed to its sink as it is
    refused,        // the request does not fit the configuration (`reason` says why)
  };
  Outcome outcome = Outcome::refused;
  std::string reason;

  // The decoded change (invalidations).
  std::string op;
  std::string table;
  std::uint64_t version = 0;
  std::string transaction_id;
  std::string topic;
  using Row = std::vector<std::pair<std::string, std::string>>;  // column, value as JSON text
  Row key;
  std::optional<Row> before;
  std::optional<Row> after;
  std::vector<std::string> route_verdicts;  // why each route took or passed over the event
  std::vector<std::string> problems;        // key templates that rendered no key, and why
  std::vector<ExplainedInvalidation> invalidations;
};

class Configuration {
 public:
  // Reads `file`, loads the plugins of engine.plugin_path, $INVALIDATOR_PLUGIN_PATH and the
  // install and build directories, and checks every table against its declaration.
  static Configuration load_file(const std::filesystem::path& file);

  Configuration(Configuration&&) noexcept;
  Configuration& operator=(Configuration&&) noexcept;
  ~Configuration();

  bool valid() const;
  // Every problem at once, sorted by position in the file.
  const std::vector<Diagnostic>& diagnostics() const;
  // The diagnostics as `validate` prints them, one a line.
  std::string diagnostics_text() const;
  const std::vector<PluginRefusal>& refusals() const;
  ConfigurationSummary summary() const;
  Explanation explain(const ExplainRequest& request) const;

 private:
  friend class EngineBuilder;
  struct State;
  explicit Configuration(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace invalidator
