#include "pulsar_source.hpp"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <set>

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// How long a message is offered to a full pipeline before the connections are served again
// (their reads, pings and acknowledgements); the broker sends nothing meanwhile beyond the
// permits it has.
constexpr std::chrono::milliseconds kFullPipelineWait{50};
// A connection that lasted this long ends a sequence of failures: the next one is retried at
// once (after the initial backoff). One that fails sooner backs off further, so that a broker
// that accepts and at once closes is not hammered.
constexpr std::chrono::seconds kStableConnection{10};
// At shutdown, how long acknowledgements and close frames may take to go out.
constexpr std::chrono::seconds kShutdownDeadline{3};

}  // namespace

sdk::OptionsSpec<PulsarSourceOptions> PulsarSource::options() {
  using O = PulsarSourceOptions;
  using pulsar::SubscriptionType;
  sdk::OptionsSpec<O> spec(
      "Consumes Debezium change events from Apache Pulsar through its WebSocket API; each message is "
      "acknowledged once its own invalidations were delivered or dead-lettered.");
  spec.option("url", &O::url)
      .description("The WebSocket service: ws://host:8080 (Pulsar standalone's default) or wss://host:8443.")
      .required()
      .example("\"ws://pulsar:8080\"");
  spec.option("topics", &O::topics)
      .description("Full names (persistent://tenant/namespace/topic) or short ones (topic: persistent://public/default/topic); "
                   "one connection each.")
      .required()
      .example("[\"dbserver1.public.customers\", \"persistent://public/default/dbserver1.public.invoices\"]");
  spec.option("subscription", &O::subscription)
      .description("Subscription name: processes with the same subscription share the messages. A new subscription "
                   "starts at the end of its topic (Pulsar's default), so create it before the changes it must see.")
      .default_value("invalidator");
  spec.option("subscription_type", &O::subscription_type)
      .description("Key_Shared spreads keys over the processes of a subscription, each key's messages in order; "
                   "Exclusive and Failover keep one reader; Shared spreads messages without order.")
      .choices({{"Key_Shared", SubscriptionType::key_shared},
                {"Shared", SubscriptionType::shared},
                {"Exclusive", SubscriptionType::exclusive},
                {"Failover", SubscriptionType::failover}})
      .default_value(SubscriptionType::key_shared);
  spec.option("receiver_queue_size", &O::receiver_queue_size)
      .description("Messages the broker may send ahead of the pipeline, per topic (pull-mode permits).")
      .default_value(1000)
      .min(1);
  spec.option("token", &O::token)
      .description("Authentication token, sent as Authorization: Bearer; write \"${PULSAR_TOKEN}\" to take it from the "
                   "environment.")
      .secret()
      .default_value("");
  spec.option("ca_file", &O::ca_file)
      .description("PEM file of the certificate authorities a wss:// server is checked against; empty: the system's.")
      .default_value("");
  spec.option("format", &O::format)
      .description("How message values are decoded.")
      .one_of({"debezium"})
      .default_value("debezium");
  spec.option("redelivery_delay", &O::redelivery_delay)
      .description("How long after a negative acknowledgement (a message that was not kept) the broker sends it again.")
      .default_value(std::chrono::seconds(10))
      .min(0);
  spec.option("connect_timeout", &O::connect_timeout)
      .description("Connecting and the WebSocket handshake, each.")
      .default_value(std::chrono::seconds(10))
      .min(1);
  spec.option("keepalive", &O::keepalive)
      .description("A connection without a frame for half of it is pinged; without any for all of it, it is taken for dead "
                   "and opened again.")
      .default_value(std::chrono::seconds(30))
      .min(100);
  spec.option("max_reconnect_backoff", &O::max_reconnect_backoff)
      .description("The longest wait between two attempts to connect again.")
      .default_value(std::chrono::seconds(30))
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> PulsarSource::create(PulsarSourceOptions options,
                                                             const sdk::PluginContext& context) {
  if (options.topics.empty()) return sdk::Status::error("topics: name at least one topic");
  auto url = pulsar::parse_websocket_url(options.url);
  if (!url) return sdk::Status::error("url: " + url.error());
  if (!options.ca_file.empty() && !url->tls) {
    return sdk::Status::error("ca_file: certificates are for wss:// URLs, and url is '" + options.url +
                              "'; write wss:// or drop ca_file");
  }
  std::unique_ptr<PulsarSource> source(new PulsarSource(std::move(options), context.logger));
  source->url_ = *url;
  const PulsarSourceOptions& o = source->options_;
  if (url->tls) {
    source->tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code error;
    if (o.ca_file.empty()) {
      source->tls_->set_default_verify_paths(error);
    } else {
      source->tls_->load_verify_file(o.ca_file, error);
    }
    if (error) {
      return sdk::Status::error(o.ca_file.empty() ? "cannot load the system's certificate authorities: " + error.message()
                                                  : "ca_file: cannot load '" + o.ca_file + "': " + error.message());
    }
  }
  pulsar::ConsumerSettings settings;
  settings.subscription = o.subscription;
  settings.type = o.subscription_type;
  settings.receiver_queue_size = o.receiver_queue_size;
  settings.pull_mode = true;
  settings.negative_ack_redelivery_delay = o.redelivery_delay;
  std::set<std::string> seen;
  for (const auto& topic : o.topics) {
    auto name = pulsar::parse_topic_name(topic);
    if (!name) return sdk::Status::error("topics: " + name.error());
    if (!seen.insert(name->full()).second) {
      return sdk::Status::error("topics: '" + topic + "' names " + name->full() + " twice");
    }
    auto path = pulsar::consumer_path(topic, settings);
    if (!path) return sdk::Status::error("topics: " + path.error());
    source->consumers_.push_back(std::make_unique<TopicConsumer>(*source, source->consumers_.size(), name->full(),
                                                                 name->local, std::move(*path)));
  }
  return std::unique_ptr<sdk::Source>(std::move(source));
}

PulsarSource::PulsarSource(PulsarSourceOptions options, sdk::Logger* logger)
    : options_(std::move(options)), logger_(logger) {}

PulsarSource::~PulsarSource() { shut_down(kShutdownDeadline); }

void PulsarSource::log(sdk::LogLevel level, const std::string& message) const {
  if (logger_ != nullptr) logger_->log(level, "Pulsar: " + message);
}

PulsarSource::TopicConsumer::TopicConsumer(PulsarSource& owner, std::size_t position_in_topics, std::string full_name,
                                           std::string short_name, std::string path)
    : source(owner),
      index(position_in_topics),
      topic(std::move(full_name)),
      local_name(std::move(short_name)),
      target(std::move(path)),
      backoff(std::chrono::milliseconds(100), owner.options_.max_reconnect_backoff, 0x5eed + position_in_topics),
      retry(owner.io_) {}

void PulsarSource::TopicConsumer::open() {
  pulsar::WebSocketClient::Settings settings;
  settings.url = source.url_;
  settings.target = target;
  if (!source.options_.token.empty()) settings.headers.emplace_back("Authorization", "Bearer " + source.options_.token);
  settings.connect_timeout = source.options_.connect_timeout;
  settings.idle_timeout = source.options_.keepalive;
  opened_at = Clock::now();
  client = pulsar::WebSocketClient::connect(source.io_, source.tls_.get(), std::move(settings), *this);
}

void PulsarSource::TopicConsumer::opened() {
  {
    std::lock_guard lock(source.mutex_);
    stream = source.next_stream_++;
    source.in_flight_[stream].topic = index;
  }
  next_offset = 0;
  permits_out = 0;
  permits_owed = source.options_.receiver_queue_size;
  opened_at = Clock::now();
  if (failures > 0) {
    source.log(sdk::LogLevel::info, "connected to " + topic + " again (subscription '" + source.options_.subscription +
                                        "'); the broker sends again what was not acknowledged");
  } else {
    source.log(sdk::LogLevel::info, "consuming " + topic + " (subscription '" + source.options_.subscription + "')");
  }
  failures = 0;
  for (auto& frame : unsent) client->send(std::move(frame));
  unsent.clear();
  grant_permits();
}

void PulsarSource::TopicConsumer::grant_permits() {
  if (!client || !client->is_open() || permits_owed <= 0) return;
  // In batches: a frame per message would double what goes to the broker. The broker waits
  // only once every permit is used, and then the batch goes whatever its size.
  if (permits_out > 0 && permits_owed < std::max<std::int64_t>(1, source.options_.receiver_queue_size / 2)) return;
  client->send(pulsar::permit_frame(permits_owed));
  permits_out += permits_owed;
  permits_owed = 0;
}

void PulsarSource::TopicConsumer::received(std::string frame) {
  auto parsed = pulsar::parse_consumer_frame(frame);
  if (!parsed) {
    ++source.unreadable_frames_;
    source.log(sdk::LogLevel::error, topic + ": " + parsed.error() +
                                         "; left unacknowledged, so the broker sends it again after a reconnect (" +
                                         std::to_string(source.unreadable_frames_) + " unreadable frames so far)");
    return;
  }
  if (!*parsed) return;  // an answer, not a message
  pulsar::ConsumerMessage& message = **parsed;
  if (permits_out > 0) --permits_out;
  if (message.encrypted && !warned_encrypted) {
    warned_encrypted = true;
    source.log(sdk::LogLevel::warn, topic + ": message " + message.message_id +
                                        " is end-to-end encrypted, which the WebSocket API does not decrypt: it cannot "
                                        "be decoded and is dead-lettered (publish without encryption to this topic)");
  }
  sdk::RawMessage raw;
  raw.topic = local_name;
  raw.key = std::move(message.key);
  // An empty payload is Debezium's tombstone (the Pulsar sink sends a delete's second record
  // without a value).
  if (!message.payload.empty()) {
    std::string value;
    value.reserve(message.payload.size() + sdk::kDecodePadding);  // parsed in place, without a copy
    value.append(message.payload);
    raw.value = std::move(value);
  }
  raw.headers = std::move(message.properties);
  raw.position = sdk::Position{stream, next_offset++};
  {
    std::lock_guard lock(source.mutex_);
    source.in_flight_[stream].ids.emplace(raw.position.offset, std::move(message.message_id));
  }
  source.received_.push_back(Received{index, std::move(raw)});
}

void PulsarSource::TopicConsumer::ended(const pulsar::WebSocketClient::Ending& ending) {
  client.reset();
  if (stream != 0) source.forget_stream(stream);
  stream = 0;
  if (source.closing_) return;
  if (ending.http_status == 401 || ending.http_status == 403) {
    source.fatal_ = topic + ": " + ending.reason + " (check the token option)";
    return;
  }
  if (Clock::now() - opened_at >= kStableConnection) backoff.reset();
  ++failures;
  const auto delay = backoff.next();
  if (failures <= 3 || failures % 10 == 0) {
    source.log(sdk::LogLevel::warn, topic + ": " + ending.reason + "; connecting again in " +
                                        std::to_string(delay.count()) + " ms (attempt " + std::to_string(failures) + ")");
  }
  retry.expires_after(delay);
  retry.async_wait([this](boost::system::error_code error) {
    if (!error && !source.closing_) open();
  });
}

void PulsarSource::TopicConsumer::send(std::string frame) {
  if (client && client->is_open()) {
    client->send(std::move(frame));
  } else {
    unsent.push_back(std::move(frame));
  }
}

void PulsarSource::forget_stream(std::uint64_t stream) {
  // Received and not handed over: the broker sends them again on the next connection.
  std::vector<std::uint64_t> dropped;
  for (const auto& item : received_) {
    if (item.raw.position.stream == stream) dropped.push_back(item.raw.position.offset);
  }
  std::erase_if(received_, [stream](const Received& item) { return item.raw.position.stream == stream; });
  std::lock_guard lock(mutex_);
  auto found = in_flight_.find(stream);
  if (found == in_flight_.end()) return;
  for (std::uint64_t offset : dropped) found->second.ids.erase(offset);
  // Handed over and not completed: their acknowledgements go through the next connection.
  found->second.ended = true;
  if (found->second.ids.empty()) in_flight_.erase(found);
}

void PulsarSource::complete(const sdk::Position& position) { answer(position, true); }

void PulsarSource::reject(const sdk::Position& position, std::string_view reason) {
  log(sdk::LogLevel::warn, "message at " + std::to_string(position.stream) + "/" + std::to_string(position.offset) +
                               " was not kept (" + std::string(reason) + "): negatively acknowledged, the broker sends it "
                               "again in " + std::to_string(options_.redelivery_delay.count()) + " ms");
  answer(position, false);
}

void PulsarSource::answer(const sdk::Position& position, bool kept) {
  {
    std::lock_guard lock(mutex_);
    auto stream = in_flight_.find(position.stream);
    if (stream == in_flight_.end()) return;
    auto id = stream->second.ids.find(position.offset);
    if (id == stream->second.ids.end()) return;
    answers_.emplace_back(stream->second.topic,
                          kept ? pulsar::acknowledge_frame(id->second) : pulsar::negative_acknowledge_frame(id->second));
    stream->second.ids.erase(id);
    if (stream->second.ended && stream->second.ids.empty()) in_flight_.erase(stream);
  }
  // One wake-up of the io thread carries every answer made until it runs.
  if (!answers_posted_.exchange(true)) asio::post(io_, [this] { send_answers(); });
}

void PulsarSource::send_answers() {
  answers_posted_.store(false);
  std::vector<std::pair<std::size_t, std::string>> answers;
  {
    std::lock_guard lock(mutex_);
    answers.swap(answers_);
  }
  for (auto& [topic, frame] : answers) consumers_[topic]->send(std::move(frame));
}

bool PulsarSource::offer(sdk::Emitter& emitter, bool& stopping) {
  Received& front = received_.front();
  sdk::EmitResult result = emitter.try_emit(front.raw, sdk::Emitter::Deadline{});
  if (result == sdk::EmitResult::full) result = emitter.try_emit(front.raw, Clock::now() + kFullPipelineWait);
  if (result == sdk::EmitResult::stopping) {
    stopping = true;
    return false;
  }
  if (result == sdk::EmitResult::full) return false;
  TopicConsumer& consumer = *consumers_[front.topic];
  received_.pop_front();
  ++consumer.permits_owed;
  consumer.grant_permits();
  return true;
}

sdk::Status PulsarSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  if (!started_) {
    started_ = true;
    work_.emplace(io_.get_executor());
    for (auto& consumer : consumers_) consumer->open();
  }
  // Wakes the io thread's wait below.
  std::stop_callback wake(stop, [this] { asio::post(io_, [] {}); });
  bool stopping = false;
  while (!stop.stop_requested() && !stopping && fatal_.empty()) {
    if (received_.empty()) {
      io_.run_one_for(std::chrono::milliseconds(500));
    }
    // Everything ready is read at once and handed over in one go: a poll per message cost a
    // system call per message, and the benchmark's ratio to a plain consumer went from 0.56x
    // to 0.99x without it (docs/performance.md, Pulsar source).
    io_.poll();
    while (!received_.empty() && offer(emitter, stopping)) {
    }
  }
  // Answers made so far go out now; the connections stay open for the ones still to come,
  // until the source is destroyed.
  send_answers();
  io_.poll();
  if (!fatal_.empty()) return sdk::Status::error("Pulsar: " + fatal_);
  return sdk::Status::success();
}

void PulsarSource::shut_down(std::chrono::milliseconds deadline) {
  if (!started_) return;
  closing_ = true;
  io_.restart();
  send_answers();
  for (auto& consumer : consumers_) {
    consumer->retry.cancel();
    if (consumer->client) consumer->client->close();
  }
  work_.reset();
  const auto until = Clock::now() + deadline;
  while (Clock::now() < until && std::any_of(consumers_.begin(), consumers_.end(), [](const auto& consumer) {
           return consumer->client != nullptr;
         })) {
    io_.run_one_until(until);
    if (io_.stopped()) break;
  }
  for (auto& consumer : consumers_) {
    if (consumer->client) consumer->client->abort();
  }
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(pulsar, "0.1.0", invalidator::plugins::PulsarSource::options,
                          invalidator::plugins::PulsarSource::create)
