#include "commands.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "codec/debezium_decoder.hpp"
#include "config/pipeline_config.hpp"
#include "route/router.hpp"
#include "util/json_text.hpp"
#include "docs/spec_markdown.hpp"
#include "engine_setup.hpp"
#include "invalidator/engine.hpp"
#include "util/log.hpp"

namespace invalidator::app {

namespace {

void report_refusals(const plugin_host::Registry& registry) {
  for (const auto& refusal : registry.refusals()) {
    spdlog::warn("plugin refused: {}: {}", refusal.file, refusal.message);
  }
}

// Blocks SIGINT and SIGTERM in every thread and waits for them in one: the first asks the
// engine to drain and stop, a second one exits at once.
class SignalWaiter {
 public:
  explicit SignalWaiter(Engine& engine) {
    // A cache or broker closing its socket must make write() fail, not end the process.
    std::signal(SIGPIPE, SIG_IGN);
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGUSR1);  // internal: wakes the waiter when the engine ended by itself
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this, &engine] {
      int signal_number = 0;
      sigwait(&signals_, &signal_number);
      if (signal_number == SIGUSR1) return;
      spdlog::info("received {}, draining in-flight work (a second signal exits at once)", strsignal(signal_number));
      engine.request_stop();
      while (sigwait(&signals_, &signal_number) == 0) {
        if (signal_number == SIGUSR1) return;
        spdlog::error("second {}, exiting without draining", strsignal(signal_number));
        std::fflush(nullptr);
        std::_Exit(kExitFailure);
      }
    });
  }
  ~SignalWaiter() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  sigset_t signals_{};
  std::thread thread_;
};

}  // namespace

int validate_command(const std::string& config_file) {
  LoadedConfiguration loaded = load_configuration_file(config_file, LoadOptions{});
  report_refusals(*loaded.registry);
  if (!loaded.diagnostics.empty()) {
    std::cerr << loaded.diagnostics.to_string();
    std::cerr << loaded.diagnostics.size() << (loaded.diagnostics.size() == 1 ? " error" : " errors") << " in "
              << config_file << "\n";
    return kExitUsage;
  }
  const auto& pipeline = loaded.pipeline;
  std::cout << config_file << ": ok (" << pipeline.sources.size() << " source(s), " << pipeline.sinks.size()
            << " sink(s), " << pipeline.routes.size() << " route(s))\n";
  return kExitOk;
}

int run_command(const std::string& config_file) {
  {
    // A bad configuration is a usage error (2); a valid one that fails to start is a runtime
    // failure (1): a file that cannot be opened, a server that refuses.
    LoadedConfiguration loaded = load_configuration_file(config_file, LoadOptions{});
    if (!loaded.diagnostics.empty()) {
      std::cerr << loaded.diagnostics.to_string();
      return kExitUsage;
    }
    util::set_log_level(loaded.pipeline.engine.log_level);
  }
  auto built = EngineBuilder().config_file(config_file).build();
  if (!built) {
    std::cerr << built.error();
    return kExitFailure;
  }
  Engine& engine = *built.value();
  SignalWaiter signals(engine);
  spdlog::info("invalidator {} starting {}", version(), config_file);
  if (auto started = engine.start(); !started) {
    spdlog::error("{}", started.message());
    return kExitFailure;
  }
  auto status = engine.wait();
  auto stats = engine.stats();
  spdlog::info("stopped: {} messages, {} events, {} skipped, {} malformed, {} invalidations, {} delivered, "
               "{} coalesced, {} dead-lettered, {} acknowledged",
               stats.messages, stats.events, stats.skipped, stats.malformed, stats.invalidations, stats.delivered,
               stats.coalesced, stats.dead_lettered, stats.acknowledged);
  if (!status) {
    spdlog::error("{}", status.message());
    return kExitFailure;
  }
  return kExitOk;
}

namespace {

std::string read_all(const std::string& file) {
  std::ostringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file);
    text << in.rdbuf();
  }
  std::string content = text.str();
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

std::string render_value(const sdk::Value& value) {
  if (sdk::is_null(value)) return "null";
  if (sdk::is_unavailable(value)) return "(unavailable)";
  if (const auto* text = std::get_if<std::string>(&value)) {
    std::string quoted;
    util::append_json_string(quoted, *text);
    return quoted;
  }
  std::string out;
  route::append_value(value, out);
  return out;
}

std::string render_row(const sdk::Row& row) {
  std::string out = "{";
  for (const auto& column : row.columns()) {
    if (out.size() > 1) out += ", ";
    out += column.name + ": " + render_value(column.value);
  }
  return out + "}";
}

std::string invalidation_json(std::size_t route, const std::string& sink, const sdk::Invalidation& invalidation,
                              std::chrono::milliseconds redelete_after) {
  std::string out = "{\"route\":" + std::to_string(route) + ",\"sink\":";
  util::append_json_string(out, sink);
  out += ",\"action\":";
  util::append_json_string(out, sdk::to_string(invalidation.action));
  out += ",\"key\":";
  util::append_json_string(out, invalidation.key);
  if (invalidation.value) {
    out += ",\"value\":";
    util::append_json_string(out, *invalidation.value);
  }
  if (invalidation.ttl.count() > 0) out += ",\"ttl_ms\":" + std::to_string(invalidation.ttl.count());
  if (redelete_after.count() > 0) out += ",\"redelete_after_ms\":" + std::to_string(redelete_after.count());
  return out + "}";
}

}  // namespace

int explain_command(const ExplainOptions& options) {
  LoadedConfiguration loaded = load_configuration_file(options.config_file, LoadOptions{});
  if (!loaded.diagnostics.empty()) {
    std::cerr << loaded.diagnostics.to_string();
    return kExitUsage;
  }
  const auto& pipeline = loaded.pipeline;
  std::vector<std::string> source_ids, sink_ids;
  for (const auto& source : pipeline.sources) source_ids.push_back(source.id);
  for (const auto& sink : pipeline.sinks) sink_ids.push_back(sink.id);
  std::string source_id = options.source_id;
  if (source_id.empty()) {
    if (source_ids.size() != 1) {
      std::cerr << "explain: the configuration has " << source_ids.size() << " sources; choose one with --source ("
                << (source_ids.empty() ? std::string("none defined") : source_ids.front() + ", ...") << ")\n";
      return kExitUsage;
    }
    source_id = source_ids.front();
  }
  auto found = std::find(source_ids.begin(), source_ids.end(), source_id);
  if (found == source_ids.end()) {
    std::cerr << "explain: no source '" << source_id << "'" << config::did_you_mean(source_id, source_ids) << "\n";
    return kExitUsage;
  }
  std::size_t source_index = static_cast<std::size_t>(found - source_ids.begin());

  sdk::RawMessage message;
  try {
    message.value = read_all(options.message_file);
    if (!options.key_file.empty()) message.key = read_all(options.key_file);
  } catch (const std::exception& error) {
    std::cerr << "explain: " << error.what() << "\n";
    return kExitUsage;
  }
  message.topic = options.topic.empty() ? pipeline.sources[source_index].options.string("topic") : options.topic;
  if (*message.value == "null" || message.value->empty()) message.value.reset();

  codec::DebeziumDecoder decoder;
  sdk::ChangeEvent event;
  auto result = decoder.decode(message, event);
  switch (result.status) {
    case codec::DecodeStatus::skipped:
      std::cerr << "skipped: " << result.reason << " (acknowledged, nothing invalidated)\n";
      return kExitOk;
    case codec::DecodeStatus::failed:
      std::cerr << "cannot decode: " << result.reason << (result.detail.empty() ? "" : ": " + result.detail)
                << " (counted and dead-lettered by run)\n";
      return kExitFailure;
    case codec::DecodeStatus::invalidation:
      std::cerr << "a dead-lettered invalidation, replayed to sink '" << result.sink << "' as it is\n";
      if (std::find(sink_ids.begin(), sink_ids.end(), result.sink) == sink_ids.end()) {
        std::cerr << "but this configuration has no sink '" << result.sink << "'\n";
        return kExitOk;
      }
      std::cout << invalidation_json(result.route, result.sink, result.invalidation, {}) << "\n";
      return kExitOk;
    case codec::DecodeStatus::event:
      break;
  }
  std::cerr << "decoded: " << sdk::to_string(event.op) << " " << event.table.qualified_name() << " (version "
            << event.version << (event.transaction_id.empty() ? "" : ", transaction " + event.transaction_id)
            << (event.topic.empty() ? "" : ", topic " + event.topic) << ")\n";
  if (!event.key.empty()) std::cerr << "  key:    " << render_row(event.key) << "\n";
  std::cerr << "  before: " << (event.before ? render_row(*event.before) : "(none)") << "\n";
  std::cerr << "  after:  " << (event.after ? render_row(*event.after) : "(none)") << "\n";

  auto router = route::Router::build(pipeline.routes, source_ids, sink_ids);
  if (!router) {
    std::cerr << router.error() << "\n";
    return kExitUsage;
  }
  for (const auto& verdict : router->explain(source_index, event)) std::cerr << verdict << "\n";
  std::vector<route::RoutedInvalidation> routed;
  router->route(source_index, event, routed);
  for (const auto& problem : router->take_new_problems()) {
    std::cerr << "route " << problem.route << ": \"" << problem.template_text << "\" rendered no key: column '"
              << problem.column << "' is "
              << (problem.outcome == route::KeyTemplate::Outcome::null_column          ? "null"
                  : problem.outcome == route::KeyTemplate::Outcome::unavailable_column ? "unavailable (TOAST)"
                                                                                       : "absent")
              << "\n";
  }
  for (const auto& item : routed) {
    std::cout << invalidation_json(item.route, sink_ids[item.sink], item.invalidation, item.redelete_after) << "\n";
  }
  if (routed.empty()) std::cerr << "no invalidation\n";
  return kExitOk;
}

int plugins_command(const std::string& config_file, bool docs, const std::string& options_of) {
  std::vector<std::string> plugin_path;
  if (!config_file.empty()) {
    config::Diagnostics diagnostics;
    auto root = config::parse_toml_file(config_file, diagnostics);
    if (!root) {
      std::cerr << diagnostics.to_string();
      return kExitUsage;
    }
    plugin_path = config::read_engine(*root, config_file, diagnostics).plugin_path;
    if (!diagnostics.empty()) {
      std::cerr << diagnostics.to_string();
      return kExitUsage;
    }
  }
  plugin_host::Registry registry;
  registry.load_search_path(plugin_path);
  report_refusals(registry);

  if (!options_of.empty()) {
    for (const auto* entry : registry.entries()) {
      if (options_of == entry->descriptor->name) {
        std::cout << docs::options_table(entry->descriptor->spec());
        return kExitOk;
      }
    }
    std::cerr << "no plugin named '" << options_of << "' was found\n";
    return kExitUsage;
  }
  if (docs) {
    std::cout << "# Invalidator configuration reference\n\n"
              << "Generated by `invalidator plugins --docs` from the specs the core and each plugin declare.\n\n";
    std::cout << docs::spec_section("## [engine]", config::engine_spec()) << "\n";
    std::cout << docs::spec_section("## [[routes]]", config::route_spec()) << "\n";
    std::cout << docs::spec_section("## [sinks.<id>]", config::sink_common_spec()) << "\n";
    std::cout << docs::spec_section("## [sinks.<id>.batch]", config::batch_spec()) << "\n";
    std::cout << docs::spec_section("## [sinks.<id>.retry]", config::retry_spec()) << "\n";
    for (const auto* entry : registry.entries()) {
      const auto* descriptor = entry->descriptor;
      std::string heading = std::string("## ") + (descriptor->kind == sdk::PluginKind::source ? "source" : "sink") +
                            " `" + descriptor->name + "` (" + descriptor->version + ")";
      std::cout << docs::spec_section(heading, descriptor->spec()) << "\n";
    }
    return kExitOk;
  }
  if (registry.entries().empty()) {
    std::cout << "no plugins found; searched engine.plugin_path, $INVALIDATOR_PLUGIN_PATH and:\n";
    for (const auto& directory : plugin_host::Registry::default_directories()) {
      std::cout << "  " << directory.string() << "\n";
    }
    return kExitOk;
  }
  std::printf("%-8s %-12s %-10s %s\n", "KIND", "NAME", "VERSION", "FILE");
  for (const auto* entry : registry.entries()) {
    std::printf("%-8s %-12s %-10s %s\n", sdk::to_string(entry->descriptor->kind), entry->descriptor->name,
                entry->descriptor->version, entry->origin.c_str());
  }
  return kExitOk;
}

}  // namespace invalidator::app
