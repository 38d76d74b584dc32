#include "pipeline/dead_letter.hpp"

#include <chrono>
#include <cstdio>

#include "invalidator/sdk/result.hpp"

namespace invalidator::pipeline {

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

namespace {
void field(std::string& out, std::string_view name, std::string_view value) {
  if (out.size() > 1) out += ',';
  append_json_string(out, name);
  out += ':';
  append_json_string(out, value);
}
void nullable_field(std::string& out, std::string_view name, const std::optional<std::string>& value) {
  if (value) {
    field(out, name, *value);
    return;
  }
  if (out.size() > 1) out += ',';
  append_json_string(out, name);
  out += ":null";
}
std::string now_text() {
  auto now = std::chrono::system_clock::now();
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis % 1000));
  return buffer;
}
}  // namespace

sdk::Result<std::unique_ptr<DeadLetterFile>> DeadLetterFile::open(const std::string& path) {
  auto file = std::make_unique<DeadLetterFile>();
  if (path.empty()) return file;
  file->out_.open(path, std::ios::app | std::ios::binary);
  if (!file->out_) return sdk::Status::error("cannot open the dead-letter file " + path + " for appending");
  return file;
}

void DeadLetterFile::write(const std::string& line) {
  count_.fetch_add(1, std::memory_order_relaxed);
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
  line += ",\"route\":" + std::to_string(route);
  field(line, "sink", sink);
  field(line, "error", error);
  line += '}';
  write(line);
}

}  // namespace invalidator::pipeline
