#pragma once

// Sources and sinks a test controls, and the customers route most pipeline tests run: shared
// by the pipeline, sink-contract and source-contract tests.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/sink.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::testing {

using namespace std::chrono_literals;

inline std::string customer_update(int id, const std::string& old_email, const std::string& new_email, std::uint64_t lsn) {
  return R"({"before":{"id":)" + std::to_string(id) + R"(,"email":")" + old_email + R"("},"after":{"id":)" +
         std::to_string(id) + R"(,"email":")" + new_email +
         R"("},"source":{"db":"shop","schema":"public","table":"customers","lsn":)" + std::to_string(lsn) +
         R"(},"op":"u"})";
}

// Emits prepared messages, then ends (or waits for stop). Records acknowledgements.
class ScriptedSource final : public sdk::Source {
 public:
  explicit ScriptedSource(std::vector<std::string> values, bool wait_for_stop = false)
      : values_(std::move(values)), wait_for_stop_(wait_for_stop) {}
  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.value = values_[i];
      message.position = sdk::Position{0, i + 1};
      if (!emitter.emit(std::move(message))) return sdk::Status::success();
      emitted.fetch_add(1);
    }
    if (wait_for_stop_) {
      std::mutex mutex;
      std::condition_variable_any stopped;
      std::unique_lock lock(mutex);
      stopped.wait(lock, stop, [] { return false; });
    }
    return sdk::Status::success();
  }
  void acknowledge(const sdk::Position& position) override {
    std::lock_guard guard(mutex_);
    EXPECT_GE(position.offset, last_acknowledged_) << "acknowledgements never go back";
    last_acknowledged_ = position.offset;
  }
  std::uint64_t last_acknowledged() {
    std::lock_guard guard(mutex_);
    return last_acknowledged_;
  }
  std::atomic<std::size_t> emitted{0};

 private:
  std::vector<std::string> values_;
  bool wait_for_stop_;
  std::mutex mutex_;
  std::uint64_t last_acknowledged_ = 0;
};

// A source the test feeds while the pipeline runs: each value pushed is emitted in order on
// stream 0, and each action posted runs on the source's thread with its emitter (to report lag
// or a lost connection). Runs until stopped, or returns a transient failure when told to.
class FedSource final : public sdk::Source {
 public:
  void push(std::string value) {
    std::lock_guard guard(mutex_);
    queue_.push_back([this, value = std::move(value)](sdk::Emitter& emitter) {
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.value = value;
      message.position = sdk::Position{0, ++offset_};
      emitter.emit(std::move(message));
    });
    changed_.notify_all();
  }
  void post(std::function<void(sdk::Emitter&)> action) {
    std::lock_guard guard(mutex_);
    queue_.push_back(std::move(action));
    changed_.notify_all();
  }
  // run() returns `reason` as a transient failure once what was queued before is emitted.
  void fail_transiently(std::string reason) {
    std::lock_guard guard(mutex_);
    queue_.push_back([this, reason = std::move(reason)](sdk::Emitter&) { failure_ = reason; });
    changed_.notify_all();
  }
  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override {
    runs.fetch_add(1);
    std::unique_lock lock(mutex_);
    while (changed_.wait(lock, stop, [&] { return !queue_.empty(); })) {
      auto action = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      action(emitter);
      lock.lock();
      if (!failure_.empty()) return sdk::Status::transient_error(std::exchange(failure_, {}));
    }
    return sdk::Status::success();
  }
  std::atomic<int> runs{0};

 private:
  std::mutex mutex_;
  std::condition_variable_any changed_;
  std::deque<std::function<void(sdk::Emitter&)>> queue_;
  std::uint64_t offset_ = 0;  // only the source's thread
  std::string failure_;
};

// A sink whose behaviour the test controls: records what it applied, can refuse (retry),
// fail items permanently, or hold every delivery until released.
class ControlledSink final : public sdk::Sink {
 public:
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext&) override {
    std::unique_lock lock(mutex_);
    ++calls;
    released_.wait(lock, [&] { return !hold_ || stopped_; });
    if (stopped_) return sdk::DeliveryResult::retry("stopped");
    if (retries_left_ > 0) {
      --retries_left_;
      return sdk::DeliveryResult::retry("simulated outage", 1ms);
    }
    std::vector<sdk::ItemFailure> failures;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!poison_key_.empty() && batch[i].key == poison_key_) {
        failures.push_back(sdk::ItemFailure{i, "WRONGTYPE simulated", false});
        continue;
      }
      applied.push_back(std::string(sdk::to_string(batch[i].action)) + " " + batch[i].key);
    }
    if (!failures.empty()) return sdk::DeliveryResult::partial(std::move(failures));
    return sdk::DeliveryResult::ok();
  }
  void stop() override {
    std::lock_guard guard(mutex_);
    stopped_ = true;
    released_.notify_all();
  }
  void hold(bool on) {
    std::lock_guard guard(mutex_);
    hold_ = on;
    released_.notify_all();
  }
  void fail_next(int times) {
    std::lock_guard guard(mutex_);
    retries_left_ = times;
  }
  void poison(std::string key) {
    std::lock_guard guard(mutex_);
    poison_key_ = std::move(key);
  }
  std::vector<std::string> applied_copy() {
    std::lock_guard guard(mutex_);
    return applied;
  }
  std::atomic<int> calls{0};
  std::vector<std::string> applied;

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool hold_ = false;
  bool stopped_ = false;
  int retries_left_ = 0;
  std::string poison_key_;
};

inline RouteDefinition customers_route(std::string to = "sink") {
  RouteDefinition route;
  route.from = {"source"};
  route.table = "public.customers";
  route.keys = {"customer:{id}", "customer:email:{email}"};
  route.to = {std::move(to)};
  return route;
}

// customers_route() with the one key customer:{id}, for tests that follow a key's actions.
inline RouteDefinition customer_id_route(std::string to = "sink") {
  RouteDefinition route = customers_route(std::move(to));
  route.keys = {"customer:{id}"};
  return route;
}

inline std::unique_ptr<Engine> build(EngineBuilder& builder) {
  auto built = builder.without_plugin_files().build();
  EXPECT_TRUE(built) << built.error();
  return built ? std::move(built).value() : nullptr;
}

// `source` -> customers_route() -> `sink`, with `config` (TOML, e.g. an [engine] table).
inline std::unique_ptr<Engine> customers_engine(std::unique_ptr<sdk::Source> source, std::unique_ptr<sdk::Sink> sink,
                                         const std::string& config = "") {
  return build(EngineBuilder()
                   .config_string(config)
                   .add_source("source", std::move(source))
                   .add_sink("sink", std::move(sink))
                   .add_route(customers_route()));
}

// Answers each delivery from a script (ok once the script runs out) and records what each
// call was handed: the delivery context, and each invalidation with its context.
class ScriptedSink final : public sdk::Sink {
 public:
  struct Call {
    sdk::DeliveryContext context;
    std::vector<sdk::Invalidation> batch;  // origins stay valid while the engine lives
  };
  explicit ScriptedSink(std::vector<sdk::DeliveryResult> answers = {}) : answers_(std::move(answers)) {}
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext& context) override {
    std::lock_guard guard(mutex_);
    calls_.push_back(Call{context, std::vector<sdk::Invalidation>(batch.begin(), batch.end())});
    if (next_ < answers_.size()) return answers_[next_++];
    return sdk::DeliveryResult::ok();
  }
  std::vector<Call> calls() {
    std::lock_guard guard(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::vector<sdk::DeliveryResult> answers_;
  std::size_t next_ = 0;
  std::vector<Call> calls_;
};

inline std::string customer_update_at(int id, const std::string& email, std::uint64_t lsn, std::int64_t ts_ms) {
  return R"({"before":{"id":)" + std::to_string(id) + R"(,"email":"old"},"after":{"id":)" + std::to_string(id) +
         R"(,"email":")" + email + R"("},"source":{"db":"shop","schema":"public","table":"customers","lsn":)" +
         std::to_string(lsn) + R"(,"ts_ms":)" + std::to_string(ts_ms) + R"(},"op":"u"})";
}

// Emits its script of messages and position-only markers, on the streams they name, then
// ends; or fails transiently a number of times first. Records what the engine tells it.
class MarkingSource final : public sdk::Source {
 public:
  struct Step {
    sdk::Position position;
    std::optional<std::string> value;  // none: a position-only marker
  };
  MarkingSource(std::vector<Step> steps, sdk::Completion completion = sdk::Completion::cumulative,
                int transient_failures = 0)
      : steps_(std::move(steps)), completion_(completion), transient_failures_(transient_failures) {}

  sdk::Status run(sdk::Emitter& emitter, std::stop_token) override {
    ++runs;
    if (transient_failures_ > 0) {
      --transient_failures_;
      return sdk::Status::transient_error("connection reset by peer");
    }
    for (const auto& step : steps_) {
      if (!step.value) {
        if (!emitter.emit_position(step.position)) break;
        continue;
      }
      sdk::RawMessage message;
      message.topic = "shop.public.customers";
      message.value = *step.value;
      message.position = step.position;
      if (!emitter.emit(std::move(message))) break;
    }
    return sdk::Status::success();
  }
  sdk::Completion completion() const override { return completion_; }
  void acknowledge(const sdk::Position& position) override { record(acknowledged, position); }
  void complete(const sdk::Position& position) override { record(completed, position); }
  void reject(const sdk::Position& position, std::string_view reason) override {
    record(rejected, position);
    std::lock_guard guard(mutex);
    reasons.emplace_back(reason);
  }

  std::mutex mutex;
  std::vector<sdk::Position> acknowledged;
  std::vector<sdk::Position> completed;
  std::vector<sdk::Position> rejected;
  std::vector<std::string> reasons;
  std::atomic<int> runs{0};

 private:
  void record(std::vector<sdk::Position>& into, const sdk::Position& position) {
    std::lock_guard guard(mutex);
    into.push_back(position);
  }
  std::vector<Step> steps_;
  sdk::Completion completion_;
  int transient_failures_;
};

}  // namespace invalidator::testing
