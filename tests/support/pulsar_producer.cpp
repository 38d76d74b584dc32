#include "support/pulsar_producer.hpp"

#include <simdjson.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <stdexcept>

#include "invalidator/sdk/base64.hpp"
#include "invalidator/sdk/options.hpp"
#include "pulsar_frames.hpp"
#include "websocket_client.hpp"

namespace invalidator::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string json_string(std::string_view text) { return sdk::toml_text::quoted_text(text); }

struct Connection {
  asio::io_context io;
  websocket::stream<tcp::socket> ws{io};

  Connection(const std::string& url, const std::string& target, const std::string& token) {
    auto parsed = plugins::pulsar::parse_websocket_url(url);
    if (!parsed) throw std::runtime_error(parsed.error());
    if (parsed->tls) throw std::runtime_error("the test producer speaks ws:// only");
    tcp::resolver resolver(io);
    asio::connect(ws.next_layer(), resolver.resolve(parsed->host, parsed->port));
    if (!token.empty()) {
      ws.set_option(websocket::stream_base::decorator(
          [token](websocket::request_type& request) { request.set("Authorization", "Bearer " + token); }));
    }
    ws.handshake(parsed->host + ":" + parsed->port, parsed->path_prefix + target);
    ws.text(true);
  }
  ~Connection() {
    beast::error_code ignored;
    ws.close(websocket::close_code::normal, ignored);
  }
};

std::string producer_target(const std::string& topic) {
  auto name = plugins::pulsar::parse_topic_name(topic);
  if (!name) throw std::runtime_error(name.error());
  return "/ws/v2/producer/" + name->domain + "/" + name->tenant + "/" + name->name_space + "/" + name->local;
}

}  // namespace

struct PulsarProducer::Impl {
  Impl(const std::string& url, const std::string& topic, const std::string& token)
      : connection(url, producer_target(topic), token) {}
  Connection connection;
  std::uint64_t next_context = 1;

  void write(const std::string& payload, const std::optional<std::string>& key,
             const std::vector<std::pair<std::string, std::string>>& properties) {
    std::string frame = "{\"payload\":" + json_string(sdk::base64_encode(payload)) + ",\"context\":" +
                        json_string(std::to_string(next_context++));
    if (key) frame += ",\"key\":" + json_string(*key);
    if (!properties.empty()) {
      frame += ",\"properties\":{";
      for (std::size_t i = 0; i < properties.size(); ++i) {
        if (i > 0) frame += ',';
        frame += json_string(properties[i].first) + ":" + json_string(properties[i].second);
      }
      frame += "}";
    }
    frame += "}";
    connection.ws.write(asio::buffer(frame));
  }

  std::string answer() {
    beast::flat_buffer buffer;
    connection.ws.read(buffer);
    const std::string text = beast::buffers_to_string(buffer.data());
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    std::string_view result;
    std::string_view id;
    if (parser.parse(text).get(object) || object["result"].get(result) || result != "ok" ||
        object["messageId"].get(id)) {
      throw std::runtime_error("the broker refused a message: " + text);
    }
    return std::string(id);
  }
};

PulsarProducer::PulsarProducer(const std::string& url, const std::string& topic, const std::string& token)
    : impl_(std::make_unique<Impl>(url, topic, token)) {}

PulsarProducer::~PulsarProducer() = default;

std::string PulsarProducer::send(const std::string& payload, const std::optional<std::string>& key,
                                 const std::vector<std::pair<std::string, std::string>>& properties) {
  impl_->write(payload, key, properties);
  return impl_->answer();
}

void PulsarProducer::send_all(const std::vector<std::pair<std::optional<std::string>, std::string>>& keyed_payloads) {
  // In windows, so that neither side's socket buffer fills while the other waits.
  constexpr std::size_t kWindow = 500;
  for (std::size_t start = 0; start < keyed_payloads.size(); start += kWindow) {
    const std::size_t end = std::min(keyed_payloads.size(), start + kWindow);
    for (std::size_t i = start; i < end; ++i) impl_->write(keyed_payloads[i].second, keyed_payloads[i].first, {});
    for (std::size_t i = start; i < end; ++i) impl_->answer();
  }
}

void create_pulsar_subscription(const std::string& url, const std::string& topic, const std::string& subscription,
                                const std::string& type, const std::string& token) {
  plugins::pulsar::ConsumerSettings settings;
  settings.subscription = subscription;
  settings.type = type == "Exclusive"  ? plugins::pulsar::SubscriptionType::exclusive
                  : type == "Shared"   ? plugins::pulsar::SubscriptionType::shared
                  : type == "Failover" ? plugins::pulsar::SubscriptionType::failover
                                       : plugins::pulsar::SubscriptionType::key_shared;
  auto path = plugins::pulsar::consumer_path(topic, settings);
  if (!path) throw std::runtime_error(path.error());
  Connection connection(url, *path, token);
}

}  // namespace invalidator::testing
