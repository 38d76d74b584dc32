// kafka-mock-cluster: librdkafka's mock Kafka cluster on loopback, for trying the Kafka source
// where no broker is installed (the quickstart uses it). It speaks the Kafka protocol; it is
// not a broker to keep data in (it holds a few MiB per partition, in memory).
//
//   kafka-mock-cluster [--brokers N] [--topic NAME --partitions N] [--load FILE.jsonl]
//
// Prints the bootstrap servers on the first line of stdout, then runs until stdin closes or
// SIGTERM/SIGINT. --load produces each line of FILE into --topic: a JSON Lines file of
// Debezium message values (the record key is then empty).
//
// Commands on stdin, one per line, for scripts that stage faults (scripts/faults):
//   produce TOPIC KEY VALUE   produce VALUE (the rest of the line) with KEY ("-": none)
//   flush                     wait until everything produced is stored; answers "ok" or "failed N"
//   down BROKER | up BROKER   take a broker (1..N) down, connections closed, or up again;
//                             answers "ok"
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

std::atomic<int> failed_deliveries{0};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failed_deliveries.fetch_add(1);
    std::fprintf(stderr, "kafka-mock-cluster: not produced: %s\n", rd_kafka_err2str(message->err));
  }
}

// A producer to `bootstrap`; with none, the handle the mock cluster needs for its bookkeeping.
rd_kafka_t* make_producer(const std::string& bootstrap) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
  if (!bootstrap.empty()) {
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
    rd_kafka_conf_set(conf, "linger.ms", "2", error, sizeof error);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", error, sizeof error);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  }
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (producer == nullptr) {
    std::fprintf(stderr, "kafka-mock-cluster: %s\n", error);
    std::exit(1);
  }
  return producer;
}

bool produce(rd_kafka_t* producer, const std::string& topic, std::string_view key, std::string_view value) {
  std::vector<rd_kafka_vu_t> fields(3);
  fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  fields[0].u.cstr = topic.c_str();
  fields[1].vtype = RD_KAFKA_VTYPE_VALUE;
  fields[1].u.mem.ptr = const_cast<char*>(value.data());
  fields[1].u.mem.size = value.size();
  fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  fields[2].u.i = RD_KAFKA_MSG_F_COPY;
  if (!key.empty()) {
    fields.push_back({});
    fields.back().vtype = RD_KAFKA_VTYPE_KEY;
    fields.back().u.mem.ptr = const_cast<char*>(key.data());
    fields.back().u.mem.size = key.size();
  }
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_produceva(producer, fields.data(), fields.size());
    if (error == nullptr) return true;
    const bool full = rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
    if (!full) std::fprintf(stderr, "kafka-mock-cluster: %s\n", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    if (!full) return false;
    rd_kafka_poll(producer, 100);
  }
}

void answer(const char* text) {
  std::printf("%s\n", text);
  std::fflush(stdout);
}

// One command line; false when it is not one.
bool run_command(const std::string& line, rd_kafka_mock_cluster_t* cluster, rd_kafka_t* producer) {
  std::istringstream words(line);
  std::string command;
  words >> command;
  if (command == "produce") {
    std::string topic, key;
    words >> topic >> key;
    std::string value;
    std::getline(words, value);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (topic.empty() || value.empty()) return false;
    produce(producer, topic, key == "-" ? std::string_view{} : std::string_view{key}, value);
    rd_kafka_poll(producer, 0);
    return true;
  }
  if (command == "flush") {
    rd_kafka_flush(producer, 30'000);
    const int failed = failed_deliveries.exchange(0) + rd_kafka_outq_len(producer);
    if (failed == 0) answer("ok");
    else answer(("failed " + std::to_string(failed)).c_str());
    return true;
  }
  if (command == "down" || command == "up") {
    int broker = 0;
    words >> broker;
    if (broker <= 0) return false;
    const auto result = command == "up" ? rd_kafka_mock_broker_set_up(cluster, broker)
                                        : rd_kafka_mock_broker_set_down(cluster, broker);
    answer(result == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok" : rd_kafka_err2str(result));
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  int partitions = 1;
  std::string topic;
  std::string load;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string option = argv[i];
    if (option == "--brokers") brokers = std::atoi(argv[i + 1]);
    else if (option == "--topic") topic = argv[i + 1];
    else if (option == "--partitions") partitions = std::atoi(argv[i + 1]);
    else if (option == "--load") load = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: kafka-mock-cluster [--brokers N] [--topic NAME --partitions N] [--load FILE]\n");
      return 2;
    }
  }
  if (!load.empty() && topic.empty()) {
    std::fprintf(stderr, "kafka-mock-cluster: --load needs --topic\n");
    return 2;
  }
  rd_kafka_t* handle = make_producer("");
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka-mock-cluster: cannot start the mock cluster\n");
    return 1;
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  if (!topic.empty()) rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1);

  if (!load.empty()) {
    std::ifstream lines(load);
    if (!lines) {
      std::fprintf(stderr, "kafka-mock-cluster: cannot read %s\n", load.c_str());
      return 1;
    }
    rd_kafka_t* producer = make_producer(bootstrap);
    std::string line;
    int produced = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      std::vector<rd_kafka_vu_t> fields(3);
      fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      fields[0].u.cstr = topic.c_str();
      fields[1].vtype = RD_KAFKA_VTYPE_VALUE;
      fields[1].u.mem.ptr = line.data();
      fields[1].u.mem.size = line.size();
      fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      fields[2].u.i = RD_KAFKA_MSG_F_COPY;
      if (rd_kafka_error_t* error = rd_kafka_produceva(producer, fields.data(), fields.size())) {
        std::fprintf(stderr, "kafka-mock-cluster: %s\n", rd_kafka_error_string(error));
        return 1;
      }
      ++produced;
    }
    rd_kafka_flush(producer, 10'000);
    rd_kafka_destroy(producer);
    std::fprintf(stderr, "kafka-mock-cluster: %d messages in %s\n", produced, topic.c_str());
  }

  std::printf("%s\n", bootstrap.c_str());
  std::fflush(stdout);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  rd_kafka_t* producer = nullptr;  // made on the first command: the quickstart sends none
  std::string pending;
  while (!stop_requested) {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    if (::poll(&input, 1, 200) <= 0) {
      if (producer != nullptr) rd_kafka_poll(producer, 0);
      continue;
    }
    char buffer[65536];
    const auto got = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (got <= 0) break;  // stdin closed
    pending.append(buffer, static_cast<std::size_t>(got));
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      const std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (line.empty()) continue;
      if (producer == nullptr) producer = make_producer(bootstrap);
      if (!run_command(line, cluster, producer)) std::fprintf(stderr, "kafka-mock-cluster: not a command: %s\n", line.c_str());
    }
  }
  if (producer != nullptr) {
    rd_kafka_flush(producer, 10'000);
    rd_kafka_destroy(producer);
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
