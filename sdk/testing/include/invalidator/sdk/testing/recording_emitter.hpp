#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "invalidator/sdk/source.hpp"

namespace invalidator::sdk::testing {

// An Emitter that records what a source hands over, as a pipeline with `room` places would
// take it: once `room` messages were taken, an emit waits up to its deadline for open() and
// then answers full. With acknowledge_with(source), each message taken is acknowledged (or
// completed) at once, as a pipeline whose sinks deliver instantly would.
class RecordingEmitter final : public Emitter {
 public:
  struct Emitted {
    // A raw message's value; for an event "op table version row", the row (after, or the key
    // for a delete) written as JSON: "update public.customers 42 {\"id\":7,\"name\":\"Ann\"}";
    // "" for a position.
    std::string value;
    Position position;
    bool position_only = false;
  };

  explicit RecordingEmitter(std::size_t room = std::numeric_limits<std::size_t>::max()) : room_(room) {}

  void acknowledge_with(Source* source) {
    std::lock_guard lock(mutex_);
    source_ = source;
  }
  // Room for everything from now on.
  void open() {
    std::lock_guard lock(mutex_);
    room_ = std::numeric_limits<std::size_t>::max();
    changed_.notify_all();
  }
  // Every emit from now on answers stopping, as a pipeline that is shutting down.
  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }

  EmitResult try_emit(RawMessage& message, Deadline deadline) override {
    return take(message.value.value_or(""), message.position, false, deadline);
  }
  EmitResult try_emit(ChangeEvent& event, Deadline deadline) override {
    return take(std::string(to_string(event.op)) + " " + event.table.qualified_name() + " " +
                    std::to_string(event.version) + " " + json(event.after ? *event.after : event.key),
                event.position, false, deadline);
  }
  EmitResult try_emit_position(const Position& position, Deadline deadline) override {
    return take("", position, true, deadline);
  }

  std::vector<Emitted> emitted() const {
    std::lock_guard lock(mutex_);
    return emitted_;
  }
  // Until `count` messages (positions included when asked) were taken, or `timeout` passes.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout, bool count_positions = false) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return counted(count_positions) >= count; });
  }
  // How many emits found the pipeline full and waited.
  std::size_t full_waits() const {
    std::lock_guard lock(mutex_);
    return full_waits_;
  }

 private:
  static std::string json(const Row& row) {
    std::string out = "{";
    for (const auto& column : row.columns()) {
      if (out.size() > 1) out += ",";
      out += "\"" + column.name + "\":";
      std::visit(
          [&out](const auto& value) {
            using V = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<V, std::monostate>) out += "null";
            else if constexpr (std::is_same_v<V, bool>) out += value ? "true" : "false";
            else if constexpr (std::is_same_v<V, std::string>) out += "\"" + value + "\"";
            else if constexpr (std::is_same_v<V, Unavailable>) out += "\"(unavailable)\"";
            else out += std::to_string(value);
          },
          column.value);
    }
    return out + "}";
  }

  EmitResult take(std::string value, const Position& position, bool position_only, Deadline deadline) {
    Source* acknowledge = nullptr;
    {
      std::unique_lock lock(mutex_);
      auto can_go = [&] { return stopping_ || emitted_.size() < room_; };
      if (!can_go()) {
        ++full_waits_;
        if (deadline == Deadline::max()) {
          changed_.wait(lock, can_go);
        } else if (!changed_.wait_until(lock, deadline, can_go)) {
          return EmitResult::full;
        }
      }
      if (stopping_) return EmitResult::stopping;
      emitted_.push_back(Emitted{std::move(value), position, position_only});
      acknowledge = source_;
      changed_.notify_all();
    }
    if (acknowledge != nullptr) {
      if (acknowledge->completion() == Completion::individual) {
        acknowledge->complete(position);
      } else {
        acknowledge->acknowledge(position);
      }
    }
    return EmitResult::accepted;
  }
  std::size_t counted(bool count_positions) const {
    if (count_positions) return emitted_.size();
    return static_cast<std::size_t>(
        std::count_if(emitted_.begin(), emitted_.end(), [](const Emitted& item) { return !item.position_only; }));
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::size_t room_;
  bool stopping_ = false;
  Source* source_ = nullptr;
  std::size_t full_waits_ = 0;
  std::vector<Emitted> emitted_;
};

}  // namespace invalidator::sdk::testing
