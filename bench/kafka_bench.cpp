// Whole process, end to end: N Debezium update events pre-loaded into a Kafka cluster (the
// mock cluster of librdkafka, 32 partitions, in this process; or KAFKA_BROKERS, where each
// run creates a 32-partition topic and groups named after it, and leaves them), then
//   1. a plain librdkafka consumer reads them all (the ceiling: consuming and nothing else);
//   2. `invalidator run` (Kafka source -> Redis sink, or the memory sink without --redis)
//      runs until the group's committed offsets reach the end of every partition.
// Reports events/s of both, the CPU time of each with the mock brokers serving it, and the
// peak RSS of the invalidator process.
//
//   kafka_bench --invalidator build/core/invalidator [--events N] [--redis redis://127.0.0.1:PORT]
//               [--decode-threads N]   (engine.decode_threads; default: the engine's own)
//               [--queue-capacity N]   (engine.queue_capacity; default: the engine's own)
//               [--batch-scheduling true|false]   (engine.batch_scheduling; default: the engine's own)
//               [--commit-interval-ms N]   (the source's commit_interval; default 100)
//               [--rounds N]   (N pairs of runs over the same messages, and their median ratio)
//               [--lanes N]   (the Redis sink's lanes; default 4, as in configs/debezium-kafka-redis.toml)
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "generated_events.hpp"
#include "support/kafka_cluster.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPartitions = 32;
// The topic's name; against a real cluster each run makes a topic of its own, tagged in front.
const char* const kTopic = "dbserver1.public.customers";
// The invalidator's commit interval by default. Its run is timed from the first committed
// offset seen to the last: each lags its acknowledgement by up to one interval, alike at both
// ends, so the lags cancel out on average. A shorter interval times more finely but loads the
// mock broker, which shares the two cores: at 20 ms its thread took up to half a core.
constexpr std::chrono::milliseconds kDefaultCommitInterval{100};

// Each run is also measured in CPU seconds (user and system), of the consumer and of the mock
// brokers serving it: on a shared machine CPU time is steadier than wall time, and it says
// what a run costs whatever else the cores were doing. own_cpu_seconds(): the mock brokers,
// the consume-only loop, the reads of committed offsets.
using invalidator::bench::cpu_seconds;
using invalidator::bench::own_cpu_seconds;

// CPU seconds of this process's threads whose name starts with `prefix` ("rdk:mock": the mock
// brokers), from /proc/self/task/*/schedstat.
double threads_cpu_seconds(const std::string& prefix) {
  double total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    std::ifstream schedstat(task.path() / "schedstat");
    double nanoseconds = 0;
    if (schedstat >> nanoseconds) total += nanoseconds / 1e9;
  }
  return total;
}

rd_kafka_t* make_handle(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  // Connection errors while the mock brokers start and stop are expected: only the
  // benchmark's own messages reach stderr.
  rd_kafka_conf_set(conf, "log_level", "2", error, sizeof error);
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(name + ": " + error);
    }
  }
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof error);
  if (handle == nullptr) throw std::runtime_error(error);
  return handle;
}

// One run: wall seconds while consuming, and CPU seconds of the consumer and its mock brokers.
struct Run {
  double seconds = -1;
  double cpu_seconds = 0;
};

void preload(const std::string& bootstrap, const std::string& topic, std::size_t events) {
  rd_kafka_t* producer = make_handle(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"linger.ms", "20"},
                                                         {"queue.buffering.max.messages", "1000000"}});
  auto values = invalidator::bench::customer_updates(events, events);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string key = "{\"id\":" + std::to_string(i) + "}";
    std::vector<rd_kafka_vu_t> fields(5);
    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[0].u.cstr = topic.c_str();
    fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[1].u.i32 = static_cast<std::int32_t>(i % kPartitions);
    fields[2].vtype = RD_KAFKA_VTYPE_KEY;
    fields[2].u.mem.ptr = key.data();
    fields[2].u.mem.size = key.size();
    fields[3].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[3].u.mem.ptr = values[i].data();
    fields[3].u.mem.size = values[i].size();
    fields[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[4].u.i = RD_KAFKA_MSG_F_COPY;
    while (rd_kafka_error_t* error = rd_kafka_produceva(producer, fields.data(), fields.size())) {
      if (rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::string reason = rd_kafka_error_string(error);
        rd_kafka_error_destroy(error);
        rd_kafka_destroy(producer);
        throw std::runtime_error("cannot produce to " + topic + ": " + reason);
      }
      rd_kafka_error_destroy(error);
      rd_kafka_poll(producer, 10);  // let deliveries make room
    }
  }
  rd_kafka_flush(producer, 120'000);
  // What the cluster holds, read back: failed deliveries, or a mock partition over its 5 MiB,
  // would otherwise leave both runs waiting for messages that never come.
  std::int64_t held = 0;
  for (int partition = 0; partition < kPartitions; ++partition) {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(producer, topic.c_str(), partition, &low, &high, 10'000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      held += high - low;
    }
  }
  rd_kafka_destroy(producer);
  if (held != static_cast<std::int64_t>(events)) {
    throw std::runtime_error("the cluster holds " + std::to_string(held) + " of the " + std::to_string(events) +
                             " messages produced to " + topic +
                             " (librdkafka's mock keeps 5 MiB per partition: use fewer --events)");
  }
}

Run consume_only(const std::string& bootstrap, const std::string& topic, const std::string& group,
                    std::size_t events) {
  const double cpu_at_start = own_cpu_seconds();
  const double mock_cpu_at_start = threads_cpu_seconds("rdk:mock");
  rd_kafka_t* consumer = make_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                         {"group.id", group},
                                                         {"auto.offset.reset", "earliest"},
                                                         {"enable.auto.commit", "false"}});
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  std::size_t seen = 0;
  Clock::time_point first{};
  std::size_t bytes = 0;
  while (seen < events) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
    if (message == nullptr) continue;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (seen++ == 0) first = Clock::now();  // from the first message: the group join is not consuming
      bytes += message->len;
    }
    rd_kafka_message_destroy(message);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - first).count();
  const double cpu = own_cpu_seconds() - cpu_at_start;
  const double mock_cpu = threads_cpu_seconds("rdk:mock") - mock_cpu_at_start;
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  std::printf("consume-only (librdkafka)   %9.0f events/s (%zu events, %.1f MB, %.2f s), CPU %.2f s "
              "(consumer %.2f, mock brokers %.2f; the group join included)\n",
              static_cast<double>(events) / seconds, events, static_cast<double>(bytes) / 1e6, seconds, cpu,
              cpu - mock_cpu, mock_cpu);
  return Run{seconds, cpu};
}

// Reads a group's committed offsets through one handle kept for the whole run: a handle
// made per query (a connection and a coordinator lookup each time) took CPU from the run
// being measured on this small machine.
class CommittedOffsets {
 public:
  CommittedOffsets(const std::string& bootstrap, const std::string& topic, const std::string& group)
      : topic_(topic), consumer_(make_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap}, {"group.id", group}})) {}
  ~CommittedOffsets() { rd_kafka_destroy(consumer_); }
  CommittedOffsets(const CommittedOffsets&) = delete;
  CommittedOffsets& operator=(const CommittedOffsets&) = delete;

  std::int64_t total() {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(kPartitions);
    for (int p = 0; p < kPartitions; ++p) rd_kafka_topic_partition_list_add(list, topic_.c_str(), p);
    std::int64_t sum = 0;
    if (rd_kafka_committed(consumer_, list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int p = 0; p < list->cnt; ++p) sum += list->elems[p].offset > 0 ? list->elems[p].offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return sum;
  }

 private:
  std::string topic_;
  rd_kafka_t* consumer_;
};

long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// Runs `invalidator run` with `config` until `group` has committed every event; returns the
// seconds from its first commit to its last, negative if the process ended early.
Run invalidator_run(const std::string& invalidator, const std::string& config, const std::string& bootstrap,
                       const std::string& topic, const std::string& group, std::size_t events,
                       std::chrono::milliseconds commit_interval, const std::string& sink, double ceiling) {
  const Run failed;
  char config_path[] = "/tmp/kafka-bench-XXXXXX";
  int fd = ::mkstemp(config_path);
  bool written = fd >= 0 && ::write(fd, config.data(), config.size()) == static_cast<ssize_t>(config.size());
  if (fd >= 0) ::close(fd);
  if (!written) {
    std::perror("kafka_bench: cannot write the invalidator's configuration to /tmp");
    return failed;
  }

  auto started = Clock::now();
  const double cpu_at_start = own_cpu_seconds();
  const double mock_cpu_at_start = threads_cpu_seconds("rdk:mock");
  pid_t child = ::fork();
  if (child == 0) {
    if (std::freopen("/dev/null", "w", stderr) == nullptr) ::_exit(126);
    ::execl(invalidator.c_str(), invalidator.c_str(), "run", "-c", config_path, nullptr);
    ::_exit(127);
  }
  // Time to the last commit, minus the group join that the consume-only loop did not count
  // either: measured from the first committed offset.
  Clock::time_point first_commit{};
  long rss = 0;
  CommittedOffsets offsets(bootstrap, topic, group);
  while (true) {
    // An invalidator that ended early (a bad config, plugins not found) commits nothing more.
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) {
      std::fprintf(stderr, "invalidator run ended before committing every event (%s %d); its stderr went to /dev/null: "
                   "run it by hand with -c and the same config to see why\n",
                   WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      ::unlink(config_path);
      return failed;
    }
    std::int64_t committed = offsets.total();
    rss = std::max(rss, peak_rss_kib(child));
    if (committed > 0 && first_commit == Clock::time_point{}) first_commit = Clock::now();
    if (committed >= static_cast<std::int64_t>(events)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto finished = Clock::now();
  rss = std::max(rss, peak_rss_kib(child));
  const double bench_cpu = own_cpu_seconds() - cpu_at_start;
  const double mock_cpu = threads_cpu_seconds("rdk:mock") - mock_cpu_at_start;
  ::kill(child, SIGTERM);
  rusage child_usage{};
  ::wait4(child, nullptr, 0, &child_usage);
  ::unlink(config_path);
  double seconds = std::chrono::duration<double>(finished - first_commit).count();
  // Timed by commits, a run of a few commit intervals has an error of the order of the run.
  if (seconds < 5 * std::chrono::duration<double>(commit_interval).count()) {
    std::fprintf(stderr, "invalidator run took %.2f s from its first commit to its last, under five commit intervals "
                 "(%lld ms): too short to time; use more --events or a shorter --commit-interval-ms\n",
                 seconds, static_cast<long long>(commit_interval.count()));
    return failed;
  }
  std::printf("invalidator run -> %-8s %9.0f events/s (%.2f s after the first commit, %.2f s with the group join), "
              "%.2fx the consume-only ceiling, peak RSS %.1f MiB, CPU %.2f s (invalidator %.2f, mock brokers "
              "%.2f, offset reads %.2f)\n",
              sink.c_str(), static_cast<double>(events) / seconds, seconds,
              std::chrono::duration<double>(finished - started).count(), ceiling / seconds,
              static_cast<double>(rss) / 1024.0, cpu_seconds(child_usage) + bench_cpu, cpu_seconds(child_usage),
              mock_cpu, bench_cpu - mock_cpu);
  // The offset reads are the benchmark's own: left out of the run's CPU.
  return Run{seconds, cpu_seconds(child_usage) + mock_cpu};
}

}  // namespace

int main(int argc, char** argv) {
  std::string invalidator;
  std::string redis;
  std::string decode_threads;
  std::string queue_capacity;
  std::string batch_scheduling;
  std::string lanes = "4";
  std::size_t events = 200'000;
  int rounds = 1;
  std::chrono::milliseconds commit_interval = kDefaultCommitInterval;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string option = argv[i];
    if (option == "--invalidator") invalidator = argv[i + 1];
    else if (option == "--events") events = std::stoul(argv[i + 1]);
    else if (option == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
    else if (option == "--redis") redis = argv[i + 1];
    else if (option == "--decode-threads") decode_threads = argv[i + 1];
    else if (option == "--queue-capacity") queue_capacity = argv[i + 1];
    else if (option == "--batch-scheduling") batch_scheduling = argv[i + 1];
    else if (option == "--lanes") lanes = argv[i + 1];
    else if (option == "--commit-interval-ms") commit_interval = std::chrono::milliseconds(std::stol(argv[i + 1]));
  }
  if (invalidator.empty()) {
    std::fprintf(stderr, "usage: kafka_bench --invalidator PATH [--events N] [--redis URL] [--decode-threads N] "
                 "[--queue-capacity N] [--batch-scheduling true|false] [--commit-interval-ms N] [--rounds N] [--lanes N]\n");
    return 2;
  }

  // The mock cluster of the tests, or the real one KAFKA_BROKERS names; there each run creates a
  // topic and groups of its own, so that runs do not read each other's messages or offsets.
  std::optional<invalidator::testing::KafkaCluster> cluster;
  std::string topic;
  try {
    cluster.emplace();
    topic = cluster->unique_topic(kTopic);
    cluster->create_topic(topic, kPartitions);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "kafka_bench: %s\n", error.what());
    return 1;
  }
  const std::string& bootstrap = cluster->bootstrap();
  if (!cluster->is_mock()) std::printf("topic %s on %s (delete it when done)\n", topic.c_str(), bootstrap.c_str());
  try {
    preload(bootstrap, topic, events);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "kafka_bench: %s\n", error.what());
    return 1;
  }

  std::string sink = redis.empty() ? "type = \"memory\"\n" : "type = \"redis\"\nurl = \"" + redis + "\"\nlanes = " + lanes + "\n";
  std::string engine = "[engine]\n";
  if (!decode_threads.empty()) engine += "decode_threads = " + decode_threads + "\n";
  if (!queue_capacity.empty()) engine += "queue_capacity = " + queue_capacity + "\n";
  if (!batch_scheduling.empty()) engine += "batch_scheduling = " + batch_scheduling + "\n";
  // Each round reads the topic from its start twice, as two groups of its own: the ceiling,
  // then the invalidator. On a shared machine the two halves of one round see alike loads.
  std::vector<double> ratios;
  std::vector<double> cpu_ratios;
  for (int round = 1; round <= rounds; ++round) {
    const std::string suffix = rounds == 1 ? "" : "-" + std::to_string(round);
    Run ceiling = consume_only(bootstrap, topic, cluster->unique("bench-consume-only" + suffix), events);
    std::string group = cluster->unique("bench-invalidator" + suffix);
    std::string config = engine + "[sources.kafka]\ntype = \"kafka\"\nbrokers = \"" + bootstrap + "\"\ntopics = [\"" +
                         topic + "\"]\ngroup_id = \"" + group + "\"\ncommit_interval = \"" +
                         std::to_string(commit_interval.count()) + "ms\"\n"
                         "[sinks.cache]\n" + sink +
                         "[[routes]]\nfrom = [\"kafka\"]\ntable = \"public.customers\"\nchanged = [\"street\", \"email\"]\n"
                         "keys = [\"customer:{id}\", \"customer:by-email:{email}\"]\nto = [\"cache\"]\n";
    Run run = invalidator_run(invalidator, config, bootstrap, topic, group, events, commit_interval,
                              redis.empty() ? "memory" : "redis", ceiling.seconds);
    if (run.seconds < 0) return 1;
    ratios.push_back(ceiling.seconds / run.seconds);
    cpu_ratios.push_back(run.cpu_seconds / ceiling.cpu_seconds);
  }
  if (rounds > 1) {
    auto median = [](std::vector<double>& values) {
      std::sort(values.begin(), values.end());
      return values.size() % 2 == 1 ? values[values.size() / 2]
                                    : (values[values.size() / 2 - 1] + values[values.size() / 2]) / 2;
    };
    double median_ratio = median(ratios);
    double median_cpu_ratio = median(cpu_ratios);
    std::printf("%d rounds: %.2fx to %.2fx the consume-only ceiling, median %.2fx; CPU %.2fx to %.2fx the "
                "consume-only run's, median %.2fx\n",
                rounds, ratios.front(), ratios.back(), median_ratio, cpu_ratios.front(), cpu_ratios.back(),
                median_cpu_ratio);
  }
  return 0;
}
