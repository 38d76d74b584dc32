#pragma once

#include <atomic>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::pipeline {

// A line of a dead-letter file, read back: what DeadLetterFile wrote, in the same terms.
struct DeadLetterRecord {
  enum class Kind { message, invalidation };
  Kind kind = Kind::message;
  std::string source;
  sdk::RawMessage message;         // kind message: as it was received (topic, key, value)
  sdk::Invalidation invalidation;  // kind invalidation: as the sink was given it
  std::size_t route = 0;
  std::string sink;
  std::string error;
};

// Whether `value` is a line of a dead-letter file (each starts with {"kind":"), checked
// before any other decoding: a dead letter is replayed as what it holds.
inline bool is_dead_letter(std::string_view value) { return value.rfind(R"({"kind":")", 0) == 0; }

// Reads one line back; an error says what is wrong with it.
sdk::Result<DeadLetterRecord> read_dead_letter(std::string_view line);

// Appends what could not be decoded or delivered to a JSON Lines file, one record a line,
// flushed before the source position behind it is acknowledged. read_dead_letter() reads
// the lines back: the format lives in dead_letter.cpp alone.
class DeadLetterFile {
 public:
  // Empty path: no file (the pipeline's counters still count what would have gone there).
  static sdk::Result<std::unique_ptr<DeadLetterFile>> open(const std::string& path);

  bool enabled() const { return out_.is_open(); }

  // A message the codec rejected.
  void message(std::string_view source, const sdk::RawMessage& message, std::string_view error);
  // An invalidation a sink could not apply.
  void invalidation(std::string_view source, std::string_view topic, const sdk::Invalidation& invalidation,
                    std::size_t route, std::string_view sink, std::string_view error);

 private:
  void write(const std::string& line);

  std::mutex mutex_;
  std::ofstream out_;
};

}  // namespace invalidator::pipeline
