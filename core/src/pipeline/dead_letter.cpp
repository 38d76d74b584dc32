#include "pipeline/dead_letter.hpp"

#include <chrono>
#include <cstdio>

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

}  // namespace invalidator::pipeline
