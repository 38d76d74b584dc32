#include "invalidator/configuration.hpp"

#include <simdjson.h>

#include <algorithm>
#include <tuple>

#include "codec/debezium_decoder.hpp"
#include "configuration_state.hpp"
#include "pipeline/dead_letter.hpp"
#include "route/router.hpp"
#include "util/json_text.hpp"

namespace invalidator {

std::string Diagnostic::to_string() const {
  return config::Diagnostic{config::Location{file, line, column}, path, message}.to_string();
}

std::string ExplainedInvalidation::to_json() const {
  std::string out = "{\"route\":" + std::to_string(route) + ",\"sink\":";
  util::append_json_string(out, sink);
  out += ",\"action\":";
  util::append_json_string(out, action);
  out += ",\"key\":";
  util::append_json_string(out, key);
  if (value) {
    out += ",\"value\":";
    util::append_json_string(out, *value);
  }
  if (ttl.count() > 0) out += ",\"ttl_ms\":" + std::to_string(ttl.count());
  if (redelete_after.count() > 0) out += ",\"redelete_after_ms\":" + std::to_string(redelete_after.count());
  return out + "}";
}

std::vector<Diagnostic> public_diagnostics(const config::Diagnostics& diagnostics) {
  std::vector<Diagnostic> out;
  for (const auto& item : diagnostics.items()) {
    out.push_back(Diagnostic{item.where.file, item.where.line, item.where.column, item.path, item.message});
  }
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  return out;
}

Configuration::Configuration(std::unique_ptr<State> state) : state_(std::move(state)) {}
Configuration::Configuration(Configuration&&) noexcept = default;
Configuration& Configuration::operator=(Configuration&&) noexcept = default;
Configuration::~Configuration() = default;

Configuration Configuration::load_file(const std::filesystem::path& file) {
  auto state = std::make_unique<State>();
  state->loaded = load_configuration_file(file.string(), LoadOptions{});
  state->diagnostics = public_diagnostics(state->loaded.diagnostics);
  for (const auto& refusal : state->loaded.registry->refusals()) {
    state->refusals.push_back(PluginRefusal{refusal.file, refusal.message});
  }
  return Configuration(std::move(state));
}

bool Configuration::valid() const { return state_->diagnostics.empty(); }
const std::vector<Diagnostic>& Configuration::diagnostics() const { return state_->diagnostics; }
std::string Configuration::diagnostics_text() const { return state_->loaded.diagnostics.to_string(); }
const std::vector<PluginRefusal>& Configuration::refusals() const { return state_->refusals; }

ConfigurationSummary Configuration::summary() const {
  const auto& pipeline = state_->loaded.pipeline;
  ConfigurationSummary summary;
  for (const auto& source : pipeline.sources) summary.sources.push_back(source.id);
  for (const auto& sink : pipeline.sinks) summary.sinks.push_back(sink.id);
  summary.routes = pipeline.routes.size();
  summary.log_level = pipeline.engine.log_level;
  summary.log_format = pipeline.engine.log_format;
  summary.dead_letter = config::dead_letter_path(pipeline).string();
  summary.stats_interval = pipeline.engine.stats_interval;
  return summary;
}

namespace {

std::string rendered(const sdk::Value& value) {
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

Explanation::Row rendered(const sdk::Row& row) {
  Explanation::Row out;
  for (const auto& column : row.columns()) out.emplace_back(column.name, rendered(column.value));
  return out;
}

// Whether a Debezium value comes with its schema (the JSON converter's schemas.enable).
bool carries_schema(const std::string& value) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(simdjson::padded_string(value)).get_object().get(object) != simdjson::SUCCESS) return false;
  simdjson::dom::element schema;
  simdjson::dom::element payload;
  return object["schema"].get(schema) == simdjson::SUCCESS && schema.is_object() &&
         object["payload"].get(payload) == simdjson::SUCCESS;
}

Explanation refused(std::string reason) {
  Explanation explanation;
  explanation.outcome = Explanation::Outcome::refused;
  explanation.reason = std::move(reason);
  return explanation;
}

}  // namespace

Explanation Configuration::explain(const ExplainRequest& request) const {
  if (!valid()) return refused("the configuration is not valid");
  const auto& pipeline = state_->loaded.pipeline;
  std::vector<std::string> source_ids, sink_ids;
  for (const auto& source : pipeline.sources) source_ids.push_back(source.id);
  for (const auto& sink : pipeline.sinks) sink_ids.push_back(sink.id);
  std::string source_id = request.source;
  if (source_id.empty()) {
    if (source_ids.size() != 1) {
      return refused("the configuration has " + std::to_string(source_ids.size()) + " sources; choose one with --source (" +
                     (source_ids.empty() ? std::string("none defined") : source_ids.front() + ", ...") + ")");
    }
    source_id = source_ids.front();
  }
  auto found = std::find(source_ids.begin(), source_ids.end(), source_id);
  if (found == source_ids.end()) return refused("no source '" + source_id + "'" + config::did_you_mean(source_id, source_ids));
  const auto source_index = static_cast<std::size_t>(found - source_ids.begin());

  sdk::RawMessage message;
  message.key = request.key;
  message.value = request.value;
  message.topic = request.topic.empty() ? pipeline.sources[source_index].options.string("topic") : request.topic;

  Explanation explanation;
  if (message.value && pipeline::is_dead_letter(*message.value)) {
    // Replayed as a run replays it: an invalidation to its sink, a message decoded as it was.
    auto record = pipeline::read_dead_letter(*message.value);
    if (!record) {
      explanation.outcome = Explanation::Outcome::undecodable;
      explanation.reason = "unreadable dead letter: " + record.error();
      return explanation;
    }
    if (record->kind == pipeline::DeadLetterRecord::Kind::invalidation) {
      explanation.outcome = Explanation::Outcome::replayed;
      if (std::find(sink_ids.begin(), sink_ids.end(), record->sink) == sink_ids.end()) {
        explanation.reason = "this configuration has no sink '" + record->sink + "'";
      }
      explanation.invalidations.push_back(ExplainedInvalidation{
          record->route, record->sink, std::string(sdk::to_string(record->invalidation.action)),
          record->invalidation.key, record->invalidation.value, record->invalidation.ttl, std::chrono::milliseconds{0}});
      return explanation;
    }
    message.topic = record->message.topic;
    message.key = record->message.key;
    message.value = record->message.value;
  }
  codec::DebeziumDecoder decoder;
  sdk::ChangeEvent event;
  auto result = decoder.decode(message, event);
  switch (result.status) {
    case codec::DecodeStatus::skipped:
      explanation.outcome = Explanation::Outcome::skipped;
      explanation.reason = result.reason;
      return explanation;
    case codec::DecodeStatus::failed:
      explanation.outcome = Explanation::Outcome::undecodable;
      explanation.reason = std::string(result.reason) + (result.detail.empty() ? "" : ": " + result.detail);
      return explanation;
    case codec::DecodeStatus::event:
      break;
  }
  explanation.outcome = Explanation::Outcome::invalidations;
  explanation.op = std::string(sdk::to_string(event.op));
  explanation.table = event.table.qualified_name();
  explanation.version = event.version;
  explanation.transaction_id = event.transaction_id;
  explanation.topic = event.topic;
  explanation.key = rendered(event.key);
  if (event.before) explanation.before = rendered(*event.before);
  if (event.after) explanation.after = rendered(*event.after);

  auto router = route::Router::build(pipeline.routes, source_ids, sink_ids);
  if (!router) return refused(router.error());
  explanation.route_verdicts = router->explain(source_index, event);
  std::vector<route::RoutedInvalidation> routed;
  router->route(source_index, event, routed);
  for (const auto& problem : router->take_new_problems()) {
    explanation.problems.push_back(problem.describe());
  }
  // A message with its schema lists every column of its table: a `changed` column it lacks
  // is no column of the table, an error; without a schema it is probably one.
  const bool has_schema = message.value && carries_schema(*message.value);
  for (const auto& problem : router->take_new_changed_problems()) {
    explanation.problems.push_back(has_schema ? "error: " + problem.describe() + "; the message's schema has no field '" +
                                                    problem.column + "'"
                                              : problem.describe());
  }
  for (const auto& item : routed) {
    explanation.invalidations.push_back(ExplainedInvalidation{
        item.route, sink_ids[item.sink], std::string(sdk::to_string(item.invalidation.action)), item.invalidation.key,
        item.invalidation.value, item.invalidation.ttl, item.redelete_after});
  }
  return explanation;
}

}  // namespace invalidator
