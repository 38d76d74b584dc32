#include "commands.hpp"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "invalidator/catalog.hpp"
#include "invalidator/configuration.hpp"
#include "invalidator/engine.hpp"
#include "invalidator/logging.hpp"

namespace invalidator::app {

namespace {

void report_refusals(const std::vector<PluginRefusal>& refusals) {
  for (const auto& refusal : refusals) log(sdk::LogLevel::warn, "plugin refused: " + refusal.file + ": " + refusal.message);
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
      log(sdk::LogLevel::info, std::string("received ") + strsignal(signal_number) +
                                   ", draining in-flight work (a second signal exits at once)");
      engine.request_stop();
      while (sigwait(&signals_, &signal_number) == 0) {
        if (signal_number == SIGUSR1) return;
        log(sdk::LogLevel::error, std::string("second ") + strsignal(signal_number) + ", exiting without draining");
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

// The counts of a run in one line; keys routes could not render are spelt out, by route and
// reason, as each may leave a cache entry stale.
std::string stats_line(const EngineStats& stats) {
  std::string line = std::to_string(stats.messages) + " messages, " + std::to_string(stats.events) + " events, " +
                     std::to_string(stats.skipped) + " skipped, " + std::to_string(stats.malformed) + " malformed, " +
                     std::to_string(stats.invalidations) + " invalidations, " + std::to_string(stats.delivered) +
                     " delivered, " + std::to_string(stats.coalesced) + " coalesced, " +
                     std::to_string(stats.dead_lettered) + " dead-lettered, " + std::to_string(stats.acknowledged) +
                     " acknowledged, " + std::to_string(stats.unrendered_keys) + " keys not rendered";
  if (stats.unrendered_keys == 0) return line;
  std::string detail;
  for (const auto& route : stats.routes) {
    for (const auto& [reason, count] : route.unrendered) {
      detail += (detail.empty() ? "" : ", ") + route.route + " " + reason + ": " + std::to_string(count);
    }
  }
  return line + " (" + detail + ")";
}

std::string per_second(std::uint64_t now, std::uint64_t before, std::chrono::milliseconds interval) {
  const double rate = static_cast<double>(now - std::min(now, before)) * 1000.0 / static_cast<double>(interval.count());
  char text[32];
  std::snprintf(text, sizeof text, "%.0f/s", rate);
  return text;
}

std::string seconds_text(double seconds) {
  char text[32];
  if (seconds < 1) {
    std::snprintf(text, sizeof text, "%.1f ms", seconds * 1000);
  } else {
    std::snprintf(text, sizeof text, "%.2f s", seconds);
  }
  return text;
}

// One line per source: its state, what it handed over (and how fast since the last line),
// what was skipped or undecodable, and its lag as it last reported it.
std::string source_line(const SourceStats& source, const SourceStats& before, std::chrono::milliseconds interval) {
  std::uint64_t skipped = 0;
  for (const auto& [reason, count] : source.skipped) skipped += count;
  std::string line = "source " + source.id + ": " + source.state + ", " + std::to_string(source.received) +
                     " received (" + per_second(source.received, before.received, interval) + "), " +
                     std::to_string(skipped) + " skipped, " + std::to_string(source.undecodable) + " undecodable";
  std::map<std::string, std::uint64_t> lag;  // by unit, summed over streams
  for (const auto& stream : source.lag) lag[stream.unit] += stream.lag;
  for (const auto& [unit, total] : lag) line += ", lag " + std::to_string(total) + " " + unit;
  if (!source.ready) line += "; not ready: " + source.not_ready_reason;
  return line;
}

// One line per sink: what it settled (and how fast), its retries and queue, and the staleness
// quantiles since the start.
std::string sink_line(const SinkStats& sink, const SinkStats& before, std::chrono::milliseconds interval) {
  std::string line = "sink " + sink.id + ": " + std::to_string(sink.delivered) + " delivered (" +
                     per_second(sink.delivered, before.delivered, interval) + "), " +
                     std::to_string(sink.dead_lettered) + " dead-lettered, " + std::to_string(sink.retries) +
                     " retries, " + std::to_string(sink.queued) + " queued";
  if (sink.staleness_observations > 0) {
    line += ", staleness p50 " + seconds_text(sink.staleness_p50_seconds) + " p99 " +
            seconds_text(sink.staleness_p99_seconds);
  }
  if (!sink.ready) line += "; not ready: " + sink.not_ready_reason;
  return line;
}

// Logs the stats line, then a line per source and per sink, every `interval` until destroyed.
class PeriodicStats {
 public:
  PeriodicStats(const Engine& engine, std::chrono::milliseconds interval) {
    if (interval.count() <= 0) return;
    thread_ = std::jthread([&engine, interval, this](std::stop_token stop) {
      std::unique_lock lock(mutex_);
      EngineStats before = engine.stats();
      while (!wake_.wait_for(lock, stop, interval, [] { return false; })) {
        if (stop.stop_requested()) return;
        EngineStats now = engine.stats();
        log(sdk::LogLevel::info, "stats: " + stats_line(now));
        for (std::size_t i = 0; i < now.sources.size() && i < before.sources.size(); ++i) {
          log(sdk::LogLevel::info, "stats: " + source_line(now.sources[i], before.sources[i], interval));
        }
        for (std::size_t i = 0; i < now.sinks.size() && i < before.sinks.size(); ++i) {
          log(sdk::LogLevel::info, "stats: " + sink_line(now.sinks[i], before.sinks[i], interval));
        }
        before = std::move(now);
      }
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace

int validate_command(const std::string& config_file) {
  auto configuration = Configuration::load_file(config_file);
  report_refusals(configuration.refusals());
  if (!configuration.valid()) {
    const std::size_t count = configuration.diagnostics().size();
    std::cerr << configuration.diagnostics_text();
    std::cerr << count << (count == 1 ? " error" : " errors") << " in " << config_file << "\n";
    return kExitUsage;
  }
  auto summary = configuration.summary();
  std::cout << config_file << ": ok (" << summary.sources.size() << " source(s), " << summary.sinks.size()
            << " sink(s), " << summary.routes << " route(s))\n";
  if (summary.dead_letter.empty()) {
    std::cout << "on error: stop (engine.on_error = \"stop\"): a message that cannot be decoded or delivered "
                 "stops the pipeline, its position not acknowledged\n";
  } else {
    std::cout << "on error: dead letter: what cannot be decoded or delivered goes to " << summary.dead_letter
              << ", and the source moves past it\n";
  }
  return kExitOk;
}

int run_command(const std::string& config_file, bool log_format_given) {
  // Read and checked once. A bad configuration is a usage error (2); a valid one that fails to
  // start is a runtime failure (1): a file that cannot be opened, a server that refuses.
  auto configuration = Configuration::load_file(config_file);
  if (!configuration.valid()) {
    std::cerr << configuration.diagnostics_text();
    return kExitUsage;
  }
  if (log_format_given) {
    set_log_level(configuration.summary().log_level);
  } else {
    configure_logging(configuration.summary().log_format, configuration.summary().log_level);
  }
  const auto stats_interval = configuration.summary().stats_interval;
  auto built = EngineBuilder().configuration(std::move(configuration)).build();
  if (!built) {
    std::cerr << built.error();
    return kExitFailure;
  }
  Engine& engine = *built.value();
  SignalWaiter signals(engine);
  log(sdk::LogLevel::info, "invalidator " + std::string(version()) + " starting " + config_file);
  if (auto started = engine.start(); !started) {
    log(sdk::LogLevel::error, started.message());
    return kExitFailure;
  }
  sdk::Status status = sdk::Status::success();
  {
    PeriodicStats periodic(engine, stats_interval);
    status = engine.wait();
  }
  log(sdk::LogLevel::info, "stopped: " + stats_line(engine.stats()));
  if (!status) {
    log(sdk::LogLevel::error, status.message());
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

std::string render_row(const Explanation::Row& row) {
  std::string out = "{";
  for (const auto& [name, value] : row) {
    if (out.size() > 1) out += ", ";
    out += name + ": " + value;
  }
  return out + "}";
}

void print_decoded(const Explanation& explanation) {
  std::cerr << "decoded: " << explanation.op << " " << explanation.table << " (version " << explanation.version
            << (explanation.transaction_id.empty() ? "" : ", transaction " + explanation.transaction_id)
            << (explanation.topic.empty() ? "" : ", topic " + explanation.topic) << ")\n";
  if (!explanation.key.empty()) std::cerr << "  key:    " << render_row(explanation.key) << "\n";
  std::cerr << "  before: " << (explanation.before ? render_row(*explanation.before) : "(none)") << "\n";
  std::cerr << "  after:  " << (explanation.after ? render_row(*explanation.after) : "(none)") << "\n";
  for (const auto& verdict : explanation.route_verdicts) std::cerr << verdict << "\n";
  for (const auto& problem : explanation.problems) std::cerr << problem << "\n";
}

}  // namespace

int explain_command(const ExplainOptions& options) {
  auto configuration = Configuration::load_file(options.config_file);
  if (!configuration.valid()) {
    std::cerr << configuration.diagnostics_text();
    return kExitUsage;
  }
  ExplainRequest request;
  request.source = options.source_id;
  request.topic = options.topic;
  try {
    request.value = read_all(options.message_file);
    if (!options.key_file.empty()) request.key = read_all(options.key_file);
  } catch (const std::exception& error) {
    std::cerr << "explain: " << error.what() << "\n";
    return kExitUsage;
  }
  if (*request.value == "null" || request.value->empty()) request.value.reset();

  const Explanation explanation = configuration.explain(request);
  switch (explanation.outcome) {
    case Explanation::Outcome::refused:
      std::cerr << "explain: " << explanation.reason << "\n";
      return kExitUsage;
    case Explanation::Outcome::skipped:
      std::cerr << "skipped: " << explanation.reason << " (acknowledged, nothing invalidated)\n";
      return kExitOk;
    case Explanation::Outcome::undecodable:
      std::cerr << "cannot decode: " << explanation.reason << " (counted and dead-lettered by run)\n";
      return kExitFailure;
    case Explanation::Outcome::replayed:
      std::cerr << "a dead-lettered invalidation, replayed to sink '" << explanation.invalidations.front().sink
                << "' as it is\n";
      if (!explanation.reason.empty()) {
        std::cerr << "but " << explanation.reason << "\n";
        return kExitOk;
      }
      break;
    case Explanation::Outcome::invalidations:
      print_decoded(explanation);
      if (explanation.invalidations.empty()) std::cerr << "no invalidation\n";
      break;
  }
  for (const auto& invalidation : explanation.invalidations) std::cout << invalidation.to_json() << "\n";
  return kExitOk;
}

int plugins_command(const std::string& config_file, bool docs, const std::string& options_of) {
  auto found = config_file.empty() ? sdk::Result<PluginCatalog>(PluginCatalog::discover())
                                   : PluginCatalog::for_configuration_file(config_file);
  if (!found) {
    std::cerr << found.error();
    return kExitUsage;
  }
  const PluginCatalog& catalog = found.value();
  report_refusals(catalog.refusals());

  if (!options_of.empty()) {
    if (const PluginInfo* plugin = catalog.find(options_of)) {
      std::cout << PluginCatalog::options_markdown(plugin->options);
      return kExitOk;
    }
    std::cerr << "no plugin named '" << options_of << "' was found\n";
    return kExitUsage;
  }
  if (docs) {
    std::cout << catalog.reference_markdown();
    return kExitOk;
  }
  if (catalog.plugins().empty()) {
    std::cout << "no plugins found; searched engine.plugin_path, $INVALIDATOR_PLUGIN_PATH and:\n";
    for (const auto& directory : PluginCatalog::default_directories()) std::cout << "  " << directory.string() << "\n";
    return kExitOk;
  }
  std::printf("%-8s %-12s %-10s %-5s %s\n", "KIND", "NAME", "VERSION", "SDK", "FILE");
  for (const auto& plugin : catalog.plugins()) {
    const std::string sdk_version = std::to_string(plugin.abi_major) + "." + std::to_string(plugin.abi_minor);
    std::printf("%-8s %-12s %-10s %-5s %s\n", sdk::to_string(plugin.kind), plugin.name.c_str(), plugin.version.c_str(),
                sdk_version.c_str(), plugin.origin.c_str());
  }
  return kExitOk;
}

}  // namespace invalidator::app
