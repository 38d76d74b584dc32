#pragma once

// What one source did and how it stands, for /metrics, /readyz and the status page. The
// source's thread counts what it hands over, the decode threads what they skip, each on a
// cache line of its own; what the source reports of its transport is kept under a lock, as
// it is told seldom and read only by a scrape.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "codec/debezium_decoder.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::pipeline {

enum class SourceState : std::uint8_t {
  starting,      // run() not called yet
  running,       // in run()
  reconnecting,  // run() failed transiently; called again after a backoff
  finished,      // run() returned: the input ended (a file read to its end)
  failed,        // run() failed for good; the pipeline stops
};
std::string_view to_string(SourceState state);

struct SourceLag {
  std::uint64_t lag = 0;
  sdk::LagUnit unit = sdk::LagUnit::messages;
};

struct SourceHealth {
  SourceState state = SourceState::starting;
  bool connected = true;  // as the source last reported it
  std::string reason;     // why not connected, or the error that ended or interrupted run()
  std::map<std::string, SourceLag, std::less<>> lag;  // by stream, as last reported

  bool ready() const {
    return (state == SourceState::running && connected) || state == SourceState::finished;
  }
  // Why not ready, in words; empty when ready.
  std::string not_ready_reason() const;
};

class SourceMetrics {
 public:
  alignas(64) std::atomic<std::uint64_t> received{0};  // messages and events handed over, positions apart
  alignas(64) std::array<std::atomic<std::uint64_t>, codec::kSkipReasons> skipped{};  // by codec::SkipReason
  std::atomic<std::uint64_t> undecodable{0};  // dead-lettered (or, with on_error = "stop", stopped at)
  std::atomic<std::uint64_t> restarts{0};     // run() called again after a transient failure

  void set_state(SourceState state, std::string reason = {}) {
    std::lock_guard guard(mutex_);
    health_.state = state;
    health_.reason = std::move(reason);
    if (state == SourceState::running) health_.connected = true;
  }
  void report_connection(bool connected, std::string_view reason) {
    std::lock_guard guard(mutex_);
    health_.connected = connected;
    if (health_.state == SourceState::running) health_.reason = connected ? std::string() : std::string(reason);
  }
  void report_lag(std::string_view stream, std::uint64_t lag, sdk::LagUnit unit) {
    std::lock_guard guard(mutex_);
    auto found = health_.lag.find(stream);
    if (found == health_.lag.end()) found = health_.lag.emplace(std::string(stream), SourceLag{}).first;
    found->second = SourceLag{lag, unit};
  }
  SourceHealth health() const {
    std::lock_guard guard(mutex_);
    return health_;
  }

 private:
  mutable std::mutex mutex_;
  SourceHealth health_;
};

}  // namespace invalidator::pipeline
