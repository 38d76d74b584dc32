#pragma once

// A source reading on a thread of its own, as the engine runs it, until stopped or destroyed.

#include <stop_token>
#include <thread>

#include "invalidator/sdk/source.hpp"

namespace invalidator::testing {

class SourceThread {
 public:
  SourceThread(sdk::Source& source, sdk::Emitter& emitter)
      : thread_([&source, &emitter, this](std::stop_token stop) { status_ = source.run(emitter, stop); }) {}
  ~SourceThread() { stop(); }
  SourceThread(const SourceThread&) = delete;
  SourceThread& operator=(const SourceThread&) = delete;

  // Asks run() to return and waits for it; what it returned.
  sdk::Status stop() {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
    return status_;
  }

 private:
  sdk::Status status_ = sdk::Status::success();
  std::jthread thread_;
};

}  // namespace invalidator::testing
