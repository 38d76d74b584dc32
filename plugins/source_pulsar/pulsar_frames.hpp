#pragma once

// The text frames of Pulsar's WebSocket consumer API (pulsar-websocket: ConsumerHandler and
// ConsumerMessage; the documentation's "Consumer endpoint"): the messages the broker sends, the
// commands a consumer sends back, and the endpoint's path for a topic.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins::pulsar {

// One message as the consumer endpoint delivers it.
struct ConsumerMessage {
  std::string message_id;  // opaque (base64 of the broker's MessageIdData): what acknowledgements name
  std::string payload;     // the message's bytes, decoded from base64
  std::optional<std::string> key;  // the partition key: Debezium Server's Pulsar sink puts the record key there
  std::vector<sdk::Header> properties;
  std::string publish_time;
  std::int64_t redelivery_count = 0;
  // End-to-end encrypted: the payload is ciphertext the consumer endpoint could not decrypt.
  bool encrypted = false;
};

// A frame from the consumer endpoint: a message, or nullopt for a frame that is not one (the
// answer to an isEndOfTopic, say). An error for a frame that is not JSON, or a message whose
// payload is not base64: the source logs it and does not acknowledge it.
sdk::Result<std::optional<ConsumerMessage>> parse_consumer_frame(std::string_view frame);

// {"messageId": ...}: the message was kept (delivered or dead-lettered).
std::string acknowledge_frame(std::string_view message_id);
// {"type":"negativeAcknowledge", ...}: the message was not kept; the broker delivers it again.
std::string negative_acknowledge_frame(std::string_view message_id);
// {"type":"permit", ...}: in pull mode, the broker may send this many more messages.
std::string permit_frame(std::int64_t messages);

enum class SubscriptionType { exclusive, shared, failover, key_shared };

struct ConsumerSettings {
  std::string subscription;
  SubscriptionType type = SubscriptionType::key_shared;
  std::int64_t receiver_queue_size = 1000;
  bool pull_mode = true;  // the broker sends only what permits allow
  // How long after a negative acknowledgement the broker sends the message again.
  std::optional<std::chrono::milliseconds> negative_ack_redelivery_delay;
};

// A topic's name, full ("persistent://tenant/namespace/topic") or short ("topic": in
// public/default).
struct TopicName {
  std::string domain = "persistent";
  std::string tenant;
  std::string name_space;
  std::string local;
  std::string full() const { return domain + "://" + tenant + "/" + name_space + "/" + local; }
};
// An error names what is wrong with the name.
sdk::Result<TopicName> parse_topic_name(std::string_view topic);

// The consumer endpoint's path and query for a topic: a full name ("persistent://tenant/
// namespace/topic", "non-persistent://...") or a short one ("topic": persistent://public/
// default/topic). An error names what is wrong with the name.
sdk::Result<std::string> consumer_path(std::string_view topic, const ConsumerSettings& settings);

}  // namespace invalidator::plugins::pulsar
