#pragma once

// Publishes through the producer endpoint of Pulsar's WebSocket API, as Debezium Server's
// Pulsar sink would publish through a client: the tests' way to put messages on a topic, the
// same against the test broker and against a real Pulsar (PULSAR_URL).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace invalidator::testing {

class PulsarProducer {
 public:
  // `topic`: a full name or a short one. Throws std::runtime_error when the broker refuses.
  PulsarProducer(const std::string& url, const std::string& topic, const std::string& token = "");
  ~PulsarProducer();
  // Waits for the broker's answer; returns the message id. Throws when it is an error.
  std::string send(const std::string& payload, const std::optional<std::string>& key = std::nullopt,
                   const std::vector<std::pair<std::string, std::string>>& properties = {});
  // Many at once: sent back to back, then every answer awaited.
  void send_all(const std::vector<std::pair<std::optional<std::string>, std::string>>& keyed_payloads);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Connects a consumer to `subscription` and leaves: a new subscription starts at the end of
// its topic, so a test makes it before producing what it must read.
void create_pulsar_subscription(const std::string& url, const std::string& topic, const std::string& subscription,
                                const std::string& type = "Key_Shared", const std::string& token = "");

}  // namespace invalidator::testing
