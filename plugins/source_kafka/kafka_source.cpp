#include "kafka_source.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {
namespace {

using Clock = std::chrono::steady_clock;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// Settings the source decides itself; the passthrough table must not change them.
constexpr std::array kOwnedSettings = {"bootstrap.servers",        "group.id",          "group.instance.id",
                                       "enable.auto.commit",       "enable.auto.offset.store",
                                       "auto.offset.reset",        "enable.partition.eof"};

// Lag and reachability go to the engine this often: a scrape every few seconds sees them fresh.
constexpr std::chrono::seconds kStatusInterval{1};
// How long a probe of brokers said to be down may hold run()'s thread, once a second.
constexpr int kReachabilityProbeTimeoutMs = 200;

// Errors after which retrying cannot help: the process exits with the reason.
bool is_fatal(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return true;
    default:
      return false;
  }
}

std::string bytes(const void* data, std::size_t length) {
  return std::string(static_cast<const char*>(data), length);
}

}  // namespace

sdk::OptionsSpec<KafkaSourceOptions> KafkaSource::options() {
  using O = KafkaSourceOptions;
  sdk::OptionsSpec<O> spec(
      "Consumes Debezium change events from Kafka as a member of a consumer group; offsets are committed "
      "only once the invalidations of a message, and of every earlier one of its partition, were delivered.");
  spec.option("brokers", &O::brokers)
      .description("bootstrap.servers: host:port[,host:port...].")
      .required()
      .example("\"kafka-1:9092,kafka-2:9092\"");
  spec.option("topics", &O::topics)
      .description("Topic names; an entry starting with ^ is a regular expression (e.g. \"^dbserver1\\\\.public\\\\..*\").")
      .required()
      .example("[\"dbserver1.public.customers\"]");
  spec.option("group_id", &O::group_id)
      .description("Consumer group: processes with the same group share the partitions.")
      .default_value("invalidator");
  spec.option("instance_id", &O::instance_id)
      .description("Static group membership (group.instance.id): this process's stable name in the group, e.g. "
                   "\"${HOSTNAME}\". Restarted under the same name, it gets its partitions back at once instead of "
                   "after the group's session timeout; but while it is down its partitions wait, unread, for that "
                   "timeout (librdkafka.\"session.timeout.ms\", 45 s by default), and two processes given one name "
                   "fence each other. Empty: dynamic membership.")
      .default_value("")
      .example("\"${HOSTNAME}\"");
  spec.option("start", &O::start)
      .description("Where a group without committed offsets starts.")
      .choices({{"earliest", KafkaStart::earliest}, {"latest", KafkaStart::latest}})
      .default_value(KafkaStart::earliest);
  spec.option("format", &O::format)
      .description("How message values are decoded.")
      .one_of({"debezium"})
      .default_value("debezium");
  spec.option("commit_interval", &O::commit_interval)
      .description("How often acknowledged offsets are committed (asynchronously); also on revoke and shutdown (synchronously).")
      .default_value(std::chrono::seconds(1))
      .min(1);
  spec.option("revoke_timeout", &O::revoke_timeout)
      .description("How long a revoked partition's in-flight messages may take to be acknowledged before it is released.")
      .default_value(std::chrono::seconds(10))
      .min(0);
  spec.option("librdkafka", &O::librdkafka)
      .description("librdkafka settings passed through verbatim (security.protocol, sasl.*, ssl.*, fetch tuning); "
                   "librdkafka itself validates them.")
      .example("{ \"security.protocol\" = \"sasl_ssl\", \"sasl.mechanism\" = \"PLAIN\" }");
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> KafkaSource::create(KafkaSourceOptions options,
                                                            const sdk::PluginContext& context) {
  if (options.topics.empty()) return sdk::Status::error("topics: name at least one topic");
  std::unique_ptr<KafkaSource> source(new KafkaSource(std::move(options), context.logger));
  const KafkaSourceOptions& o = source->options_;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto set = [&](const std::string& name, const std::string& value, const std::string& where) -> sdk::Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      return sdk::Status::error(where + ": " + error);
    }
    return sdk::Status::success();
  };
  // A topic named in `topics` that does not exist yet (Debezium makes it at a table's first
  // change) is looked for again at each metadata refresh: every 10 s rather than librdkafka's
  // 5 min. The librdkafka table may set it otherwise.
  if (auto status = set("topic.metadata.refresh.interval.ms", "10000", "topic.metadata.refresh.interval.ms"); !status.ok()) {
    rd_kafka_conf_destroy(conf);
    return status;
  }
  for (const auto& [name, value] : o.librdkafka) {
    // librdkafka before 2.3.0 aborts when a cooperative-sticky consumer closes before its first
    // assignment (its issue 4312): refuse it rather than crash later.
    if (name == "partition.assignment.strategy" && value.find("cooperative-sticky") != std::string::npos &&
        rd_kafka_version() < 0x020300ff) {
      rd_kafka_conf_destroy(conf);
      return sdk::Status::error("librdkafka.partition.assignment.strategy: cooperative-sticky needs librdkafka 2.3.0 or "
                                "later (this is " + std::string(rd_kafka_version_str()) +
                                ", which aborts when such a consumer closes before its first assignment); "
                                "use the default (range,roundrobin)");
    }
    if (std::find(kOwnedSettings.begin(), kOwnedSettings.end(), name) != kOwnedSettings.end()) {
      rd_kafka_conf_destroy(conf);
      return sdk::Status::error("librdkafka." + name + ": set by the source itself (use its own options: brokers, "
                                "group_id, instance_id, start); offsets are committed from acknowledgements only");
    }
    if (auto status = set(name, value, "librdkafka." + name); !status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
  }
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"bootstrap.servers", o.brokers},
           {"group.id", o.group_id},
           {"enable.auto.commit", "false"},
           {"enable.auto.offset.store", "false"},
           {"auto.offset.reset", o.start == KafkaStart::latest ? "latest" : "earliest"},
           {"enable.partition.eof", "false"}}) {
    if (auto status = set(name, value, name); !status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
  }
  if (!o.instance_id.empty()) {
    if (auto status = set("group.instance.id", o.instance_id, "instance_id"); !status.ok()) {
      rd_kafka_conf_destroy(conf);
      return status;
    }
  }
  rd_kafka_conf_set_opaque(conf, source.get());
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::on_rebalance);
  rd_kafka_conf_set_error_cb(conf, &KafkaSource::on_error);
  rd_kafka_conf_set_log_cb(conf, &KafkaSource::on_log);
  rd_kafka_conf_set_offset_commit_cb(conf, &KafkaSource::on_commit);
  source->consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (source->consumer_ == nullptr) {  // rd_kafka_new frees conf only on success
    rd_kafka_conf_destroy(conf);
    return sdk::Status::error(std::string("cannot create the Kafka consumer: ") + error);
  }
  rd_kafka_poll_set_consumer(source->consumer_);
  return std::unique_ptr<sdk::Source>(std::move(source));
}

KafkaSource::~KafkaSource() {
  backlog_.clear();  // messages must go before their handle
  if (consumer_ != nullptr) {
    if (!closed_) rd_kafka_consumer_close(consumer_);
    rd_kafka_destroy(consumer_);
  }
}

void KafkaSource::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* partitions,
                               void* opaque) {
  auto* source = static_cast<KafkaSource*>(opaque);
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    source->assigned(partitions);
  } else {
    source->revoked(partitions);
  }
}

void KafkaSource::on_error(rd_kafka_t* consumer, int error, const char* reason, void* opaque) {
  auto* source = static_cast<KafkaSource*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(error);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(consumer, fatal, sizeof fatal);
    std::lock_guard lock(source->mutex_);
    source->fatal_reason_ = std::string("Kafka: fatal error: ") + fatal;
    source->failed_.store(true, std::memory_order_release);
    return;
  }
  if (is_fatal(code)) {  // authentication, authorization: retrying will not help
    std::lock_guard lock(source->mutex_);
    source->fatal_reason_ = std::string("Kafka: ") + rd_kafka_err2str(code) + ": " + reason;
    source->failed_.store(true, std::memory_order_release);
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    std::lock_guard lock(source->mutex_);
    source->brokers_down_reason_ = std::string(rd_kafka_err2str(code)) + ": " + reason;
    source->brokers_down_.store(true, std::memory_order_relaxed);
  }
  // Brokers down or unreachable: librdkafka reconnects by itself; one line every 10 s is enough.
  if (!source->logger_) return;
  auto now = Clock::now();
  if (now - source->last_error_log_ < std::chrono::seconds(10)) return;
  source->last_error_log_ = now;
  source->logger_->warn(std::string("Kafka: ") + rd_kafka_err2str(code) + ": " + reason + " (retrying)");
}

// librdkafka's own log lines (connection details) go to the debug log; what matters reaches
// on_error too.
void KafkaSource::on_log(const rd_kafka_t* consumer, int, const char* facility, const char* text) {
  auto* source = static_cast<KafkaSource*>(rd_kafka_opaque(consumer));
  if (source != nullptr && source->logger_) source->logger_->debug(std::string("librdkafka ") + facility + ": " + text);
}

KafkaSource::Stream* KafkaSource::stream_of(std::string_view topic, std::int32_t partition, std::uint64_t& id) {
  if (last_stream_state_ != nullptr && last_stream_state_->partition == partition && last_stream_state_->topic == topic) {
    id = last_stream_;
    return last_stream_state_;
  }
  std::lock_guard lock(mutex_);
  auto found = active_.find(std::pair<std::string_view, std::int32_t>(topic, partition));
  if (found == active_.end()) return nullptr;
  last_stream_ = found->second;
  last_stream_state_ = &streams_[found->second];
  id = last_stream_;
  return last_stream_state_;
}

// With the cooperative-sticky assignor (settable through the librdkafka table) a rebalance
// hands over only the partitions that move, and the calls differ.
bool KafkaSource::cooperative() const {
  const char* protocol = rd_kafka_rebalance_protocol(consumer_);
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

void KafkaSource::assigned(rd_kafka_topic_partition_list_t* partitions) {
  {
    std::lock_guard lock(mutex_);
    last_stream_state_ = nullptr;
    for (int i = 0; i < partitions->cnt; ++i) {
      const auto& partition = partitions->elems[i];
      std::uint64_t id = next_stream_++;
      streams_[id] = Stream{partition.topic, partition.partition};
      active_[{partition.topic, partition.partition}] = id;
    }
  }
  if (logger_) logger_->info("assigned " + std::to_string(partitions->cnt) + " partition(s) of group " + options_.group_id);
  // None of these is paused (partitions are resumed before they are revoked), and none may be
  // paused or resumed now: see pause_partitions(). While the source is paused, each is paused
  // once it delivers a message.
  if (cooperative()) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_assign(consumer_, partitions)) rd_kafka_error_destroy(error);
  } else {
    rd_kafka_assign(consumer_, partitions);
  }
}

void KafkaSource::revoked(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<std::uint64_t> leaving;
  {
    std::unique_lock lock(mutex_);
    last_stream_state_ = nullptr;
    for (int i = 0; i < partitions->cnt; ++i) {
      auto found = active_.find({partitions->elems[i].topic, partitions->elems[i].partition});
      if (found != active_.end()) leaving.push_back(found->second);
    }
    // Let what is in flight finish, within bounds: what is acknowledged by then is committed,
    // the rest is read again by the partition's next owner.
    auto all_acknowledged = [&] {
      return std::all_of(leaving.begin(), leaving.end(), [&](std::uint64_t id) {
        const Stream& stream = streams_[id];
        return stream.emitted_next < 0 || stream.acked_next >= stream.emitted_next;
      });
    };
    acknowledged_.wait_for(lock, options_.revoke_timeout, all_acknowledged);
  }
  // Held messages of these partitions belong to their next owner, which reads them again from
  // the committed offset. That may be this consumer: handed over now, they would come twice,
  // the second time after later offsets.
  if (pending_ && std::find(leaving.begin(), leaving.end(), pending_->raw.position.stream) != leaving.end()) {
    pending_.reset();
  }
  std::erase_if(backlog_, [&](const Message& message) {
    const char* topic = rd_kafka_topic_name(message->rkt);
    for (int i = 0; i < partitions->cnt; ++i) {
      if (partitions->elems[i].partition == message->partition && std::strcmp(partitions->elems[i].topic, topic) == 0) {
        return true;
      }
    }
    return false;
  });
  commit(true, &leaving);
  {
    std::lock_guard lock(mutex_);
    for (std::uint64_t id : leaving) {
      Stream& stream = streams_[id];
      active_.erase({stream.topic, stream.partition});
      streams_.erase(id);
    }
  }
  // librdkafka keeps a pause across unassign and assign: a partition revoked paused would come
  // back paused. Resumed now, before the revoke's own operations on it are queued.
  std::vector<std::pair<std::string, std::int32_t>> resuming;
  for (int i = 0; i < partitions->cnt; ++i) {
    auto found = paused_partitions_.find({partitions->elems[i].topic, partitions->elems[i].partition});
    if (found == paused_partitions_.end()) continue;
    resuming.push_back(*found);
  }
  pause_partitions(resuming, false);
  if (logger_) logger_->info("released " + std::to_string(partitions->cnt) + " partition(s)");
  if (cooperative()) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(consumer_, partitions)) rd_kafka_error_destroy(error);
  } else {
    rd_kafka_assign(consumer_, nullptr);
  }
  if (paused_ && backlog_.empty() && !pending_) {  // nothing held any more: the partitions kept read again
    resume_paused();
    paused_ = false;
  }
}

void KafkaSource::acknowledge(const sdk::Position& position) {
  {
    std::lock_guard lock(mutex_);
    auto found = streams_.find(position.stream);
    if (found == streams_.end()) return;  // released meanwhile: its next owner reads it again
    found->second.acked_next = std::max(found->second.acked_next, static_cast<std::int64_t>(position.offset) + 1);
  }
  acknowledged_.notify_all();
}

void KafkaSource::commit(bool synchronous, const std::vector<std::uint64_t>* only) {
  PartitionList offsets(rd_kafka_topic_partition_list_new(8));
  {
    std::lock_guard lock(mutex_);
    auto add = [&](Stream& stream) {
      // An asynchronous commit still unanswered is not sent again; a synchronous one is.
      if (stream.acked_next <= stream.committed_next || (!synchronous && stream.acked_next <= stream.sent_next)) return;
      rd_kafka_topic_partition_list_add(offsets.get(), stream.topic.c_str(), stream.partition)->offset = stream.acked_next;
      stream.sent_next = stream.acked_next;
    };
    if (only != nullptr) {
      for (std::uint64_t id : *only) add(streams_[id]);
    } else {
      for (auto& [id, stream] : streams_) add(stream);
    }
  }
  if (offsets->cnt == 0) return;
  rd_kafka_resp_err_t error = rd_kafka_commit(consumer_, offsets.get(), synchronous ? 0 : 1);
  // Asynchronous: queued, answered through on_commit(). Synchronous: answered here, with an
  // error per partition.
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR || synchronous) committed(error, *offsets);
}

void KafkaSource::on_commit(rd_kafka_t*, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
                            void* opaque) {
  if (offsets != nullptr) static_cast<KafkaSource*>(opaque)->committed(error, *offsets);
}

void KafkaSource::committed(rd_kafka_resp_err_t error, const rd_kafka_topic_partition_list_t& offsets) {
  if (error == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing was to be committed
  std::string failure;
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < offsets.cnt; ++i) {
      const rd_kafka_topic_partition_t& partition = offsets.elems[i];
      auto found = active_.find(std::pair<std::string_view, std::int32_t>(partition.topic, partition.partition));
      if (found == active_.end()) continue;  // released meanwhile: its next owner commits it
      Stream& stream = streams_[found->second];
      const rd_kafka_resp_err_t outcome = error != RD_KAFKA_RESP_ERR_NO_ERROR ? error : partition.err;
      if (outcome == RD_KAFKA_RESP_ERR_NO_ERROR) {
        stream.committed_next = std::max(stream.committed_next, partition.offset);
        continue;
      }
      stream.sent_next = stream.committed_next;  // committed again at the next commit
      if (failure.empty()) {
        failure = std::string(rd_kafka_err2str(outcome)) + " (" + partition.topic + " [" +
                  std::to_string(partition.partition) + "] at offset " + std::to_string(partition.offset) + ")";
      }
    }
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && failure.empty()) failure = rd_kafka_err2str(error);
  if (failure.empty()) return;
  ++commit_failures_;
  // A rebalance in progress, a coordinator moving: the offsets go again with the next commit.
  if (logger_) {
    logger_->warn("Kafka: committing offsets failed: " + failure + "; committed again at the next commit (" +
                  std::to_string(commit_failures_) + " failed commits so far)");
  }
}

void KafkaSource::pause_partitions(const std::vector<std::pair<std::string, std::int32_t>>& partitions, bool pause) {
  if (partitions.empty()) return;
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& [topic, partition] : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
    if (pause) {
      paused_partitions_.insert({topic, partition});
    } else {
      paused_partitions_.erase({topic, partition});
    }
  }
  if (pause) {
    rd_kafka_pause_partitions(consumer_, list.get());
  } else {
    rd_kafka_resume_partitions(consumer_, list.get());
  }
}

void KafkaSource::pause_delivering(const std::pair<std::string, std::int32_t>& also) {
  std::vector<std::pair<std::string, std::int32_t>> pausing;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, stream] : streams_) {
      if (stream.emitted_next < 0 || paused_partitions_.count({stream.topic, stream.partition}) != 0) continue;
      pausing.emplace_back(stream.topic, stream.partition);
    }
  }
  if (paused_partitions_.count(also) == 0 && std::find(pausing.begin(), pausing.end(), also) == pausing.end()) {
    pausing.push_back(also);
  }
  pause_partitions(pausing, true);
}

void KafkaSource::resume_paused() {
  std::vector<std::pair<std::string, std::int32_t>> resuming(paused_partitions_.begin(), paused_partitions_.end());
  pause_partitions(resuming, false);
}

namespace {
// The monotonic clock at the kernel tick's resolution (a few ms): read before every message
// for the commit interval, it costs a fraction of a full clock read, which on a virtual
// machine can cost as much as a tenth of what handing a message over does.
std::chrono::nanoseconds coarse_now() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}
}  // namespace

bool KafkaSource::ends_run(const rd_kafka_message_t& event, sdk::Status& outcome) {
  if (event.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return false;
  std::string reason = rd_kafka_message_errstr(&event);
  if (event.err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || event.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
    // Debezium creates a table's topic on its first change: a topic subscribed by name may
    // come into being at any time, and librdkafka keeps looking for it.
    const std::string topic = event.rkt != nullptr ? rd_kafka_topic_name(event.rkt) : reason;
    if (missing_topics_.insert(topic).second && logger_) {
      logger_->warn("Kafka: topic '" + topic + "' does not exist yet (" + reason +
                    "); waiting for it: Debezium creates a table's topic on its first change");
    }
    return false;
  }
  if (is_fatal(event.err)) {
    outcome = sdk::Status::error("Kafka: " + std::string(rd_kafka_err2str(event.err)) + ": " + reason);
    return true;
  }
  if (logger_) logger_->warn("Kafka: " + reason + " (retrying)");
  return false;
}

KafkaSource::Message KafkaSource::next_message() {
  if (backlog_.empty()) return Message(rd_kafka_consumer_poll(consumer_, 100));
  Message message = std::move(backlog_.front());
  backlog_.pop_front();
  return message;
}

bool KafkaSource::prepare(const rd_kafka_message_t& message) {
  const char* topic = rd_kafka_topic_name(message.rkt);
  if (brokers_down_.load(std::memory_order_relaxed)) brokers_down_.store(false, std::memory_order_relaxed);
  if (!missing_topics_.empty() && missing_topics_.erase(topic) > 0 && logger_) {
    logger_->info(std::string("Kafka: topic '") + topic + "' exists now");
  }
  std::uint64_t id = 0;
  Stream* stream = stream_of(topic, message.partition, id);
  if (stream == nullptr) return false;  // from a partition revoked since: its next owner reads it
  Pending pending{sdk::RawMessage{}, stream, message.offset};
  sdk::RawMessage& raw = pending.raw;
  raw.topic = topic;
  if (message.key != nullptr) raw.key = bytes(message.key, message.key_len);
  if (message.payload != nullptr) {
    std::string value;
    value.reserve(message.len + sdk::kDecodePadding);  // parsed in place, without a copy
    value.assign(static_cast<const char*>(message.payload), message.len);
    raw.value = std::move(value);
  }
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      raw.headers.push_back({name, value ? bytes(value, size) : std::string{}});
    }
  }
  raw.position = sdk::Position{id, static_cast<std::uint64_t>(message.offset)};
  pending_ = std::move(pending);
  return true;
}

bool KafkaSource::serve_while_paused(sdk::Status& outcome) {
  // Polling only serves the group (rebalances) and hands out what was fetched before the
  // pause or by partitions assigned since: those join the backlog, their partitions paused.
  Message polled(rd_kafka_consumer_poll(consumer_, 0));
  if (!polled) return true;
  if (polled->err != RD_KAFKA_RESP_ERR_NO_ERROR) return !ends_run(*polled, outcome);
  pause_delivering({rd_kafka_topic_name(polled->rkt), polled->partition});
  backlog_.push_back(std::move(polled));
  return true;
}

void KafkaSource::report_status(sdk::Emitter& emitter) {
  if (brokers_down_.load(std::memory_order_relaxed)) {
    // librdkafka says when every broker is down, not when one is back: a metadata request
    // answered says it, bounded so that the group is still served meanwhile.
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(consumer_, 0, nullptr, &metadata, kReachabilityProbeTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(metadata);
      brokers_down_.store(false, std::memory_order_relaxed);
    } else {
      std::lock_guard lock(mutex_);
      emitter.report_connection(false, brokers_down_reason_);
      return;
    }
  }
  emitter.report_connection(true, "");
  struct Lagging {
    std::string topic;
    std::int32_t partition;
    std::int64_t next;  // the next offset to commit
  };
  std::vector<Lagging> lagging;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, stream] : streams_) {
      const std::int64_t next = stream.acked_next >= 0 ? stream.acked_next : stream.committed_next;
      if (stream.active && next >= 0) lagging.push_back({stream.topic, stream.partition, next});
    }
  }
  for (const auto& stream : lagging) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    // The watermarks of the last fetch response, cached: no request is sent.
    if (rd_kafka_get_watermark_offsets(consumer_, stream.topic.c_str(), stream.partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    emitter.report_lag(stream.topic + "/" + std::to_string(stream.partition),
                       static_cast<std::uint64_t>(std::max<std::int64_t>(0, high - stream.next)), sdk::LagUnit::messages);
  }
}

sdk::Status KafkaSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  PartitionList subscription(rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
  for (const auto& topic : options_.topics) {
    rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto error = rd_kafka_subscribe(consumer_, subscription.get()); error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return sdk::Status::error(std::string("cannot subscribe: ") + rd_kafka_err2str(error));
  }

  auto last_commit = coarse_now();
  auto last_report = coarse_now();
  sdk::Status outcome = sdk::Status::success();
  while (!stop.stop_requested()) {
    if (failed_.load(std::memory_order_acquire)) {
      std::lock_guard lock(mutex_);
      outcome = sdk::Status::error(fatal_reason_);
      break;
    }
    if (coarse_now() - last_commit >= options_.commit_interval) {
      commit(false);
      last_commit = coarse_now();
    }
    if (coarse_now() - last_report >= kStatusInterval) {
      report_status(emitter);
      last_report = coarse_now();
    }
    if (!pending_) {
      Message message = next_message();
      if (!message) continue;
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (ends_run(*message, outcome)) break;
        continue;
      }
      if (!prepare(*message)) continue;
    }
    // Offered without waiting first: the deadline is read only when the pipeline is full.
    sdk::EmitResult result = emitter.try_emit(pending_->raw, sdk::Emitter::Deadline{});
    if (result == sdk::EmitResult::full) {
      // Full mostly for a moment: wait for room a little, keeping what librdkafka prefetched,
      // before pausing (which drops the prefetched messages). Once paused, offer again in
      // short waits and serve the group in between.
      result = emitter.try_emit(pending_->raw, Clock::now() + (paused_ ? kPausedOfferWait : kWaitBeforePausing));
    }
    if (result == sdk::EmitResult::stopping) break;
    if (result == sdk::EmitResult::full) {
      if (!paused_) {
        pause_delivering({pending_->raw.topic, pending_->stream->partition});
        paused_ = true;
      }
      if (!serve_while_paused(outcome)) break;
      continue;
    }
    // Only run()'s thread reads `emitted_next`; set once the pipeline has the message.
    pending_->stream->emitted_next = pending_->offset + 1;
    pending_.reset();
    if (paused_ && backlog_.empty()) {
      resume_paused();
      paused_ = false;
    }
  }
  // Leaving the group revokes the partitions: what is in flight gets revoke_timeout to be
  // acknowledged, and what was acknowledged is committed before the partitions are released.
  pending_.reset();
  commit(true);
  rd_kafka_consumer_close(consumer_);
  closed_ = true;
  backlog_.clear();
  return outcome;
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(kafka, "0.2.0", invalidator::plugins::KafkaSource::options,
                          invalidator::plugins::KafkaSource::create)
