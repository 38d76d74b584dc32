#include "support/pulsar_test_broker.hpp"

#include <fcntl.h>
#include <simdjson.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <ctime>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "invalidator/sdk/base64.hpp"
#include "invalidator/sdk/options.hpp"

namespace invalidator::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string full_topic_name(const std::string& topic) {
  if (topic.find("://") != std::string::npos) return topic;
  return "persistent://public/default/" + topic;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// A message id as a real broker's: base64 of the MessageIdData protobuf {ledgerId, entryId}.
std::string message_id_of(std::uint64_t ledger, std::uint64_t entry) {
  std::string bytes;
  auto varint = [&bytes](std::uint64_t value) {
    do {
      std::uint8_t byte = value & 0x7f;
      value >>= 7;
      if (value != 0) byte |= 0x80;
      bytes += static_cast<char>(byte);
    } while (value != 0);
  };
  bytes += '\x08';
  varint(ledger);
  bytes += '\x10';
  varint(entry);
  return sdk::base64_encode(bytes);
}

std::string json_string(std::string_view text) { return sdk::toml_text::quoted_text(text); }

std::string publish_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(millis));
  return out;
}

std::uint64_t key_hash(std::string_view key) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : key) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

struct Entry {
  std::string id;
  std::string payload;
  std::optional<std::string> key;
  std::vector<std::pair<std::string, std::string>> properties;
  std::string publish_time;
};

class Session;

struct Consumer {
  Session* session = nullptr;
  std::uint64_t id = 0;
  bool pull_mode = false;
  std::int64_t permits = 0;
  std::int64_t receiver_queue_size = 1000;
  std::chrono::milliseconds negative_ack_delay{60000};
  std::set<std::size_t> out;  // entries sent and not acknowledged
};

struct Subscription {
  std::string type;
  std::vector<std::shared_ptr<Consumer>> consumers;  // in the order they connected
  std::set<std::size_t> waiting;
  std::map<std::size_t, Consumer*> out;
  std::set<std::size_t> acknowledged;
  std::map<std::size_t, int> redeliveries;
  std::multimap<Clock::time_point, std::size_t> delayed;  // negatively acknowledged
  std::size_t next_shared = 0;
  PulsarTestBroker::SubscriptionStats counts;
};

struct Topic {
  std::vector<Entry> entries;
  std::unordered_map<std::string, std::size_t> index_of;
  std::map<std::string, Subscription> subscriptions;
};

}  // namespace

struct PulsarTestBroker::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  asio::steady_timer redelivery_timer{io};
  std::uint16_t port = 0;
  std::optional<std::string> token;
  std::map<std::string, Topic> topics;
  std::set<std::shared_ptr<Session>> sessions;
  std::uint64_t next_consumer_id = 1;
  std::uint64_t ledger = 10;  // a new ledger each time the broker comes up, as a real one rolls
  std::uint64_t next_entry = 0;
  simdjson::dom::parser parser;  // every frame is parsed on the io thread
  std::thread thread;
  std::mutex hang_mutex;
  std::condition_variable hang_changed;
  bool hanging = false;

  template <typename Function>
  auto on_io(Function function) -> decltype(function()) {
    std::packaged_task<decltype(function())()> task(std::move(function));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  void listen(std::uint16_t on_port) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), on_port);
    acceptor.open(endpoint.protocol());
    // Not inherited by the processes a test starts (invalidator run): a child holding the
    // listening socket would keep the port after go_down() and take connections it never serves.
    ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    accept();
  }
  void accept();
  void tick();

  std::string publish(const std::string& topic_name, std::string payload, std::optional<std::string> key,
                      std::vector<std::pair<std::string, std::string>> properties) {
    Topic& topic = topics[full_topic_name(topic_name)];
    Entry entry{message_id_of(ledger, next_entry++), std::move(payload), std::move(key), std::move(properties),
                publish_time_now()};
    const std::size_t index = topic.entries.size();
    topic.index_of[entry.id] = index;
    std::string id = entry.id;
    topic.entries.push_back(std::move(entry));
    for (auto& [name, subscription] : topic.subscriptions) {
      subscription.waiting.insert(index);
      dispatch(topic, subscription);
    }
    return id;
  }

  static bool has_room(const Consumer& consumer) {
    if (consumer.pull_mode) return consumer.permits > 0;
    return static_cast<std::int64_t>(consumer.out.size()) < consumer.receiver_queue_size;
  }

  Consumer* choose(Subscription& subscription, const Entry& entry, std::set<std::string>& blocked_keys) {
    auto& consumers = subscription.consumers;
    if (subscription.type == "Key_Shared") {
      const std::string key = entry.key.value_or("");
      if (blocked_keys.count(key) != 0) return nullptr;
      Consumer& chosen = *consumers[key_hash(key) % consumers.size()];
      if (has_room(chosen)) return &chosen;
      blocked_keys.insert(key);  // its later messages wait behind it
      return nullptr;
    }
    if (subscription.type == "Shared") {
      for (std::size_t i = 0; i < consumers.size(); ++i) {
        const std::size_t at = (subscription.next_shared + i) % consumers.size();
        if (has_room(*consumers[at])) {
          subscription.next_shared = at + 1;
          return consumers[at].get();
        }
      }
      return nullptr;
    }
    return has_room(*consumers.front()) ? consumers.front().get() : nullptr;  // Exclusive, Failover: the first
  }

  void dispatch(Topic& topic, Subscription& subscription);
  void handle_consumer_frame(Session& session, std::string_view frame);
  void handle_producer_frame(Session& session, std::string_view frame);
  // The answer to an upgrade request: empty to accept it, else the status and why.
  std::optional<std::pair<http::status, std::string>> admit(Session& session);
  void attached(Session& session);
  void gone(Session& session);
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(PulsarTestBroker::Impl& broker, tcp::socket socket) : broker_(broker), ws_(std::move(socket)) {}

  void start() {
    http::async_read(ws_.next_layer(), buffer_, request_,
                     [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_request(error); });
  }

  void send(std::string text) {
    if (!open_) return;
    writes_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  void drop() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void close_with(std::uint16_t code, const std::string& reason) {
    if (!open_ || closing_) return;
    closing_ = true;
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), [self = shared_from_this()](beast::error_code) {});
  }

  const http::request<http::string_body>& request() const { return request_; }

  bool producer = false;
  std::string topic;
  std::string subscription;
  std::string subscription_type = "Exclusive";
  std::shared_ptr<Consumer> consumer;

 private:
  void on_request(beast::error_code error);
  void read_next() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code error, std::size_t) { self->on_frame(error); });
  }
  void on_frame(beast::error_code error);
  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(writes_.front()), [self = shared_from_this()](beast::error_code error, std::size_t) {
      self->writes_.pop_front();
      self->writing_ = false;
      if (error) return self->finish();
      if (!self->writes_.empty() && self->open_) self->write_next();
    });
  }
  void finish();

  PulsarTestBroker::Impl& broker_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::shared_ptr<http::response<http::string_body>> refusal_;
  std::deque<std::string> writes_;
  bool writing_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

void Session::on_request(beast::error_code error) {
  if (error) return finish();
  if (auto refused = broker_.admit(*this)) {
    refusal_ = std::make_shared<http::response<http::string_body>>(refused->first, request_.version());
    refusal_->set(http::field::content_type, "text/plain");
    refusal_->body() = refused->second;
    refusal_->prepare_payload();
    http::async_write(ws_.next_layer(), *refusal_, [self = shared_from_this()](beast::error_code, std::size_t) {
      self->drop();
      self->finish();
    });
    return;
  }
  ws_.async_accept(request_, [self = shared_from_this()](beast::error_code accepted) {
    if (accepted) return self->finish();
    self->open_ = true;
    self->broker_.attached(*self);
    self->read_next();
  });
}

void Session::on_frame(beast::error_code error) {
  if (error) return finish();
  const std::string frame = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (producer) {
    broker_.handle_producer_frame(*this, frame);
  } else {
    broker_.handle_consumer_frame(*this, frame);
  }
  read_next();
}

void Session::finish() {
  if (finished_) return;
  finished_ = true;
  open_ = false;
  drop();
  broker_.gone(*this);
}

}  // namespace

void PulsarTestBroker::Impl::accept() {
  acceptor.async_accept([this](beast::error_code error, tcp::socket socket) {
    if (error) return;  // closed: going down
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    auto session = std::make_shared<Session>(*this, std::move(socket));
    sessions.insert(session);
    session->start();
    accept();
  });
}

void PulsarTestBroker::Impl::tick() {
  redelivery_timer.expires_after(std::chrono::milliseconds(20));
  redelivery_timer.async_wait([this](beast::error_code error) {
    if (error) return;
    const auto now = Clock::now();
    for (auto& [name, topic] : topics) {
      for (auto& [subscription_name, subscription] : topic.subscriptions) {
        bool due = false;
        while (!subscription.delayed.empty() && subscription.delayed.begin()->first <= now) {
          subscription.waiting.insert(subscription.delayed.begin()->second);
          subscription.delayed.erase(subscription.delayed.begin());
          due = true;
        }
        if (due) dispatch(topic, subscription);
      }
    }
    tick();
  });
}

void PulsarTestBroker::Impl::dispatch(Topic& topic, Subscription& subscription) {
  if (subscription.consumers.empty()) return;
  std::set<std::string> blocked_keys;
  for (auto at = subscription.waiting.begin(); at != subscription.waiting.end();) {
    bool any_room = false;
    for (const auto& consumer : subscription.consumers) any_room = any_room || has_room(*consumer);
    if (!any_room) return;
    const std::size_t index = *at;
    const Entry& entry = topic.entries[index];
    Consumer* consumer = choose(subscription, entry, blocked_keys);
    if (consumer == nullptr) {
      if (subscription.type != "Key_Shared") return;
      ++at;
      continue;
    }
    at = subscription.waiting.erase(at);
    if (consumer->pull_mode) --consumer->permits;
    consumer->out.insert(index);
    subscription.out[index] = consumer;
    const int redeliveries = subscription.redeliveries[index];
    ++subscription.counts.delivered;
    if (redeliveries > 0) ++subscription.counts.redelivered;
    std::string frame = "{\"messageId\":" + json_string(entry.id) + ",\"payload\":" +
                        json_string(sdk::base64_encode(entry.payload)) + ",\"properties\":{";
    for (std::size_t i = 0; i < entry.properties.size(); ++i) {
      if (i > 0) frame += ',';
      frame += json_string(entry.properties[i].first) + ":" + json_string(entry.properties[i].second);
    }
    frame += "},\"publishTime\":" + json_string(entry.publish_time) +
             ",\"redeliveryCount\":" + std::to_string(redeliveries);
    if (entry.key) frame += ",\"key\":" + json_string(*entry.key);
    frame += "}";
    consumer->session->send(std::move(frame));
  }
}

std::optional<std::pair<http::status, std::string>> PulsarTestBroker::Impl::admit(Session& session) {
  const auto& request = session.request();
  const std::string target(request.target());
  const std::size_t question = target.find('?');
  const std::vector<std::string> path = split(target.substr(0, question), '/');
  std::map<std::string, std::string> query;
  if (question != std::string::npos) {
    for (const auto& pair : split(std::string_view(target).substr(question + 1), '&')) {
      const std::size_t equals = pair.find('=');
      if (equals != std::string::npos) query[pair.substr(0, equals)] = percent_decoded(pair.substr(equals + 1));
    }
  }
  if (token) {
    const std::string expected = "Bearer " + *token;
    const auto header = request.find(http::field::authorization);
    const bool by_header = header != request.end() && header->value() == expected;
    const bool by_query = query.count("token") != 0 && query["token"] == *token;
    if (!by_header && !by_query) return std::pair{http::status::unauthorized, std::string("Authentication required")};
  }
  // "", "ws", "v2", "consumer"|"producer", domain, tenant, namespace, topic[, subscription]
  if (path.size() < 8 || path[1] != "ws" || path[2] != "v2" ||
      (path[4] != "persistent" && path[4] != "non-persistent")) {
    return std::pair{http::status::not_found, std::string("no such endpoint: " + target)};
  }
  session.topic = path[4] + "://" + percent_decoded(path[5]) + "/" + percent_decoded(path[6]) + "/" +
                  percent_decoded(path[7]);
  if (path[3] == "producer" && path.size() == 8) {
    session.producer = true;
    return std::nullopt;
  }
  if (path[3] != "consumer" || path.size() != 9 || path[8].empty()) {
    return std::pair{http::status::not_found, std::string("no such endpoint: " + target)};
  }
  session.subscription = percent_decoded(path[8]);
  if (query.count("subscriptionType") != 0) session.subscription_type = query["subscriptionType"];
  const std::set<std::string> types = {"Exclusive", "Shared", "Failover", "Key_Shared"};
  if (types.count(session.subscription_type) == 0) {
    return std::pair{http::status::bad_request, "Invalid subscriptionType " + session.subscription_type};
  }
  auto consumer = std::make_shared<Consumer>();
  consumer->session = &session;
  consumer->pull_mode = query["pullMode"] == "true";
  if (query.count("receiverQueueSize") != 0) consumer->receiver_queue_size = std::stoll(query["receiverQueueSize"]);
  if (query.count("negativeAckRedeliveryDelay") != 0) {
    consumer->negative_ack_delay = std::chrono::milliseconds(std::stoll(query["negativeAckRedeliveryDelay"]));
  }
  Topic& topic = topics[session.topic];
  auto existing = topic.subscriptions.find(session.subscription);
  if (existing != topic.subscriptions.end() && !existing->second.consumers.empty()) {
    if (existing->second.type != session.subscription_type) {
      return std::pair{http::status::conflict, std::string("Subscription is of different type")};
    }
    if (session.subscription_type == "Exclusive") {
      return std::pair{http::status::conflict, std::string("Exclusive consumer is already connected")};
    }
  }
  session.consumer = std::move(consumer);
  return std::nullopt;
}

void PulsarTestBroker::Impl::attached(Session& session) {
  if (session.producer) return;
  Topic& topic = topics[session.topic];
  // A new subscription starts at the end of the topic, as Pulsar's do by default.
  auto [found, created] = topic.subscriptions.try_emplace(session.subscription);
  Subscription& subscription = found->second;
  if (subscription.consumers.empty()) subscription.type = session.subscription_type;
  session.consumer->id = next_consumer_id++;
  subscription.consumers.push_back(session.consumer);
  dispatch(topic, subscription);
}

void PulsarTestBroker::Impl::gone(Session& session) {
  std::shared_ptr<Session> kept;
  for (const auto& candidate : sessions) {
    if (candidate.get() == &session) kept = candidate;
  }
  sessions.erase(kept);
  if (session.producer || !session.consumer) return;
  auto topic = topics.find(session.topic);
  if (topic == topics.end()) return;
  auto subscription = topic->second.subscriptions.find(session.subscription);
  if (subscription == topic->second.subscriptions.end()) return;
  Subscription& state = subscription->second;
  auto& consumers = state.consumers;
  const auto before = consumers.size();
  std::erase(consumers, session.consumer);
  if (consumers.size() == before) return;  // never attached
  // What it had not acknowledged goes to the subscription's other consumers, or its next one.
  for (std::size_t index : session.consumer->out) {
    state.out.erase(index);
    state.waiting.insert(index);
    ++state.redeliveries[index];
  }
  session.consumer->out.clear();
  session.consumer->session = nullptr;
  dispatch(topic->second, state);
}

void PulsarTestBroker::Impl::handle_consumer_frame(Session& session, std::string_view frame) {
  simdjson::dom::object command;
  if (parser.parse(frame.data(), frame.size()).get(command)) return session.close_with(1003, "not JSON");
  Topic& topic = topics[session.topic];
  Subscription& subscription = topic.subscriptions[session.subscription];
  std::string_view type;
  if (command["type"].get(type)) type = "";
  if (type == "permit") {
    std::int64_t permits = 0;
    if (command["permitMessages"].get(permits) || permits <= 0) return;
    session.consumer->permits += permits;
    ++subscription.counts.permit_frames;
    return dispatch(topic, subscription);
  }
  if (type == "isEndOfTopic") {
    return session.send(std::string("{\"endOfTopic\":") + (subscription.waiting.empty() ? "true" : "false") + "}");
  }
  if (type == "unsubscribe") return;
  std::string_view message_id;
  if (command["messageId"].get(message_id)) return;
  auto found = topic.index_of.find(std::string(message_id));
  if (found == topic.index_of.end()) return;
  const std::size_t index = found->second;
  auto out = subscription.out.find(index);
  if (type == "negativeAcknowledge") {
    if (out == subscription.out.end()) return;
    out->second->out.erase(index);
    subscription.out.erase(out);
    ++subscription.counts.negatively_acknowledged;
    ++subscription.redeliveries[index];
    subscription.delayed.emplace(Clock::now() + session.consumer->negative_ack_delay, index);
    return dispatch(topic, subscription);
  }
  // Any other command naming a messageId acknowledges it (the consumer endpoint's own rule).
  ++subscription.counts.acknowledge_frames;
  if (!subscription.acknowledged.insert(index).second) return;
  if (out != subscription.out.end()) {
    out->second->out.erase(index);
    subscription.out.erase(out);
  }
  subscription.waiting.erase(index);  // acknowledged by its id from an earlier connection
  for (auto at = subscription.delayed.begin(); at != subscription.delayed.end(); ++at) {
    if (at->second == index) {
      subscription.delayed.erase(at);
      break;
    }
  }
  dispatch(topic, subscription);
}

void PulsarTestBroker::Impl::handle_producer_frame(Session& session, std::string_view frame) {
  simdjson::dom::object message;
  std::string_view context;
  auto answer = [&](const std::string& fields) {
    session.send("{" + fields + ",\"context\":" + json_string(context) + "}");
  };
  if (parser.parse(frame.data(), frame.size()).get(message)) return session.close_with(1003, "not JSON");
  if (message["context"].get(context)) context = "";
  std::string_view payload;
  if (message["payload"].get(payload)) {
    return answer("\"result\":\"send-error:4\",\"errorMsg\":\"Invalid payload: no payload\"");
  }
  auto decoded = sdk::base64_decode(payload);
  if (!decoded) return answer("\"result\":\"send-error:4\",\"errorMsg\":\"Invalid payload: not base64\"");
  std::optional<std::string> key;
  std::string_view text;
  if (!message["key"].get(text)) key = std::string(text);
  std::vector<std::pair<std::string, std::string>> properties;
  simdjson::dom::object fields;
  if (!message["properties"].get(fields)) {
    for (auto [name, value] : fields) {
      if (!value.get(text)) properties.emplace_back(std::string(name), std::string(text));
    }
  }
  const std::string id = publish(session.topic, std::move(*decoded), std::move(key), std::move(properties));
  answer("\"result\":\"ok\",\"messageId\":" + json_string(id));
}

PulsarTestBroker::PulsarTestBroker() : impl_(std::make_shared<Impl>()) {
  impl_->listen(0);
  impl_->tick();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

PulsarTestBroker::~PulsarTestBroker() {
  impl_->on_io([impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->redelivery_timer.cancel();
    for (const auto& session : std::set<std::shared_ptr<Session>>(impl->sessions)) session->drop();
  });
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

std::string PulsarTestBroker::url() const { return "ws://127.0.0.1:" + std::to_string(impl_->port); }

std::uint16_t PulsarTestBroker::port() const { return impl_->port; }

void PulsarTestBroker::require_token(std::string token) {
  impl_->on_io([&] { impl_->token = std::move(token); });
}

std::string PulsarTestBroker::publish(const std::string& topic, const std::string& payload,
                                      const std::optional<std::string>& key,
                                      const std::vector<std::pair<std::string, std::string>>& properties) {
  return impl_->on_io([&] { return impl_->publish(topic, payload, key, properties); });
}

void PulsarTestBroker::go_down() {
  impl_->on_io([impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    for (const auto& session : std::set<std::shared_ptr<Session>>(impl->sessions)) session->drop();
  });
}

void PulsarTestBroker::come_up() {
  impl_->on_io([impl = impl_.get()] {
    ++impl->ledger;
    impl->next_entry = 0;
    impl->listen(impl->port);
  });
}

void PulsarTestBroker::hang() {
  {
    std::lock_guard lock(impl_->hang_mutex);
    impl_->hanging = true;
  }
  asio::post(impl_->io, [impl = impl_.get()] {
    std::unique_lock lock(impl->hang_mutex);
    impl->hang_changed.wait(lock, [impl] { return !impl->hanging; });
  });
}

void PulsarTestBroker::resume() {
  {
    std::lock_guard lock(impl_->hang_mutex);
    impl_->hanging = false;
  }
  impl_->hang_changed.notify_all();
}

void PulsarTestBroker::drop_consumers() {
  impl_->on_io([impl = impl_.get()] {
    for (const auto& session : std::set<std::shared_ptr<Session>>(impl->sessions)) {
      if (session->consumer) session->drop();
    }
  });
}

void PulsarTestBroker::close_consumers(std::uint16_t code, const std::string& reason) {
  impl_->on_io([&] {
    for (const auto& session : std::set<std::shared_ptr<Session>>(impl_->sessions)) {
      if (session->consumer) session->close_with(code, reason);
    }
  });
}

PulsarTestBroker::SubscriptionStats PulsarTestBroker::stats(const std::string& topic_name,
                                                            const std::string& subscription_name) {
  return impl_->on_io([&] {
    SubscriptionStats stats;
    auto topic = impl_->topics.find(full_topic_name(topic_name));
    if (topic == impl_->topics.end()) return stats;
    auto subscription = topic->second.subscriptions.find(subscription_name);
    if (subscription == topic->second.subscriptions.end()) return stats;
    const Subscription& state = subscription->second;
    stats = state.counts;
    stats.consumers = state.consumers.size();
    stats.acknowledged = state.acknowledged.size();
    stats.unacknowledged = state.out.size();
    stats.waiting = state.waiting.size() + state.delayed.size();
    for (const auto& consumer : state.consumers) stats.permits += consumer->pull_mode ? consumer->permits : 0;
    return stats;
  });
}

}  // namespace invalidator::testing
