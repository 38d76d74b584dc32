// kafka-mock-cluster: librdkafka's mock Kafka cluster on loopback, for trying the Kafka source
// where no broker is installed (the quickstart uses it). It speaks the Kafka protocol; it is
// not a broker to keep data in (it holds a few MiB per partition, in memory).
//
//   kafka-mock-cluster [--brokers N] [--topic NAME --partitions N] [--load FILE.jsonl]
//
// Prints the bootstrap servers on the first line of stdout, then runs until stdin closes or
// SIGTERM/SIGINT. --load produces each line of FILE into --topic: a JSON Lines file of
// Debezium message values (the record key is then empty).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

// A producer to `bootstrap`; with none, the handle the mock cluster needs for its bookkeeping.
rd_kafka_t* make_producer(const std::string& bootstrap) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
  if (!bootstrap.empty()) rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), error, sizeof error);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (producer == nullptr) {
    std::fprintf(stderr, "kafka-mock-cluster: %s\n", error);
    std::exit(1);
  }
  return producer;
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
  while (!stop_requested) {
    pollfd input{STDIN_FILENO, POLLIN, 0};
    if (::poll(&input, 1, 200) > 0) {
      char buffer[256];
      if (::read(STDIN_FILENO, buffer, sizeof buffer) <= 0) break;  // stdin closed
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
