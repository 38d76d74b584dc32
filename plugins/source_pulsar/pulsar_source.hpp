#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "invalidator/sdk/backoff.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/source.hpp"
#include "pulsar_frames.hpp"
#include "websocket_client.hpp"

namespace invalidator::plugins {

// The plugin's options, as declared in PulsarSource::options() (which holds the defaults).
struct PulsarSourceOptions {
  std::string url;
  std::vector<std::string> topics;
  std::string subscription;
  pulsar::SubscriptionType subscription_type{};
  std::int64_t receiver_queue_size{};
  std::string token;
  std::string ca_file;
  std::string format;
  std::chrono::milliseconds redelivery_delay{};
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds keepalive{};
  std::chrono::milliseconds max_reconnect_backoff{};
};

// A consumer of Debezium messages from Apache Pulsar through its WebSocket API: one connection
// per topic, all on one subscription. Each message is acknowledged on its own as soon as its
// invalidations were delivered or dead-lettered (individual completion); one that was not kept
// is negatively acknowledged, and the broker sends it again. The broker sends only against
// permits, which the source grants as the pipeline takes messages: a full pipeline stops the
// broker instead of filling the source. A connection that fails is opened again with backoff,
// and the broker sends again whatever was not acknowledged.
class PulsarSource final : public sdk::Source {
 public:
  ~PulsarSource() override;

  static sdk::OptionsSpec<PulsarSourceOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(PulsarSourceOptions options,
                                                          const sdk::PluginContext& context);

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  sdk::Completion completion() const override { return sdk::Completion::individual; }
  void complete(const sdk::Position& position) override;
  void reject(const sdk::Position& position, std::string_view reason) override;

 private:
  // One topic's consumer connection, opened again after each failure. Only the io thread
  // touches it.
  class TopicConsumer final : public pulsar::WebSocketClient::Listener {
   public:
    TopicConsumer(PulsarSource& owner, std::size_t position_in_topics, std::string full_name, std::string short_name,
                  std::string path);
    void open();
    void opened() override;
    void received(std::string frame) override;
    void ended(const pulsar::WebSocketClient::Ending& ending) override;
    // Grants the permits the pipeline made room for, in batches.
    void grant_permits();
    // An acknowledgement: sent now, or once connected again.
    void send(std::string frame);

    PulsarSource& source;
    const std::size_t index;
    const std::string topic;       // persistent://tenant/namespace/name
    const std::string local_name;  // its last part: the topic a Debezium message was sent to
    const std::string target;
    std::shared_ptr<pulsar::WebSocketClient> client;
    std::uint64_t stream = 0;  // of the current connection: a new one for each
    std::uint64_t next_offset = 0;
    std::int64_t permits_out = 0;   // granted, not yet used by a message
    std::int64_t permits_owed = 0;  // room the pipeline made since the last grant
    std::vector<std::string> unsent;  // acknowledgements made while no connection was open
    sdk::Backoff backoff;
    boost::asio::steady_timer retry;
    std::chrono::steady_clock::time_point opened_at{};
    int failures = 0;  // since the last connection that lasted
    bool warned_encrypted = false;
  };

  // A message received and not yet taken by the pipeline.
  struct Received {
    std::size_t topic;
    sdk::RawMessage raw;
  };

  // The broker's id of each message handed over, by position, until it is completed.
  struct StreamIds {
    std::size_t topic = 0;
    std::unordered_map<std::uint64_t, std::string> ids;
    bool ended = false;  // its connection is gone: forgotten once its last id is answered
  };

  PulsarSource(PulsarSourceOptions options, sdk::Logger* logger);

  void log(sdk::LogLevel level, const std::string& message) const;
  // A completion or rejection: its frame goes to the topic's connection from the io thread.
  void answer(const sdk::Position& position, bool kept);
  void send_answers();
  // A connection ended: what it received and did not hand over is dropped (the broker sends
  // it again); the ids of what it handed over are kept for their answers.
  void forget_stream(std::uint64_t stream);
  // Hands the oldest received message to the pipeline; false when it had no room.
  bool offer(sdk::Emitter& emitter, bool& stopping);
  // Sends what was acknowledged and closes every connection, within a deadline.
  void shut_down(std::chrono::milliseconds deadline);

  PulsarSourceOptions options_;
  pulsar::WebSocketUrl url_;
  sdk::Logger* logger_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::unique_ptr<TopicConsumer>> consumers_;
  std::deque<Received> received_;  // only the io thread
  std::string fatal_;              // set on the io thread; ends run()
  bool started_ = false;
  bool closing_ = false;           // shutting down: connections that end stay closed
  std::uint64_t unreadable_frames_ = 0;

  std::mutex mutex_;
  std::unordered_map<std::uint64_t, StreamIds> in_flight_;
  std::vector<std::pair<std::size_t, std::string>> answers_;  // frames for topics, not yet handed to the io thread
  std::uint64_t next_stream_ = 1;
  std::atomic<bool> answers_posted_{false};
};

}  // namespace invalidator::plugins
