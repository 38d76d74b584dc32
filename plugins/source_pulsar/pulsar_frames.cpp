#include "pulsar_frames.hpp"

#include <simdjson.h>

#include "invalidator/sdk/base64.hpp"
#include "invalidator/sdk/options.hpp"

namespace invalidator::plugins::pulsar {

namespace {

// A JSON string literal of `text`: TOML's basic strings escape exactly as JSON's do.
std::string quoted(std::string_view text) { return sdk::toml_text::quoted_text(text); }

// Percent-encodes all but RFC 3986's unreserved characters: a path segment or query value.
std::string percent_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

const char* type_name(SubscriptionType type) {
  switch (type) {
    case SubscriptionType::exclusive: return "Exclusive";
    case SubscriptionType::shared: return "Shared";
    case SubscriptionType::failover: return "Failover";
    case SubscriptionType::key_shared: return "Key_Shared";
  }
  return "Key_Shared";
}

}  // namespace

sdk::Result<std::optional<ConsumerMessage>> parse_consumer_frame(std::string_view frame) {
  // One parser per thread, reused: a parser allocates its buffers when made, which for a
  // frame per message cost more than the parse.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(frame.data(), frame.size()).get(root); error) {
    return sdk::Status::error(std::string("a frame from the broker is not JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get(object)) return sdk::Status::error("a frame from the broker is not a JSON object");
  std::string_view message_id;
  std::string_view payload;
  if (object["messageId"].get(message_id) || object["payload"].get(payload)) {
    return std::optional<ConsumerMessage>{};  // not a message
  }
  ConsumerMessage message;
  message.message_id = message_id;
  auto decoded = sdk::base64_decode(payload);
  if (!decoded) {
    return sdk::Status::error("the payload of message " + message.message_id +
                              " is not base64 (an encrypted message, or not the consumer endpoint?)");
  }
  message.payload = std::move(*decoded);
  std::string_view text;
  if (!object["key"].get(text)) message.key = std::string(text);
  if (!object["publishTime"].get(text)) message.publish_time = text;
  std::int64_t count = 0;
  if (!object["redeliveryCount"].get(count)) message.redelivery_count = count;
  simdjson::dom::object encryption;
  message.encrypted = !object["encryptionContext"].get(encryption);
  simdjson::dom::object properties;
  if (!object["properties"].get(properties)) {
    for (auto [name, value] : properties) {
      std::string_view value_text;
      if (!value.get(value_text)) message.properties.push_back(sdk::Header{std::string(name), std::string(value_text)});
    }
  }
  return std::optional<ConsumerMessage>(std::move(message));
}

std::string acknowledge_frame(std::string_view message_id) { return "{\"messageId\":" + quoted(message_id) + "}"; }

std::string negative_acknowledge_frame(std::string_view message_id) {
  return "{\"type\":\"negativeAcknowledge\",\"messageId\":" + quoted(message_id) + "}";
}

std::string permit_frame(std::int64_t messages) {
  return "{\"type\":\"permit\",\"permitMessages\":" + std::to_string(messages) + "}";
}

sdk::Result<TopicName> parse_topic_name(std::string_view topic) {
  TopicName name;
  std::string_view rest = topic;
  if (auto scheme = topic.find("://"); scheme != std::string_view::npos) {
    name.domain = std::string(topic.substr(0, scheme));
    if (name.domain != "persistent" && name.domain != "non-persistent") {
      return sdk::Status::error("topic '" + std::string(topic) + "': expected persistent:// or non-persistent://");
    }
    rest = topic.substr(scheme + 3);
  } else if (topic.find('/') == std::string_view::npos) {
    rest = {};
  }
  std::vector<std::string_view> parts;
  if (rest.empty()) {
    if (topic.empty()) return sdk::Status::error("an empty topic name");
    parts = {"public", "default", topic};
  } else {
    for (std::size_t start = 0;;) {
      auto slash = rest.find('/', start);
      parts.push_back(rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  }
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return sdk::Status::error("topic '" + std::string(topic) +
                              "': expected persistent://tenant/namespace/topic, or a short name in public/default");
  }
  name.tenant = parts[0];
  name.name_space = parts[1];
  name.local = parts[2];
  return name;
}

sdk::Result<std::string> consumer_path(std::string_view topic, const ConsumerSettings& settings) {
  auto name = parse_topic_name(topic);
  if (!name) return name.status();
  if (settings.subscription.empty()) return sdk::Status::error("an empty subscription name");
  std::string path = "/ws/v2/consumer/" + name->domain + "/" + percent_encoded(name->tenant) + "/" +
                     percent_encoded(name->name_space) + "/" + percent_encoded(name->local) + "/" +
                     percent_encoded(settings.subscription);
  path += std::string("?subscriptionType=") + type_name(settings.type);
  path += "&receiverQueueSize=" + std::to_string(settings.receiver_queue_size);
  if (settings.pull_mode) path += "&pullMode=true";
  if (settings.negative_ack_redelivery_delay) {
    path += "&negativeAckRedeliveryDelay=" + std::to_string(settings.negative_ack_redelivery_delay->count());
  }
  return path;
}

}  // namespace invalidator::plugins::pulsar
