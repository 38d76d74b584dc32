#pragma once

// The last warnings and errors an engine logged, for the status page: a log sink added beside
// the engine's own, keeping a fixed number of lines.

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>

namespace invalidator::admin {

class RecentErrors final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  struct Entry {
    std::chrono::system_clock::time_point time;
    std::string level;  // "warning", "error", "critical"
    std::string message;
  };

  explicit RecentErrors(std::size_t capacity) : capacity_(capacity) { set_level(spdlog::level::warn); }

  // Oldest first.
  std::vector<Entry> entries() {
    std::lock_guard guard(mutex_);
    return {entries_.begin(), entries_.end()};
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (entries_.size() == capacity_) entries_.pop_front();
    entries_.push_back({message.time, std::string(spdlog::level::to_string_view(message.level).data(),
                                                  spdlog::level::to_string_view(message.level).size()),
                        std::string(message.payload.data(), message.payload.size())});
  }
  void flush_() override {}

 private:
  std::size_t capacity_;
  std::deque<Entry> entries_;
};

}  // namespace invalidator::admin
