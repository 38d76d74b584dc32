#include "pipeline/dead_letter.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <simdjson.h>

#include "invalidator/sdk/base64.hpp"
#include "util/json_text.hpp"

namespace invalidator::pipeline {

namespace {

void name(std::string& out, std::string_view field) {
  if (out.size() > 1) out += ',';
  util::append_json_string(out, field);
  out += ':';
}
void text_field(std::string& out, std::string_view field, std::string_view value) {
  name(out, field);
  util::append_json_string(out, value);
}
void number_field(std::string& out, std::string_view field, std::uint64_t value) {
  name(out, field);
  out += std::to_string(value);
}
// Text as it is; other bytes in base64 under `field`_base64, so that the line stays JSON and
// replays byte for byte.
void bytes_field(std::string& out, std::string_view field, std::string_view value) {
  if (simdjson::validate_utf8(value.data(), value.size())) {
    text_field(out, field, value);
  } else {
    text_field(out, std::string(field) + "_base64", sdk::base64_encode(value));
  }
}
void nullable_bytes_field(std::string& out, std::string_view field, const std::optional<std::string>& value) {
  if (value) return bytes_field(out, field, *value);
  name(out, field);
  out += "null";
}
void origin_fields(std::string& out, std::string_view kind, const DeadLetterOrigin& origin) {
  text_field(out, "kind", kind);
  text_field(out, "time", util::utc_timestamp(std::chrono::system_clock::now()));
  text_field(out, "source", origin.source);
  bytes_field(out, "topic", origin.topic);
  number_field(out, "stream", origin.position.stream);
  number_field(out, "offset", origin.position.offset);
}

}  // namespace

std::string dead_letter_line(const DeadLetterOrigin& origin, const sdk::RawMessage& message, std::string_view error) {
  std::string line = "{";
  origin_fields(line, "message", origin);
  nullable_bytes_field(line, "key", message.key);
  nullable_bytes_field(line, "value", message.value);
  name(line, "headers");
  line += '[';
  for (std::size_t i = 0; i < message.headers.size(); ++i) {
    std::string header = "{";
    bytes_field(header, "name", message.headers[i].name);
    bytes_field(header, "value", message.headers[i].value);
    header += '}';
    if (i > 0) line += ',';
    line += header;
  }
  line += ']';
  bytes_field(line, "error", error);
  line += "}\n";
  return line;
}

std::string dead_letter_line(const DeadLetterOrigin& origin, const sdk::Invalidation& invalidation,
                             std::size_t route, std::string_view sink, std::string_view error) {
  std::string line = "{";
  origin_fields(line, "invalidation", origin);
  text_field(line, "action", sdk::to_string(invalidation.action));
  bytes_field(line, "key", invalidation.key);
  nullable_bytes_field(line, "value", invalidation.value);
  number_field(line, "version", invalidation.version);
  number_field(line, "ttl_ms", static_cast<std::uint64_t>(invalidation.ttl.count()));
  number_field(line, "commit_time_us",
               static_cast<std::uint64_t>(
                   std::chrono::duration_cast<std::chrono::microseconds>(invalidation.commit_time.time_since_epoch())
                       .count()));
  number_field(line, "route", route);
  text_field(line, "sink", sink);
  bytes_field(line, "error", error);
  line += "}\n";
  return line;
}

DeadLetterFile::DeadLetterFile(std::filesystem::path path) : path_(std::move(path)) {}

DeadLetterFile::~DeadLetterFile() {
  if (fd_ >= 0) ::close(fd_);
}

sdk::Status DeadLetterFile::open_locked() {
  std::error_code error;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), error);
  if (error) {
    return sdk::Status::error("cannot create the directory of the dead-letter file " + path_.string() + ": " +
                              error.message());
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    return sdk::Status::error("cannot open the dead-letter file " + path_.string() + ": " + std::strerror(errno));
  }
  return sdk::Status::success();
}

sdk::Status DeadLetterFile::append(std::string_view lines) {
  if (!enabled()) return sdk::Status::error("dead-lettering is off (engine.on_error = \"stop\")");
  std::lock_guard guard(mutex_);
  if (fd_ < 0) {
    if (auto opened = open_locked(); !opened) return opened;
  }
  struct stat before {};
  const bool sized = ::fstat(fd_, &before) == 0;
  auto fail = [&](const char* doing) {
    const int cause = errno;
    // A partial line would make the next line unreadable: the file is cut back to where it
    // was, and opened again at the next attempt (it may have been replaced meanwhile).
    if (sized) (void)::ftruncate(fd_, before.st_size);
    ::close(fd_);
    fd_ = -1;
    return sdk::Status::error(std::string("cannot ") + doing + " the dead-letter file " + path_.string() + ": " +
                              std::strerror(cause));
  };
  while (!lines.empty()) {
    const ssize_t written = ::write(fd_, lines.data(), lines.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    if (written == 0) {
      errno = ENOSPC;
      return fail("write");
    }
    lines.remove_prefix(static_cast<std::size_t>(written));
  }
  if (::fdatasync(fd_) != 0) return fail("flush to disk");
  return sdk::Status::success();
}

namespace {

using simdjson::dom::element;

// A bytes field as written by bytes_field(): `field` as text, or `field`_base64. nullopt
// with `problem` empty: the field is JSON null.
std::optional<std::string> bytes_of(const element& object, std::string_view field, std::string& problem) {
  element value;
  if (object[field].get(value) == simdjson::SUCCESS) {
    if (value.is_null()) return std::nullopt;
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
      problem = "'" + std::string(field) + "' is not a string";
      return std::nullopt;
    }
    return std::string(text);
  }
  const std::string encoded_name = std::string(field) + "_base64";
  std::string_view encoded;
  if (object[encoded_name].get_string().get(encoded) == simdjson::SUCCESS) {
    auto decoded = sdk::base64_decode(encoded);
    if (!decoded) problem = "'" + encoded_name + "' is not base64";
    return decoded;
  }
  problem = "no '" + std::string(field) + "'";
  return std::nullopt;
}

std::string text_of(const element& object, std::string_view field) {
  std::string ignored;
  return bytes_of(object, field, ignored).value_or("");
}

std::uint64_t number_of(const element& object, std::string_view field) {
  std::uint64_t value = 0;
  if (object[field].get_uint64().get(value) != simdjson::SUCCESS) return 0;
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
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
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
  record.time = text_of(object, "time");
  record.position = sdk::Position{number_of(object, "stream"), number_of(object, "offset")};
  record.message.topic = text_of(object, "topic");
  const std::string kind = text_of(object, "kind");
  std::string problem;
  if (kind == "message") {
    record.kind = DeadLetterRecord::Kind::message;
    record.message.key = bytes_of(object, "key", problem);
    record.message.value = bytes_of(object, "value", problem);
    if (!problem.empty()) return sdk::Status::error("a dead-lettered message: " + problem);
    simdjson::dom::array headers;
    if (object["headers"].get_array().get(headers) == simdjson::SUCCESS) {
      for (element header : headers) {
        auto header_name = bytes_of(header, "name", problem);
        auto header_value = bytes_of(header, "value", problem);
        if (!problem.empty()) return sdk::Status::error("a dead-lettered message's header: " + problem);
        record.message.headers.push_back(sdk::Header{header_name.value_or(""), header_value.value_or("")});
      }
    }
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
  record.invalidation.value = bytes_of(object, "value", problem);
  if (!problem.empty() && problem.rfind("no ", 0) != 0) return sdk::Status::error("a dead-lettered invalidation: " + problem);
  record.invalidation.version = number_of(object, "version");
  record.invalidation.ttl = std::chrono::milliseconds(number_of(object, "ttl_ms"));
  record.invalidation.commit_time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(number_of(object, "commit_time_us"))));
  record.route = static_cast<std::size_t>(number_of(object, "route"));
  return record;
}

}  // namespace invalidator::pipeline
