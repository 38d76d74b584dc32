#include "pipeline/dead_letter.hpp"

#include <chrono>
#include <cstdio>

#include <simdjson.h>

#include "invalidator/sdk/result.hpp"
#include "util/json_text.hpp"

namespace invalidator::pipeline {

namespace {
void field(std::string& out, std::string_view name, std::string_view value) {
  if (out.size() > 1) out += ',';
  util::append_json_string(out, name);
  out += ':';
  util::append_json_string(out, value);
}
void nullable_field(std::string& out, std::string_view name, const std::optional<std::string>& value) {
  if (value) {
    field(out, name, *value);
    return;
  }
  if (out.size() > 1) out += ',';
  util::append_json_string(out, name);
  out += ":null";
}
std::string now_text() { return util::utc_timestamp(std::chrono::system_clock::now()); }
}  // namespace

sdk::Result<std::unique_ptr<DeadLetterFile>> DeadLetterFile::open(const std::string& path) {
  auto file = std::make_unique<DeadLetterFile>();
  if (path.empty()) return file;
  file->out_.open(path, std::ios::app | std::ios::binary);
  if (!file->out_) return sdk::Status::error("cannot open the dead-letter file " + path + " for appending");
  return file;
}

void DeadLetterFile::write(const std::string& line) {
  if (!out_.is_open()) return;
  std::lock_guard guard(mutex_);
  out_ << line << '\n';
  out_.flush();
}

void DeadLetterFile::message(std::string_view source, const sdk::RawMessage& message, std::string_view error) {
  std::string line = "{";
  field(line, "kind", "message");
  field(line, "time", now_text());
  field(line, "source", source);
  field(line, "topic", message.topic);
  nullable_field(line, "key", message.key);
  nullable_field(line, "value", message.value);
  field(line, "error", error);
  line += '}';
  write(line);
}

void DeadLetterFile::invalidation(std::string_view source, std::string_view topic,
                                  const sdk::Invalidation& invalidation, std::size_t route, std::string_view sink,
                                  std::string_view error) {
  std::string line = "{";
  field(line, "kind", "invalidation");
  field(line, "time", now_text());
  field(line, "source", source);
  field(line, "topic", topic);
  field(line, "action", sdk::to_string(invalidation.action));
  field(line, "key", invalidation.key);
  nullable_field(line, "value", invalidation.value);
  line += ",\"version\":" + std::to_string(invalidation.version);
  line += ",\"ttl_ms\":" + std::to_string(invalidation.ttl.count());
  line += ",\"route\":" + std::to_string(route);
  field(line, "sink", sink);
  field(line, "error", error);
  line += '}';
  write(line);
}

namespace {

using simdjson::dom::element;

std::optional<std::string> text_or_null(const element& object, std::string_view name, std::string& error) {
  element value;
  if (object[name].get(value) != simdjson::SUCCESS) {
    error = "no '" + std::string(name) + "'";
    return std::nullopt;
  }
  if (value.is_null()) return std::nullopt;
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    error = "'" + std::string(name) + "' is not a string";
    return std::nullopt;
  }
  return std::string(text);
}

std::string text_of(const element& object, std::string_view name) {
  std::string_view text;
  if (object[name].get_string().get(text) != simdjson::SUCCESS) return {};
  return std::string(text);
}

std::int64_t integer_of(const element& object, std::string_view name) {
  std::int64_t value = 0;
  if (object[name].get_int64().get(value) != simdjson::SUCCESS) return 0;
  return value;
}

std::optional<sdk::Action> action_named(std::string_view name) {
  for (auto action : {sdk::Action::delete_key, sdk::Action::set_value, sdk::Action::expire, sdk::Action::delete_pattern}) {
    if (sdk::to_string(action) == name) return action;
  }
  return std::nullopt;
}

}  // namespace

sdk::Result<DeadLetterRecord> read_dead_letter(std::string_view line) {
  // A parser per call: replaying a dead-letter file is rare, and a line is short.
  simdjson::dom::parser parser;
  element object;
  if (auto error = parser.parse(simdjson::padded_string(line)).get(object)) {
    return sdk::Status::error(std::string("not JSON: ") + simdjson::error_message(error));
  }
  if (!object.is_object()) return sdk::Status::error("not a JSON object");
  DeadLetterRecord record;
  record.source = text_of(object, "source");
  record.error = text_of(object, "error");
  const std::string kind = text_of(object, "kind");
  std::string problem;
  if (kind == "message") {
    record.kind = DeadLetterRecord::Kind::message;
    record.message.topic = text_of(object, "topic");
    record.message.key = text_or_null(object, "key", problem);
    record.message.value = text_or_null(object, "value", problem);
    if (!problem.empty()) return sdk::Status::error("a dead-lettered message: " + problem);
    return record;
  }
  if (kind != "invalidation") return sdk::Status::error("unknown dead-letter kind '" + kind + "'");
  record.kind = DeadLetterRecord::Kind::invalidation;
  auto action = action_named(text_of(object, "action"));
  if (!action) return sdk::Status::error("a dead-lettered invalidation with an unknown action '" + text_of(object, "action") + "'");
  record.invalidation.action = *action;
  record.invalidation.key = text_of(object, "key");
  record.sink = text_of(object, "sink");
  if (record.invalidation.key.empty() || record.sink.empty()) {
    return sdk::Status::error("a dead-lettered invalidation needs action, key and sink");
  }
  std::string ignored;
  record.invalidation.value = text_or_null(object, "value", ignored);
  record.invalidation.version = static_cast<std::uint64_t>(integer_of(object, "version"));
  record.invalidation.ttl = std::chrono::milliseconds(integer_of(object, "ttl_ms"));
  record.route = static_cast<std::size_t>(integer_of(object, "route"));
  record.message.topic = text_of(object, "topic");
  return record;
}

}  // namespace invalidator::pipeline
