#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::pipeline {

// Where a dead letter came from: enough to find it again in its transport.
struct DeadLetterOrigin {
  std::string_view source;  // the source's id
  std::string_view topic;
  sdk::Position position;
};

// A line of a dead-letter file, read back: what the writers below wrote, in the same terms.
struct DeadLetterRecord {
  enum class Kind { message, invalidation };
  Kind kind = Kind::message;
  std::string source;
  sdk::Position position;          // in the source it first came from
  sdk::RawMessage message;         // kind message: as it was received (topic, key, value, headers)
  sdk::Invalidation invalidation;  // kind invalidation: as the sink was given it
  std::size_t route = 0;
  std::string sink;
  std::string error;
  std::string time;
};

// Whether `value` is a line of a dead-letter file (each starts with {"kind":"), checked
// before any other decoding: a dead letter is replayed as what it holds.
inline bool is_dead_letter(std::string_view value) { return value.rfind(R"({"kind":")", 0) == 0; }

// One JSON line, newline included, for a message the codec rejected. Bytes that are not
// UTF-8 (a binary key, a header) are written in base64, under the field's name + "_base64".
std::string dead_letter_line(const DeadLetterOrigin& origin, const sdk::RawMessage& message, std::string_view error);
// One JSON line, newline included, for an invalidation a sink could not apply.
std::string dead_letter_line(const DeadLetterOrigin& origin, const sdk::Invalidation& invalidation,
                             std::size_t route, std::string_view sink, std::string_view error);

// Reads one line back; an error says what is wrong with it.
sdk::Result<DeadLetterRecord> read_dead_letter(std::string_view line);

// The dead-letter file: lines appended and on the disk before the source positions behind
// them are acknowledged. Shared by the decode threads and the lanes.
class DeadLetterFile {
 public:
  // An empty path: dead-lettering is off (engine.on_error = "stop").
  explicit DeadLetterFile(std::filesystem::path path = {});
  ~DeadLetterFile();
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;

  bool enabled() const { return !path_.empty(); }
  const std::filesystem::path& path() const { return path_; }

  // Appends whole lines and flushes them to the disk (fdatasync) before returning. The file
  // and its directory are made when first needed, so a run that dead-letters nothing leaves
  // no file. An error names the file and the cause (a full disk, a permission); what the
  // failed call wrote is cut off again, so that a retry appends whole lines.
  sdk::Status append(std::string_view lines);

 private:
  sdk::Status open_locked();

  std::filesystem::path path_;
  std::mutex mutex_;
  int fd_ = -1;
};

}  // namespace invalidator::pipeline
