#pragma once

// The Pulsar a test runs against: a real one named by PULSAR_URL (ws://host:8080), else the
// test broker on loopback. Tests that break the broker (drop connections, restart it) or
// read its bookkeeping need the test broker and skip against a real one.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "support/pulsar_test_broker.hpp"

namespace invalidator::testing {

class PulsarTarget {
 public:
  PulsarTarget() {
    if (const char* url = std::getenv("PULSAR_URL"); url != nullptr && *url != '\0') {
      url_ = url;
    } else {
      broker_ = std::make_unique<PulsarTestBroker>();
      url_ = broker_->url();
    }
  }
  const std::string& url() const { return url_; }
  // Null against a real Pulsar.
  PulsarTestBroker* broker() const { return broker_.get(); }
  // A topic name no other test run used (a real Pulsar keeps topics between runs).
  std::string unique_topic(const std::string& base) const {
    static std::atomic<int> counter{0};
    const auto now = std::chrono::system_clock::now().time_since_epoch().count();
    return base + "-" + std::to_string(now) + "-" + std::to_string(counter++);
  }

 private:
  std::string url_;
  std::unique_ptr<PulsarTestBroker> broker_;
};

// In a test that needs the test broker: skips against a real Pulsar.
#define INVALIDATOR_NEEDS_TEST_BROKER(target)                                                  \
  if ((target).broker() == nullptr) GTEST_SKIP() << "breaks or inspects the broker: the test broker only"

}  // namespace invalidator::testing
