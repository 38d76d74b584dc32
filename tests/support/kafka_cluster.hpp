#pragma once

// A Kafka endpoint for tests. No Kafka broker can be installed where this project is built,
// so by default this is librdkafka's mock cluster: brokers in this process that speak the
// Kafka protocol on loopback sockets, which the code under test reaches exactly as it would a
// real cluster. With KAFKA_BROKERS set, the same tests run against that cluster instead
// (topics are created with the Admin API; broker outages cannot be staged).

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace invalidator::testing {

class KafkaCluster {
 public:
  explicit KafkaCluster(int brokers = 3) {
    if (const char* real = std::getenv("KAFKA_BROKERS"); real != nullptr && *real != '\0') {
      bootstrap_ = real;
    } else {
      mock_handle_ = make_handle(RD_KAFKA_PRODUCER, {{"log_level", "3"}});  // it connects nowhere itself
      mock_ = rd_kafka_mock_cluster_new(mock_handle_, brokers);
      brokers_ = brokers;
      if (mock_ == nullptr) throw std::runtime_error("cannot create a Kafka mock cluster");
      bootstrap_ = rd_kafka_mock_cluster_bootstraps(mock_);
    }
    producer_ = make_handle(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_}, {"linger.ms", "5"}});
  }
  ~KafkaCluster() {
    rd_kafka_flush(producer_, 10'000);
    rd_kafka_destroy(producer_);
    if (mock_ != nullptr) rd_kafka_mock_cluster_destroy(mock_);
    if (mock_handle_ != nullptr) rd_kafka_destroy(mock_handle_);
  }
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  bool is_mock() const { return mock_ != nullptr; }
  // A group name of this run: on a real cluster, earlier runs left theirs behind.
  std::string unique(const std::string& name) const {
    if (mock_ != nullptr) return name;
    return name + "-" + run_tag();
  }
  // A topic name of this run, tagged in front so that its last two parts (a Debezium topic's
  // schema and table) stay as they are.
  std::string unique_topic(const std::string& name) const {
    if (mock_ != nullptr) return name;
    return "run" + run_tag() + "." + name;
  }

  // Takes a broker of the mock cluster down (its connections closed, new ones refused) or up.
  // False against a real cluster.
  bool set_broker_up(std::int32_t broker, bool up) {
    if (mock_ == nullptr) return false;
    return (up ? rd_kafka_mock_broker_set_up(mock_, broker) : rd_kafka_mock_broker_set_down(mock_, broker)) ==
           RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  int brokers() const { return brokers_; }
  // Makes the mock answer metadata requests for `topic` with `error` (e.g. unknown topic, as a
  // cluster with auto-creation off does; the mock would otherwise create it).
  bool set_topic_error(const std::string& topic, rd_kafka_resp_err_t error) {
    if (mock_ == nullptr) return false;
    rd_kafka_mock_topic_set_error(mock_, topic.c_str(), error);
    return true;
  }

  // Makes the mock answer the next `count` requests of `api_key` (8: OffsetCommit)
  // with `error`. False against a real cluster.
  bool fail_requests(std::int16_t api_key, std::size_t count, rd_kafka_resp_err_t error) {
    if (mock_ == nullptr) return false;
    std::vector<rd_kafka_resp_err_t> errors(count, error);
    rd_kafka_mock_push_request_errors_array(mock_, api_key, errors.size(), errors.data());
    return true;
  }

  void create_topic(const std::string& topic, int partitions) {
    if (mock_ != nullptr) {
      rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 1);
      return;
    }
    // A real cluster: the Admin API (a topic that already exists is fine).
    char error[512];
    rd_kafka_NewTopic_t* request = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, error, sizeof error);
    if (request == nullptr) throw std::runtime_error(error);
    rd_kafka_queue_t* replies = rd_kafka_queue_new(producer_);
    rd_kafka_CreateTopics(producer_, &request, 1, nullptr, replies);
    rd_kafka_event_t* event = rd_kafka_queue_poll(replies, 30'000);
    std::string failure;
    if (event == nullptr) {
      failure = "no reply to CreateTopics";
    } else if (const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event)) {
      std::size_t count = 0;
      const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
      for (std::size_t i = 0; i < count; ++i) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(topics[i]);
        if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          failure = rd_kafka_err2str(code);
        }
      }
    }
    if (event != nullptr) rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(replies);
    rd_kafka_NewTopic_destroy(request);
    if (!failure.empty()) throw std::runtime_error("cannot create topic " + topic + ": " + failure);
  }

  // Produces one message and waits until the cluster has it. A null value is a tombstone.
  void produce(const std::string& topic, std::int32_t partition, const std::optional<std::string>& key,
               const std::optional<std::string>& value,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    rd_kafka_headers_t* message_headers = rd_kafka_headers_new(headers.size());
    for (const auto& [name, text] : headers) {
      rd_kafka_header_add(message_headers, name.data(), static_cast<ssize_t>(name.size()), text.data(),
                          static_cast<ssize_t>(text.size()));
    }
    // rd_kafka_produceva rather than producev: the latter's macros cast in C style.
    std::vector<rd_kafka_vu_t> fields(6);
    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[0].u.cstr = topic.c_str();
    fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[1].u.i32 = partition;
    fields[2].vtype = RD_KAFKA_VTYPE_KEY;
    fields[2].u.mem.ptr = key ? const_cast<char*>(key->data()) : nullptr;
    fields[2].u.mem.size = key ? key->size() : 0;
    fields[3].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[3].u.mem.ptr = value ? const_cast<char*>(value->data()) : nullptr;
    fields[3].u.mem.size = value ? value->size() : 0;
    fields[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[4].u.i = RD_KAFKA_MSG_F_COPY;
    fields[5].vtype = RD_KAFKA_VTYPE_HEADERS;
    fields[5].u.headers = message_headers;
    rd_kafka_error_t* error = rd_kafka_produceva(producer_, fields.data(), fields.size());
    while (error != nullptr && rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_error_destroy(error);
      rd_kafka_poll(producer_, 10);  // let deliveries make room
      error = rd_kafka_produceva(producer_, fields.data(), fields.size());
    }
    if (error != nullptr) {
      std::string reason = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(message_headers);
      throw std::runtime_error("produce: " + reason);
    }
  }
  void flush() { rd_kafka_flush(producer_, 30'000); }

  // The group's committed offset of a partition (-1001: none yet).
  std::int64_t committed(const std::string& group, const std::string& topic, std::int32_t partition) {
    rd_kafka_t* consumer = make_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_}, {"group.id", group}});
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
    std::int64_t offset = -1;
    if (rd_kafka_committed(consumer, list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(consumer);
    return offset;
  }

  // Waits (bounded) until the group's committed offset of a partition reaches `offset`.
  bool wait_committed(const std::string& group, const std::string& topic, std::int32_t partition,
                      std::int64_t offset, std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (committed(group, topic, partition) >= offset) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  static rd_kafka_t* make_handle(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char error[512];
    for (const auto& [name, value] : settings) {
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(error);
      }
    }
    rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof error);
    if (handle == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(error);
    }
    return handle;
  }

  static std::string run_tag() {
    static const std::string tag = std::to_string(::getpid()) + "x" +
                                   std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000'007);
    return tag;
  }

  rd_kafka_t* mock_handle_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstrap_;
  int brokers_ = 0;
};

}  // namespace invalidator::testing
