#pragma once

// A Pulsar broker's WebSocket service, for tests: the consumer and producer endpoints of
// Pulsar's documented WebSocket API (client-libraries-websocket; the frames are in
// tests/fixtures/pulsar) over real sockets on loopback, with what a source depends on:
//   - a subscription outlives its connections and starts at the end of its topic (Pulsar's
//     default initial position), keeps individual acknowledgements, and sends again what a
//     consumer had not acknowledged when its connection went;
//   - Exclusive, Failover, Shared and Key_Shared (a key always to the same consumer of the
//     ones connected, in order; a key whose consumer has no permits waits);
//   - pull mode (messages only against permits) and push mode (at most receiverQueueSize
//     unacknowledged per consumer); negative acknowledgements sent again after
//     negativeAckRedeliveryDelay;
//   - a token (Authorization: Bearer, or the token query parameter) when one is required;
//   - going down and coming up on the same port with its topics and subscriptions, dropping
//     connections without a word, or closing them with a close code.
// It keeps everything in memory and is not a broker of any other protocol.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace invalidator::testing {

class PulsarTestBroker {
 public:
  PulsarTestBroker();
  ~PulsarTestBroker();
  PulsarTestBroker(const PulsarTestBroker&) = delete;
  PulsarTestBroker& operator=(const PulsarTestBroker&) = delete;

  // ws://127.0.0.1:<port>
  std::string url() const;
  std::uint16_t port() const;

  // From now on, a connection must carry this token.
  void require_token(std::string token);

  // Stores a message as a producer would; returns its message id. `topic` is a full name or a
  // short one (persistent://public/default/<topic>).
  std::string publish(const std::string& topic, const std::string& payload,
                      const std::optional<std::string>& key = std::nullopt,
                      const std::vector<std::pair<std::string, std::string>>& properties = {});

  // Stops listening and drops every connection without a close frame, as a broker process
  // that dies; come_up() listens again on the same port, topics and subscriptions kept.
  void go_down();
  void come_up();
  // The broker stops answering anything, its connections open, as a process stopped with
  // SIGSTOP would; resume() lets it go on. Nothing else may be asked of it meanwhile.
  void hang();
  void resume();
  // Drops every consumer connection without a close frame.
  void drop_consumers();
  // Closes every consumer connection with a close frame of this code.
  void close_consumers(std::uint16_t code, const std::string& reason);

  struct SubscriptionStats {
    std::size_t consumers = 0;
    std::size_t acknowledged = 0;
    std::size_t unacknowledged = 0;  // sent to a consumer, not acknowledged yet
    std::size_t waiting = 0;         // to be sent (never sent, or back from a consumer)
    std::size_t delivered = 0;       // message frames sent, again ones included
    std::size_t redelivered = 0;     // of those, ones sent again
    std::size_t negatively_acknowledged = 0;
    std::int64_t permits = 0;        // what the connected consumers may still be sent
    std::size_t permit_frames = 0;
    std::size_t acknowledge_frames = 0;
  };
  SubscriptionStats stats(const std::string& topic, const std::string& subscription);

  struct Impl;  // public for the connections' code, which is the implementation's own

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace invalidator::testing
