#include "config/pipeline_config.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/spec_validation.hpp"
#include "route/key_template.hpp"

namespace invalidator::config {

using sdk::OptionType;

const sdk::OptionsSpec<EngineSettings>& engine_options() {
  static const sdk::OptionsSpec<EngineSettings> spec = [] {
    using S = EngineSettings;
    sdk::OptionsSpec<S> s("Process-wide settings: where plugins are, queue sizes, shutdown, dead letters.");
    s.option("plugin_path", &S::plugin_path)
        .description("Directories searched for plugin libraries, before $INVALIDATOR_PLUGIN_PATH, the install directory and the build directory.")
        .default_value(std::vector<std::string>{})
        .example("[\"/usr/lib/invalidator/plugins\"]");
    s.option("shutdown_timeout", &S::shutdown_timeout)
        .description("On SIGINT/SIGTERM, how long to wait for in-flight invalidations to be delivered and acknowledged before exiting.")
        .default_value(30s)
        .min(0);
    s.option("queue_capacity", &S::queue_capacity)
        .description("Messages buffered between the sources and the sinks; when full, sources wait (backpressure).")
        .default_value(2048)
        .min(1)
        .max(10'000'000);
    s.option("max_unacknowledged", &S::max_unacknowledged)
        .description("Source positions (messages) a source may have taken but not yet acknowledged; when reached, the source waits. A sink that stalls holds its positions, and every later one of the same stream waits behind them for its acknowledgement, even a message no route wanted: this bounds the memory they take (about 40 bytes each), and so pauses the source. A decode thread opens its batch (up to 256 messages) whole, so the count may pass the limit by that much.")
        .default_value(65536)
        .min(1)
        .max(100'000'000);
    s.option("decode_threads", &S::decode_threads)
        .description("Threads that decode and route messages; a source's partitions (streams) are spread over them, each stream staying on one thread so that its order is kept. 0: one per core but one (left to the sources and their transport's threads), at least 1, at most 4.")
        .default_value(0)
        .min(0)
        .max(64);
    s.option("batch_scheduling", &S::batch_scheduling)
        .description("Run the engine's threads (sources, decoding, lanes) under Linux's SCHED_BATCH policy, at the same priority: a thread woken by another does not preempt the one running. Where they share a core (one core, or a busy host) the threads then hand over whole batches instead of switching at every wake-up: on one core, 11–13 % more events per second with an eighth of the thread switches (docs/performance.md). false: the normal policy, where a woken thread runs at once, for the lowest latency on a busy core.")
        .default_value(true);
    s.option("log_level", &S::log_level)
        .description("Minimum level of log lines, applied by `invalidator run` (a service embedding the engine keeps its own logging set-up).")
        .one_of({"trace", "debug", "info", "warn", "error"})
        .default_value("info");
    s.option("admin", &S::admin)
        .description("Where the admin endpoint listens (host:port; port 0 picks a free one): /metrics in Prometheus's text format and /healthz. Empty: no endpoint. An address other than loopback is allowed and logged as a warning: the metrics name the pipeline's tables and servers.")
        .default_value("")
        .example("\"127.0.0.1:9464\"");
    s.option("log_format", &S::log_format)
        .description("How `invalidator run` writes its log lines: \"text\" for people, \"json\" one object a line (time, level, component, message and fields) for a log collector. The command line's --log-format, when given, wins.")
        .one_of({"text", "json"})
        .default_value("text");
    s.option("stats_interval", &S::stats_interval)
        .description("How often `invalidator run` logs its stats line (messages, invalidations, deliveries, dead letters, and the keys routes could not render, by route and reason); 0: only when it stops.")
        .default_value(60s)
        .min(0);
    s.option("on_error", &S::on_error)
        .description("What becomes of a message that cannot be decoded, or an invalidation a sink refuses for good (or still fails after retry.max_attempts). \"dead_letter\": it is written to engine.dead_letter, flushed to disk, and the source moves past it. \"stop\": the pipeline stops with an error naming its source position, which is not acknowledged (as Kafka Connect's errors.tolerance = none).")
        .choices({{"dead_letter", OnError::dead_letter}, {"stop", OnError::stop}})
        .default_value(OnError::dead_letter);
    s.option("dead_letter", &S::dead_letter)
        .description("The JSON Lines file of dead letters (engine.on_error = \"dead_letter\"): each line holds the message or invalidation with its source position, route, sink, reason and time, and can be replayed through the file source. A relative path is taken from engine.state_dir. The file is made when first written.")
        .default_value("dead-letters.jsonl")
        .example("\"/var/lib/invalidator/dead-letter.jsonl\"");
    s.option("state_dir", &S::state_dir)
        .description("Where sources and sinks keep what must survive a restart (a checkpoint, a cursor): each instance in <state_dir>/sources/<id> or <state_dir>/sinks/<id>, created when first written. A relative path is taken from the configuration file's directory (the working directory for a configuration given as text).")
        .default_value("invalidator-state")
        .example("\"/var/lib/invalidator\"");
    s.option("source_restart_backoff", &S::source_restart_backoff)
        .description("A source that fails transiently (a lost connection, a server restarting) is started again after this wait, doubled at each failure in a row, with jitter. It resumes from the position its transport committed, so nothing is lost.")
        .default_value(500ms)
        .min(1);
    s.option("source_restart_max_backoff", &S::source_restart_max_backoff)
        .description("Longest wait before a source is started again.")
        .default_value(30s)
        .min(1);
    return s;
  }();
  return spec;
}

std::filesystem::path state_directory(const PipelineConfig& config) {
  const std::filesystem::path state_dir = config.engine.state_dir;
  if (state_dir.is_absolute()) return state_dir;
  std::error_code error;
  const std::filesystem::path file = config.file;
  if (std::filesystem::is_regular_file(file, error)) return std::filesystem::absolute(file, error).parent_path() / state_dir;
  return std::filesystem::absolute(state_dir, error);
}

std::filesystem::path dead_letter_path(const PipelineConfig& config) {
  if (config.engine.on_error == OnError::stop) return {};
  const std::filesystem::path file = config.engine.dead_letter;
  return file.is_absolute() ? file : state_directory(config) / file;
}

const sdk::OptionsSpec<SinkSettings>& sink_common_options() {
  static const sdk::OptionsSpec<SinkSettings> spec = [] {
    using S = SinkSettings;
    sdk::OptionsSpec<S> s("Keys every `[sinks.<id>]` table accepts besides its plugin's options and `type`.");
    s.option("log_invalidations", &S::log_invalidations)
        .description("Log each invalidation the sink applied (action and key), at info level. For trying things out: it costs a log line per key.")
        .default_value(false);
    s.option("lanes", &S::lanes)
        .description("Batches delivered in parallel, each key always in the same lane (its order kept). Capped by what the sink supports (a memory cache: any; a connection: one).")
        .default_value(1)
        .min(1)
        .max(64);
    return s;
  }();
  return spec;
}

const sdk::OptionsSpec<BatchSettings>& batch_options() {
  static const sdk::OptionsSpec<BatchSettings> spec = [] {
    using S = BatchSettings;
    sdk::OptionsSpec<S> s("How a sink's invalidations are grouped (`[sinks.<id>.batch]`).");
    s.option("max_events", &S::max_events)
        .description("Largest batch handed to the sink at once.")
        .default_value(512)
        .min(1)
        .max(1'000'000);
    s.option("max_bytes", &S::max_bytes)
        .size()
        .description("Largest batch in bytes of keys and values handed to the sink at once (a receiver's request size limit); a larger batch is delivered in parts, in order. 0: no limit. An invalidation larger than the limit goes alone.")
        .default_value(0)
        .example("\"1MiB\"")
        .min(0);
    s.option("max_delay", &S::max_delay)
        .description("Longest an invalidation waits for its batch to fill.")
        .default_value(2ms)
        .min(0);
    return s;
  }();
  return spec;
}

const sdk::OptionsSpec<RetrySettings>& retry_options() {
  static const sdk::OptionsSpec<RetrySettings> spec = [] {
    using S = RetrySettings;
    sdk::OptionsSpec<S> s("What happens when a sink asks for a retry (`[sinks.<id>.retry]`).");
    s.option("max_attempts", &S::max_attempts)
        .description("Attempts before an invalidation is given up on, as engine.on_error says (dead-lettered, or the pipeline stops); 0: retry until delivered.")
        .default_value(0)
        .min(0);
    s.option("initial_backoff", &S::initial_backoff)
        .description("Wait before the first retry; doubles each time, with jitter.")
        .default_value(50ms)
        .min(1);
    s.option("max_backoff", &S::max_backoff)
        .description("Longest wait between two attempts.")
        .default_value(30s)
        .min(1);
    return s;
  }();
  return spec;
}

const sdk::ConfigSpec& engine_spec() { return engine_options().describe(); }
const sdk::ConfigSpec& sink_common_spec() { return sink_common_options().describe(); }
const sdk::ConfigSpec& batch_spec() { return batch_options().describe(); }
const sdk::ConfigSpec& retry_spec() { return retry_options().describe(); }

EngineSettings default_engine_settings() { return engine_options().fill(sdk::Config{}).value(); }

SinkSettings default_sink_settings() {
  SinkSettings settings = sink_common_options().fill(sdk::Config{}).value();
  settings.batch = batch_options().fill(sdk::Config{}).value();
  settings.retry = retry_options().fill(sdk::Config{}).value();
  return settings;
}

const sdk::ConfigSpec& route_spec() {
  static const sdk::ConfigSpec spec = [] {
    sdk::ConfigSpec s;
    s.summary("Which changes invalidate which keys (`[[routes]]`).")
        .option("from", OptionType::string_list)
        .description("Source ids this route listens to.")
        .required()
        .example("[\"customers\"]")
        .option("table", OptionType::string)
        .description("Table as \"schema.table\" (or \"db.table\"); '*' matches any run of characters, e.g. \"*.customers\".")
        .required()
        .example("\"public.customers\"")
        .option("ops", OptionType::string_list)
        .description("Operations that trigger the route: insert, update, delete, truncate, read (snapshot). Default: all but read.")
        .example("[\"update\", \"delete\"]")
        .option("changed", OptionType::string_list)
        .description("An update passes only if one of these columns changed, or one a key is built from (the row "
                     "then moved to another key); empty: every update passes.")
        .example("[\"address\", \"email\"]")
        .option("keys", OptionType::string_list)
        .description("Key templates, rendered against the row before and after the change: {column} is a column's value, {header:NAME} a message header's (e.g. a Kafka header).")
        .example("[\"customer:{id}\"]")
        .option("to", OptionType::string_list)
        .description("Sink ids receiving the invalidations.")
        .required()
        .example("[\"cache\"]")
        .option("action", OptionType::string)
        .description("What sinks do with the keys.")
        .default_value("\"delete\"")
        .one_of({"delete", "set", "expire"})
        .option("value", OptionType::string)
        .description("Value template written by action = \"set\", rendered against the row after the change.")
        .example("\"{name}\"")
        .option("ttl", OptionType::duration)
        .description("Time to live for set and expire; 0: none.")
        .default_value("\"0ms\"")
        .min(0)
        .option("redelete_after", OptionType::duration)
        .description("Delete the keys again after this delay, against readers writing back a value read before the change; 0: off.")
        .default_value("\"0ms\"")
        .min(0)
        .option("on_truncate", OptionType::string_list)
        .description("Key patterns ('*' wildcard) deleted when the table is truncated.")
        .example("[\"customer:*\"]");
    return s;
  }();
  return spec;
}

std::optional<sdk::Op> parse_op(std::string_view text) {
  if (text == "insert" || text == "create") return sdk::Op::insert;
  if (text == "update") return sdk::Op::update;
  if (text == "delete") return sdk::Op::remove;
  if (text == "truncate") return sdk::Op::truncate;
  if (text == "read" || text == "snapshot") return sdk::Op::snapshot_read;
  return std::nullopt;
}

std::optional<toml::table> parse_toml(std::string_view text, const std::string& file, Diagnostics& out) {
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& error) {
    out.add(Location{file, error.source().begin.line, error.source().begin.column}, "",
            "TOML syntax error: " + std::string(error.description()));
    return std::nullopt;
  }
}

std::optional<toml::table> parse_toml_file(const std::string& path, Diagnostics& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.add(Location{path, 0, 0}, "", "cannot read the configuration file (does it exist?)");
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_toml(buffer.str(), path, out);
}

namespace {

const std::vector<std::string> kTopLevelKeys{"engine", "sources", "sinks", "routes"};

// Tables are validated before they are filled: a value of the wrong type cannot be there.
template <typename Settings>
Settings filled(const sdk::OptionsSpec<Settings>& spec, const sdk::Config& values) {
  return spec.fill(values).value();
}

}  // namespace

SinkSettings read_sink_settings(const toml::table& table, const std::string& path, const std::string& file,
                                Diagnostics& out) {
  // The sink's table holds these beside the plugin's own options: checked one by one, and
  // what is left out takes its declared default.
  sdk::Config common;
  for (const auto& option : sink_common_spec().options()) {
    const toml::node* value = table.get(option.name);
    if (value == nullptr) continue;
    if (auto checked = check_option(*value, option, path + "." + option.name, file, out)) {
      common.set(option.name, std::move(*checked));
    }
  }
  SinkSettings settings = filled(sink_common_options(), common);
  static const toml::table kEmpty;
  auto sub_table = [&](const char* sub) -> const toml::table& {
    const toml::node* sub_node = table.get(sub);
    if (sub_node == nullptr) return kEmpty;
    if (const toml::table* found = sub_node->as_table()) return *found;
    out.add(location_of(*sub_node, file), path + "." + sub, std::string("expected a table ([") + path + "." + sub + "])");
    return kEmpty;
  };
  settings.batch = filled(batch_options(), validate_table(sub_table("batch"), batch_spec(), path + ".batch", file, out));
  settings.retry = filled(retry_options(), validate_table(sub_table("retry"), retry_spec(), path + ".retry", file, out));
  return settings;
}

namespace {

const toml::table* table_at(const toml::table& root, std::string_view key, const std::string& file,
                            Diagnostics& out) {
  const toml::node* node = root.get(key);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) {
    out.add(location_of(*node, file), std::string(key),
            "expected a table ([" + std::string(key) + ".<id>])");
    return nullptr;
  }
  return node->as_table();
}

void read_instances(const toml::table& root, sdk::PluginKind kind, const std::string& file,
                    const PluginCatalog& catalog, Diagnostics& out, std::vector<PluginInstance>& into) {
  const std::string section = kind == sdk::PluginKind::source ? "sources" : "sinks";
  const toml::table* instances = table_at(root, section, file, out);
  if (instances == nullptr) return;
  for (const auto& [key, node] : *instances) {
    std::string id(key.str());
    std::string path = section + "." + id;
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      out.add(location_of(node, file), path, "expected a table ([" + path + "])");
      continue;
    }
    PluginInstance instance;
    instance.id = id;
    instance.kind = kind;
    instance.where = location_of(*table, file);
    const toml::node* type_node = table->get("type");
    if (type_node == nullptr) {
      auto names = catalog.names(kind);
      std::string available;
      for (const auto& name : names) available += (available.empty() ? "" : ", ") + name;
      out.add(instance.where, path + ".type",
              "missing required key 'type' (the " + std::string(sdk::to_string(kind)) +
                  " plugin to use; available: " + (available.empty() ? "none found" : available) + ")");
      continue;
    }
    auto type = expanded_string(*type_node, path + ".type", file, out);
    if (!type) {
      if (!type_node->is_string()) out.add(location_of(*type_node, file), path + ".type", "expected a string");
      continue;
    }
    instance.type = *type;
    const sdk::PluginDescriptor* descriptor = catalog.find(kind, instance.type);
    if (descriptor == nullptr) {
      std::string refusal = catalog.refusal(kind, instance.type);
      if (!refusal.empty()) {
        out.add(location_of(*type_node, file), path + ".type",
                "the " + std::string(sdk::to_string(kind)) + " plugin '" + instance.type +
                    "' was refused: " + refusal);
      } else {
        auto names = catalog.names(kind);
        std::string available;
        for (const auto& name : names) available += (available.empty() ? "" : ", ") + name;
        out.add(location_of(*type_node, file), path + ".type",
                "unknown " + std::string(sdk::to_string(kind)) + " type '" + instance.type + "'" +
                    did_you_mean(instance.type, names) + "; available: " +
                    (available.empty() ? "none (check engine.plugin_path)" : available));
      }
      continue;
    }
    std::vector<std::string> reserved{"type"};
    if (kind == sdk::PluginKind::sink) {
      reserved.push_back("batch");
      reserved.push_back("retry");
      for (const auto& option : sink_common_spec().options()) reserved.push_back(option.name);
      instance.sink = read_sink_settings(*table, path, file, out);
    }
    instance.options = validate_table(*table, descriptor->spec(), path, file, out, reserved);
    into.push_back(std::move(instance));
  }
}

std::vector<std::string> declared_ids(const toml::table& root, std::string_view section) {
  std::vector<std::string> ids;
  if (const toml::table* table = root.get_as<toml::table>(section)) {
    for (const auto& [key, node] : *table) ids.emplace_back(key.str());
  }
  return ids;
}

// Reads one [[routes]] table, checking its ids, ops and templates; every problem goes to `out`.
class RouteReader {
 public:
  RouteReader(const toml::table& table, std::size_t index, const std::string& file, Diagnostics& out)
      : table_(table), path_("routes[" + std::to_string(index) + "]"), file_(file), out_(out) {
    route_.index = index;
    route_.where = location_of(table, file);
  }

  route::RouteSpec read(const std::vector<std::string>& source_ids, const std::vector<std::string>& sink_ids) {
    const std::size_t errors_before = out_.size();
    read_values();
    check_ids("from", route_.from, source_ids, "source", "[sources.<id>]");
    check_ids("to", route_.to, sink_ids, "sink", "[sinks.<id>]");
    read_ops();
    check_templates();
    // What the route does is judged only once its parts are right.
    if (out_.size() == errors_before) check_it_produces_something();
    return std::move(route_);
  }

 private:
  void read_values() {
    sdk::Config values = validate_table(table_, route_spec(), path_, file_, out_);
    route_.from = values.string_list("from");
    route_.table = values.string("table");
    route_.changed = values.string_list("changed");
    route_.keys = values.string_list("keys");
    route_.to = values.string_list("to");
    route_.value = values.string("value");
    route_.ttl = values.duration("ttl");
    route_.redelete_after = values.duration("redelete_after");
    route_.on_truncate = values.string_list("on_truncate");
    const std::string action = values.string("action");
    route_.action = action == "set"      ? sdk::Action::set_value
                    : action == "expire" ? sdk::Action::expire
                                         : sdk::Action::delete_key;
  }

  void check_ids(std::string_view key, const std::vector<std::string>& named, const std::vector<std::string>& known,
                 const std::string& kind, const std::string& table_form) {
    for (std::size_t k = 0; k < named.size(); ++k) {
      const auto& id = named[k];
      if (std::find(known.begin(), known.end(), id) != known.end()) continue;
      out_.add(element_where(key, k), path_ + "." + std::string(key),
               "unknown " + kind + " '" + id + "'" + did_you_mean(id, known) +
                   (known.empty() ? "; no " + table_form + " is defined" : ""));
    }
  }

  void read_ops() {
    const toml::node* ops_node = table_.get("ops");
    if (ops_node == nullptr) {
      route_.ops = {sdk::Op::insert, sdk::Op::update, sdk::Op::remove, sdk::Op::truncate};
      return;
    }
    if (!ops_node->is_array()) return;  // reported by the spec's check
    const std::vector<std::string> op_names{"insert", "update", "delete", "truncate", "read"};
    for (std::size_t k = 0; k < ops_node->as_array()->size(); ++k) {
      const toml::node& op_node = *ops_node->as_array()->get(k);
      if (!op_node.is_string()) continue;
      const std::string op_text = op_node.as_string()->get();
      if (auto op = parse_op(op_text)) {
        route_.ops.push_back(*op);
        continue;
      }
      // Words people reach for that are not the op names: point at the right one.
      static const std::map<std::string, std::string> synonyms{
          {"remove", "delete"}, {"drop", "delete"}, {"d", "delete"}, {"c", "insert"}, {"u", "update"},
          {"r", "read"}, {"t", "truncate"}, {"upsert", "update"}, {"snapshot_read", "read"}};
      auto synonym = synonyms.find(op_text);
      std::string hint = synonym != synonyms.end() ? " (did you mean '" + synonym->second + "'?)"
                                                   : did_you_mean(op_text, op_names);
      out_.add(location_of(op_node, file_), path_ + ".ops",
               "unknown op '" + op_text + "'" + hint + "; expected insert, update, delete, truncate or read");
    }
  }

  void check_templates() {
    for (std::size_t k = 0; k < route_.keys.size(); ++k) {
      if (auto compiled = route::KeyTemplate::compile(route_.keys[k]); !compiled) {
        out_.add(element_where("keys", k), path_ + ".keys", compiled.error());
      }
    }
    if (route_.value.empty()) return;
    if (auto compiled = route::KeyTemplate::compile(route_.value); !compiled) {
      out_.add(where_of("value"), path_ + ".value", compiled.error());
    }
  }

  void check_it_produces_something() {
    if (route_.keys.empty() && route_.on_truncate.empty()) {
      out_.add(route_.where, path_ + ".keys",
               "the route produces nothing: give keys (e.g. keys = [\"customer:{id}\"]) or on_truncate");
    }
    if (route_.action == sdk::Action::set_value && route_.value.empty()) {
      out_.add(where_of("action"), path_ + ".value", "action = \"set\" needs a value template (e.g. value = \"{name}\")");
    }
    if (route_.action == sdk::Action::expire && route_.ttl.count() == 0) {
      out_.add(where_of("action"), path_ + ".ttl", "action = \"expire\" needs a ttl (e.g. ttl = \"5s\")");
    }
  }

  Location where_of(std::string_view key) const {
    const toml::node* found = table_.get(key);
    return found ? location_of(*found, file_) : route_.where;
  }
  Location element_where(std::string_view key, std::size_t index) const {
    const toml::node* found = table_.get(key);
    if (found && found->is_array() && index < found->as_array()->size()) {
      return location_of(*found->as_array()->get(index), file_);
    }
    return where_of(key);
  }

  const toml::table& table_;
  const std::string path_;
  const std::string& file_;
  Diagnostics& out_;
  route::RouteSpec route_;
};

void read_routes(const toml::table& root, const std::string& file, PipelineConfig& config,
                 Diagnostics& out, const std::vector<std::string>& extra_sources,
                 const std::vector<std::string>& extra_sinks) {
  const toml::node* routes_node = root.get("routes");
  if (routes_node == nullptr) return;
  const toml::array* routes = routes_node->as_array();
  if (routes == nullptr) {
    out.add(location_of(*routes_node, file), "routes", "expected an array of tables ([[routes]])");
    return;
  }
  // Ids declared in the file count even when their table has errors (already reported), so
  // that one mistake is not reported again by every route using it.
  auto source_ids = declared_ids(root, "sources");
  source_ids.insert(source_ids.end(), extra_sources.begin(), extra_sources.end());
  auto sink_ids = declared_ids(root, "sinks");
  sink_ids.insert(sink_ids.end(), extra_sinks.begin(), extra_sinks.end());
  for (std::size_t i = 0; i < routes->size(); ++i) {
    const toml::node& node = *routes->get(i);
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      out.add(location_of(node, file), "routes[" + std::to_string(i) + "]", "expected a table ([[routes]])");
      continue;
    }
    config.routes.push_back(RouteReader(*table, i, file, out).read(source_ids, sink_ids));
  }
}

}  // namespace

EngineSettings read_engine(const toml::table& root, const std::string& file, Diagnostics& out) {
  const toml::table* engine = table_at(root, "engine", file, out);
  static const toml::table kEmpty;
  return filled(engine_options(), validate_table(engine != nullptr ? *engine : kEmpty, engine_spec(), "engine", file, out));
}

PipelineConfig read_pipeline(const toml::table& root, const std::string& file,
                             const PluginCatalog& catalog, Diagnostics& out,
                             const std::vector<std::string>& extra_sources,
                             const std::vector<std::string>& extra_sinks) {
  PipelineConfig config;
  config.file = file;
  for (const auto& [key, node] : root) {
    std::string name(key.str());
    if (std::find(kTopLevelKeys.begin(), kTopLevelKeys.end(), name) == kTopLevelKeys.end()) {
      const auto& source = key.source();
      out.add(Location{file, source.begin.line, source.begin.column}, name,
              "unknown top-level key '" + name + "'" + did_you_mean(name, kTopLevelKeys) +
                  "; expected [engine], [sources.<id>], [sinks.<id>] or [[routes]]");
    }
  }
  Diagnostics engine_errors;  // already reported by read_engine
  config.engine = read_engine(root, file, engine_errors);
  read_instances(root, sdk::PluginKind::source, file, catalog, out, config.sources);
  read_instances(root, sdk::PluginKind::sink, file, catalog, out, config.sinks);
  read_routes(root, file, config, out, extra_sources, extra_sinks);
  if (config.sources.empty() && extra_sources.empty() && !root.contains("sources")) {
    out.add(Location{file, 1, 1}, "sources", "no source defined (add a [sources.<id>] table with a type)");
  }
  if (config.sinks.empty() && extra_sinks.empty() && !root.contains("sinks")) {
    out.add(Location{file, 1, 1}, "sinks", "no sink defined (add a [sinks.<id>] table with a type)");
  }
  return config;
}

}  // namespace invalidator::config
