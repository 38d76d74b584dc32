#include "invalidator/engine.hpp"

#include <algorithm>
#include <mutex>

#include <spdlog/spdlog.h>

#include "admin/admin_server.hpp"
#include "admin/engine_metrics.hpp"
#include "admin/engine_status.hpp"
#include "admin/recent_errors.hpp"
#include "admin/status_page.hpp"
#include "config/spec_validation.hpp"
#include "configuration_state.hpp"
#include "engine_setup.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin_host/plugin_logger.hpp"
#include "util/log.hpp"

#ifndef INVALIDATOR_VERSION
#define INVALIDATOR_VERSION "0.0.0"
#endif

namespace invalidator {

std::string_view version() { return INVALIDATOR_VERSION; }

std::string metrics_reference() { return admin::metrics_reference_markdown(); }

LoadedConfiguration load_configuration(const toml::table& root, const std::string& file, const LoadOptions& options) {
  LoadedConfiguration loaded;
  loaded.registry = std::make_unique<plugin_host::Registry>();
  config::EngineSettings settings = config::read_engine(root, file, loaded.diagnostics);
  for (const auto* descriptor : options.builtin_plugins) {
    if (auto added = loaded.registry->add(*descriptor); !added) {
      loaded.diagnostics.add(config::Location{file, 0, 0}, "", added.message());
    }
  }
  if (options.load_plugin_files) loaded.registry->load_search_path(settings.plugin_path);
  loaded.pipeline = config::read_pipeline(root, file, *loaded.registry, loaded.diagnostics, options.extra_sources,
                                          options.extra_sinks);
  return loaded;
}

LoadedConfiguration load_configuration_file(const std::string& file, const LoadOptions& options) {
  config::Diagnostics diagnostics;
  auto root = config::parse_toml_file(file, diagnostics);
  if (!root) {
    LoadedConfiguration failed;
    failed.registry = std::make_unique<plugin_host::Registry>();
    failed.diagnostics = std::move(diagnostics);
    return failed;
  }
  return load_configuration(*root, file, options);
}

// ---------------------------------------------------------------------------------------
struct EngineBuilder::State {
  std::optional<std::filesystem::path> file;
  std::optional<std::pair<std::string, std::string>> text;  // toml, name
  LoadOptions options;
  std::vector<std::pair<std::string, std::unique_ptr<sdk::Source>>> sources;
  struct CodeSink {
    std::string id;
    std::unique_ptr<sdk::Sink> sink;
    SinkSettings settings;
  };
  std::vector<CodeSink> sinks;
  std::vector<RouteDefinition> routes;
  std::optional<Configuration> configuration;
  std::vector<Diagnostic> diagnostics;  // of the last build()
  std::shared_ptr<spdlog::logger> logger;  // null: the process's

  sdk::Result<LoadedConfiguration> load();
};

EngineBuilder::EngineBuilder() : state_(std::make_unique<State>()) {}
EngineBuilder::~EngineBuilder() = default;
EngineBuilder::EngineBuilder(EngineBuilder&&) noexcept = default;
EngineBuilder& EngineBuilder::operator=(EngineBuilder&&) noexcept = default;

EngineBuilder& EngineBuilder::config_file(const std::filesystem::path& path) {
  state_->file = path;
  return *this;
}
EngineBuilder& EngineBuilder::configuration(Configuration configuration) {
  state_->configuration = std::move(configuration);
  return *this;
}
const std::vector<Diagnostic>& EngineBuilder::diagnostics() const { return state_->diagnostics; }
EngineBuilder& EngineBuilder::log_to(std::function<void(sdk::LogLevel, std::string_view)> handler,
                                     sdk::LogLevel minimum) {
  state_->logger = util::handler_logger(std::move(handler), minimum);
  return *this;
}
EngineBuilder& EngineBuilder::config_string(std::string toml, std::string name) {
  state_->text = std::make_pair(std::move(toml), std::move(name));
  return *this;
}
EngineBuilder& EngineBuilder::register_plugin(const sdk::PluginDescriptor& descriptor) {
  state_->options.builtin_plugins.push_back(&descriptor);
  return *this;
}
EngineBuilder& EngineBuilder::without_plugin_files() {
  state_->options.load_plugin_files = false;
  return *this;
}
EngineBuilder& EngineBuilder::add_source(std::string id, std::unique_ptr<sdk::Source> source) {
  state_->options.extra_sources.push_back(id);
  state_->sources.emplace_back(std::move(id), std::move(source));
  return *this;
}
EngineBuilder& EngineBuilder::add_sink(std::string id, std::unique_ptr<sdk::Sink> sink, SinkSettings settings) {
  state_->options.extra_sinks.push_back(id);
  state_->sinks.push_back(State::CodeSink{std::move(id), std::move(sink), settings});
  return *this;
}
EngineBuilder& EngineBuilder::add_route(RouteDefinition route) {
  state_->routes.push_back(std::move(route));
  return *this;
}

namespace {
toml::array to_array(const std::vector<std::string>& items) {
  toml::array array;
  for (const auto& item : items) array.push_back(item);
  return array;
}
// Routes built in code go through the same validation as TOML ones.
toml::table to_table(const RouteDefinition& route) {
  toml::table table;
  table.insert("from", to_array(route.from));
  table.insert("table", route.table);
  if (!route.ops.empty()) table.insert("ops", to_array(route.ops));
  if (!route.changed.empty()) table.insert("changed", to_array(route.changed));
  if (!route.keys.empty()) table.insert("keys", to_array(route.keys));
  table.insert("to", to_array(route.to));
  table.insert("action", route.action);
  if (!route.value.empty()) table.insert("value", route.value);
  if (!route.ttl.empty()) table.insert("ttl", route.ttl);
  if (!route.redelete_after.empty()) table.insert("redelete_after", route.redelete_after);
  if (!route.on_truncate.empty()) table.insert("on_truncate", to_array(route.on_truncate));
  return table;
}
// A code sink's settings as the [sinks.<id>] keys they stand for, checked the same way.
toml::table to_table(const SinkSettings& settings) {
  toml::table table, batch, retry;
  auto put = [](toml::table& into, std::string_view key, const auto& value) {
    if (!value) return;
    using T = std::decay_t<decltype(*value)>;
    if constexpr (std::is_same_v<T, bool>) into.insert(key, *value);
    else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) into.insert(key, std::to_string(value->count()) + "ms");
    else into.insert(key, static_cast<std::int64_t>(*value));
  };
  put(table, "lanes", settings.lanes);
  put(table, "log_invalidations", settings.log_invalidations);
  put(batch, "max_events", settings.batch_max_events);
  put(batch, "max_bytes", settings.batch_max_bytes);
  put(batch, "max_delay", settings.batch_max_delay);
  put(retry, "max_attempts", settings.retry_max_attempts);
  put(retry, "initial_backoff", settings.retry_initial_backoff);
  put(retry, "max_backoff", settings.retry_max_backoff);
  if (!batch.empty()) table.insert("batch", std::move(batch));
  if (!retry.empty()) table.insert("retry", std::move(retry));
  return table;
}
}  // namespace

namespace {
// Enough to see what went wrong lately on a status page, and few enough to read.
constexpr std::size_t kRecentErrors = 20;
}  // namespace

struct Engine::Impl {
  // Declared first, destroyed last: instances and descriptors live in its libraries.
  std::unique_ptr<plugin_host::Registry> registry;
  std::vector<std::unique_ptr<plugin_host::PluginLogger>> loggers;
  std::unique_ptr<pipeline::Pipeline> pipeline;
  std::optional<admin::ListenAddress> admin_address;
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<admin::RecentErrors> recent_errors;  // a sink of `logger`, for the status page
  std::chrono::steady_clock::time_point built = std::chrono::steady_clock::now();
  // Destroyed before the pipeline it reads.
  std::unique_ptr<admin::AdminServer> admin;
};

// The configuration of a file or text, with what was added in code.
sdk::Result<LoadedConfiguration> EngineBuilder::State::load() {
  config::Diagnostics errors;
  std::string name = "<code>";
  toml::table root;
  if (file || text) {
    name = file ? file->string() : text->second;
    auto parsed = file ? config::parse_toml_file(name, errors) : config::parse_toml(text->first, name, errors);
    if (!parsed) {
      diagnostics = public_diagnostics(errors);
      return sdk::Status::error(errors.to_string());
    }
    root = std::move(*parsed);
  }
  if (!routes.empty()) {
    if (!root.contains("routes")) root.insert("routes", toml::array{});
    if (toml::array* array = root.get("routes")->as_array()) {
      for (const auto& route : routes) array->push_back(to_table(route));
    }
  }
  LoadedConfiguration loaded = load_configuration(root, name, options);
  // An object registered in code and a table of the configuration may not share an id:
  // routes could not tell them apart.
  auto report_clashes = [&](const std::vector<config::PluginInstance>& declared,
                            const std::vector<std::string>& registered, const char* section) {
    for (const auto& instance : declared) {
      if (std::find(registered.begin(), registered.end(), instance.id) != registered.end()) {
        loaded.diagnostics.add(instance.where, std::string(section) + "." + instance.id,
                               "this id is also given to an object added in code; rename one of them");
      }
    }
  };
  report_clashes(loaded.pipeline.sources, options.extra_sources, "sources");
  report_clashes(loaded.pipeline.sinks, options.extra_sinks, "sinks");
  return loaded;
}

sdk::Result<std::unique_ptr<Engine>> EngineBuilder::build() {
  state_->diagnostics.clear();
  std::optional<LoadedConfiguration> taken;
  if (state_->configuration) {
    // Loaded and checked already: taken as it is, with the plugins it found.
    if (!state_->sources.empty() || !state_->sinks.empty() || !state_->routes.empty() ||
        !state_->options.builtin_plugins.empty() || state_->file || state_->text) {
      return sdk::Status::error("an engine built from a loaded Configuration takes nothing else: add sources, sinks, "
                                "routes and plugins in code with config_file() or config_string() instead");
    }
    taken = std::move(state_->configuration->state_->loaded);
    state_->configuration.reset();
  } else {
    auto load_result = state_->load();
    if (!load_result) return sdk::Status::error(load_result.error());
    taken = std::move(load_result).value();
  }
  LoadedConfiguration& loaded = *taken;
  std::vector<config::SinkSettings> code_sink_settings;
  for (const auto& code_sink : state_->sinks) {
    code_sink_settings.push_back(config::read_sink_settings(to_table(code_sink.settings), "sinks." + code_sink.id,
                                                            "<code>", loaded.diagnostics));
  }
  if (!loaded.diagnostics.empty()) {
    state_->diagnostics = public_diagnostics(loaded.diagnostics);
    return sdk::Status::error(loaded.diagnostics.to_string());
  }
  auto impl = std::make_unique<Engine::Impl>();
  // The engine logs where it was told, and keeps its last warnings and errors beside.
  const auto base_logger = state_->logger ? state_->logger : spdlog::default_logger();
  impl->recent_errors = std::make_shared<admin::RecentErrors>(kRecentErrors);
  std::vector<spdlog::sink_ptr> log_sinks = base_logger->sinks();
  log_sinks.push_back(impl->recent_errors);
  const auto logger = std::make_shared<spdlog::logger>(base_logger->name(), log_sinks.begin(), log_sinks.end());
  logger->set_level(base_logger->level());
  logger->flush_on(base_logger->flush_level());
  for (const auto& refusal : loaded.registry->refusals()) {
    logger->warn("plugin refused: {}: {}", refusal.file, refusal.message);
  }
  impl->registry = std::move(loaded.registry);
  impl->logger = logger;
  const auto& pipeline_config = loaded.pipeline;
  if (!pipeline_config.engine.admin.empty()) {
    auto address = admin::parse_listen_address(pipeline_config.engine.admin);
    if (!address) return sdk::Status::error("engine.admin: " + address.error());
    impl->admin_address = *address;
  }

  std::vector<pipeline::SourceSlot> sources;
  std::vector<pipeline::SinkSlot> sinks;
  const std::filesystem::path state_dir = config::state_directory(pipeline_config);
  for (const auto& instance : pipeline_config.sources) {
    impl->loggers.push_back(std::make_unique<plugin_host::PluginLogger>("source " + instance.id, logger));
    sdk::PluginContext context{instance.id, impl->loggers.back().get(), state_dir / "sources" / instance.id};
    auto created = impl->registry->create_source(instance.type, instance.options, context);
    if (!created) {
      return sdk::Status::error(config::Diagnostic{instance.where, "sources." + instance.id,
                                                   "cannot create the " + instance.type + " source: " + created.error()}
                                    .to_string());
    }
    sources.push_back(pipeline::SourceSlot{instance.id, std::move(created).value()});
  }
  for (auto& [id, source] : state_->sources) sources.push_back(pipeline::SourceSlot{id, std::move(source)});
  for (const auto& instance : pipeline_config.sinks) {
    impl->loggers.push_back(std::make_unique<plugin_host::PluginLogger>("sink " + instance.id, logger));
    sdk::PluginContext context{instance.id, impl->loggers.back().get(), state_dir / "sinks" / instance.id};
    auto created = impl->registry->create_sink(instance.type, instance.options, context);
    if (!created) {
      return sdk::Status::error(config::Diagnostic{instance.where, "sinks." + instance.id,
                                                   "cannot create the " + instance.type + " sink: " + created.error()}
                                    .to_string());
    }
    sinks.push_back(pipeline::SinkSlot{instance.id, std::move(created).value(), instance.sink});
  }
  for (std::size_t i = 0; i < state_->sinks.size(); ++i) {
    auto& code_sink = state_->sinks[i];
    sinks.push_back(pipeline::SinkSlot{code_sink.id, std::move(code_sink.sink), code_sink_settings[i]});
  }

  std::vector<std::string> source_ids, sink_ids;
  for (const auto& slot : sources) source_ids.push_back(slot.id);
  for (const auto& slot : sinks) sink_ids.push_back(slot.id);
  if (pipeline_config.routes.empty()) {
    // Legitimate for replaying a dead-letter file, whose invalidations name their sink.
    logger->warn("{}: no [[routes]]: change events produce no invalidations; only replayed dead-lettered "
                 "invalidations reach the sinks",
                 pipeline_config.file);
  }
  auto router = route::Router::build(pipeline_config.routes, source_ids, sink_ids);
  if (!router) return sdk::Status::error(router.error());
  auto dead_letter = std::make_unique<pipeline::DeadLetterFile>(config::dead_letter_path(pipeline_config));

  impl->pipeline = std::make_unique<pipeline::Pipeline>(pipeline_config.engine, std::move(sources), std::move(sinks),
                                                        std::move(router).value(), std::move(dead_letter),
                                                        logger);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

// ---------------------------------------------------------------------------------------
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() {
  if (!impl_ || !impl_->pipeline) return;
  impl_->pipeline->request_stop();
  (void)impl_->pipeline->wait();
  if (impl_->pipeline->abandoned_sources()) {
    // A source's thread ignored the shutdown deadline and still runs in the pipeline and its
    // plugin's library: both are kept for the life of the process (reachable from here).
    static std::mutex mutex;
    static auto* kept = new std::vector<std::unique_ptr<Impl>>();
    std::lock_guard guard(mutex);
    kept->push_back(std::move(impl_));
    return;
  }
  impl_->pipeline.reset();  // joins threads before the registry goes
}

namespace {

SourceStats source_stats(const pipeline::Pipeline& pipeline, std::size_t index) {
  const pipeline::SourceMetrics& metrics = pipeline.source_metrics(index);
  SourceStats out;
  out.id = pipeline.source_ids()[index];
  out.received = metrics.received.load(std::memory_order_relaxed);
  for (std::size_t reason = 0; reason < codec::kSkipReasons; ++reason) {
    if (auto count = metrics.skipped[reason].load(std::memory_order_relaxed)) {
      out.skipped[std::string(codec::to_string(static_cast<codec::SkipReason>(reason)))] = count;
    }
  }
  out.undecodable = metrics.undecodable.load(std::memory_order_relaxed);
  const pipeline::SourceHealth health = metrics.health();
  out.state = std::string(pipeline::to_string(health.state));
  out.ready = health.ready();
  out.not_ready_reason = health.not_ready_reason();
  for (const auto& [stream, lag] : health.lag) {
    out.lag.push_back({stream, lag.lag, lag.unit == sdk::LagUnit::bytes ? "bytes" : "messages"});
  }
  return out;
}

SinkStats sink_stats(const pipeline::Pipeline& pipeline, std::size_t index) {
  SinkStats out;
  out.id = pipeline.sink_ids()[index];
  std::optional<admin::HistogramSnapshot> staleness;
  for (const pipeline::SinkMetrics* lane : pipeline.sink_metrics(index)) {
    for (std::size_t a = 0; a < pipeline::kActionCount; ++a) {
      out.delivered += lane->delivered[a].load(std::memory_order_relaxed);
      out.dead_lettered += lane->dead_lettered[a].load(std::memory_order_relaxed);
    }
    out.retries += lane->retries.load(std::memory_order_relaxed);
    if (staleness) {
      staleness->add(lane->staleness_seconds.snapshot());
    } else {
      staleness = lane->staleness_seconds.snapshot();
    }
  }
  if (auto reason = pipeline::unreachable_reason(pipeline.sink_metrics(index))) {
    out.ready = false;
    out.not_ready_reason = "deliveries are being retried: " + *reason;
  }
  out.queued = pipeline.sink_queue_depth(index);
  if (staleness) {
    out.staleness_observations = staleness->count();
    out.staleness_p50_seconds = staleness->quantile(0.5);
    out.staleness_p99_seconds = staleness->quantile(0.99);
  }
  return out;
}

}  // namespace

sdk::Status Engine::start() {
  // Listening first: /healthz answers while the sources connect.
  if (impl_->admin_address && !impl_->admin) {
    const admin::ListenAddress& address = *impl_->admin_address;
    if (!address.loopback) {
      impl_->logger->warn("engine.admin listens on {}, not a loopback address: anyone who reaches it reads the "
                          "pipeline's metrics",
                          address.host);
    }
    auto server = admin::AdminServer::start(address, [this](std::string_view path) -> admin::HttpAnswer {
      if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_text()};
      if (path == "/healthz") return {200, "application/json", "{\"status\":\"alive\"}\n"};
      if (path == "/readyz") return admin::readiness(stats());
      if (path == "/status") {
        const admin::StatusContext context{version(), std::chrono::system_clock::now(),
                                           std::chrono::steady_clock::now() - impl_->built,
                                           impl_->recent_errors->entries()};
        return {200, "application/json", admin::status_json(stats(), context)};
      }
      if (path == "/" || path == "/index.html") return {200, "text/html; charset=utf-8", std::string(admin::status_page())};
      // Browsers ask for it on their own; "none" keeps their consoles free of a failed load.
      if (path == "/favicon.ico") return {204, "image/x-icon", ""};
      return {404, "text/plain; charset=utf-8", "not found; try /, /status, /metrics, /healthz or /readyz\n"};
    });
    if (!server) return server.status();
    impl_->admin = std::move(server).value();
    impl_->logger->info("admin endpoint on {}:{}: status page at /, /status, /metrics, /healthz, /readyz",
                        address.host, impl_->admin->port());
  }
  return impl_->pipeline->start();
}

std::optional<std::uint16_t> Engine::admin_port() const {
  if (!impl_->admin) return std::nullopt;
  return impl_->admin->port();
}

void Engine::request_stop() { impl_->pipeline->request_stop(); }
sdk::Status Engine::wait() { return impl_->pipeline->wait(); }
sdk::Status Engine::stop() {
  request_stop();
  return wait();
}

sdk::Cache* Engine::cache(std::string_view sink_id) {
  sdk::Sink* sink = impl_->pipeline->sink(sink_id);
  return sink ? sink->cache() : nullptr;
}

EngineStats Engine::stats() const {
  const auto& counters = impl_->pipeline->counters();
  EngineStats stats;
  stats.messages = counters.messages.load();
  stats.events = counters.events.load();
  stats.skipped = counters.skipped.load();
  stats.malformed = counters.malformed.load();
  stats.invalidations = counters.invalidations.load();
  stats.coalesced = counters.coalesced.load();
  stats.delivered = counters.delivered.load();
  stats.retries = counters.retries.load();
  stats.dead_lettered = counters.dead_lettered.load();
  stats.dead_letter_failures = counters.dead_letter_failures.load();
  stats.redeliveries = counters.redeliveries.load();
  stats.source_restarts = counters.source_restarts.load();
  stats.acknowledged = impl_->pipeline->acknowledged();
  const pipeline::Pipeline& pipeline = *impl_->pipeline;
  const auto& source_ids = pipeline.source_ids();
  const auto& sink_ids = pipeline.sink_ids();
  const route::Router& router = pipeline.router();
  for (std::size_t r = 0; r < router.route_count(); ++r) {
    const route::RouteCounters& route_counters = router.counters(r);
    RouteStats route;
    route.route = "routes[" + std::to_string(r) + "]";
    route.matched = route_counters.matched.load();
    route.unchanged = route_counters.unchanged.load();
    const route::Router::Outline outline = router.outline(r);
    route.table = outline.table;
    for (std::size_t source : outline.from) route.from.push_back(source_ids.at(source));
    for (std::size_t sink : outline.to) route.to.push_back(sink_ids.at(sink));
    route.action = std::string(sdk::to_string(outline.action));
    for (std::size_t reason = 0; reason < route::kUnrenderedReasons; ++reason) {
      if (auto count = route_counters.unrendered_by_reason[reason].load()) {
        route.unrendered[std::string(route::to_string(static_cast<route::Unrendered>(reason)))] = count;
      }
    }
    stats.unrendered_keys += route.unrendered_total();
    stats.routes.push_back(std::move(route));
  }
  stats.decode_queue_depth = pipeline.decode_queue_depth();
  for (std::size_t i = 0; i < source_ids.size(); ++i) stats.sources.push_back(source_stats(pipeline, i));
  for (std::size_t i = 0; i < sink_ids.size(); ++i) stats.sinks.push_back(sink_stats(pipeline, i));
  return stats;
}

std::string Engine::metrics_text() const { return admin::render_metrics(*impl_->pipeline); }

std::size_t Engine::outstanding() const { return impl_->pipeline->outstanding(); }

}  // namespace invalidator
