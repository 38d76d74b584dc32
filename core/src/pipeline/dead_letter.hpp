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

// Appends what could not be decoded or delivered to a JSON Lines file, one record a line,
// flushed before the source position behind it is acknowledged.
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
