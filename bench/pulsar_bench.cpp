// Whole process, end to end, over Pulsar's WebSocket API: N Debezium update events stored in
// the test broker of tests/support (in this process), then, in each round,
//   1. a plain consumer of the same API that only acknowledges what it receives (pull mode,
//      the same permits as the source): the ceiling, what the broker and the WebSocket
//      connection allow;
//   2. `invalidator run` (Pulsar source -> Redis sink, or the memory sink without --redis)
//      on a subscription of its own.
// Both are timed the same way, from the broker's side: from its first message sent to the
// subscription to its last acknowledgement received. Reports events/s of both and their
// ratio; the broker shares this machine's two cores with whichever consumer runs.
//
//   pulsar_bench --invalidator build/core/invalidator [--events N] [--redis redis://127.0.0.1:PORT]
//                [--rounds N] [--receiver-queue-size N]
//
// Against a real Pulsar there is no broker-side count to time by, so the benchmark runs
// against the test broker only.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "generated_events.hpp"
#include "pulsar_frames.hpp"
#include "support/pulsar_producer.hpp"
#include "support/pulsar_test_broker.hpp"
#include "websocket_client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace pulsar = invalidator::plugins::pulsar;
using invalidator::testing::PulsarTestBroker;

const char* const kTopic = "dbserver1.public.customers";

// own_cpu_seconds(): this process is the test broker, and the plain consumer while it runs.
using invalidator::bench::cpu_seconds;
using invalidator::bench::own_cpu_seconds;

// The seconds from the subscription's first message sent to its last acknowledgement, polled
// every 20 ms; negative when `alive` says the consumer ended first.
template <typename Alive>
double time_by_broker(PulsarTestBroker& broker, const std::string& subscription, std::size_t events, Alive alive) {
  Clock::time_point first{};
  for (;;) {
    const auto stats = broker.stats(kTopic, subscription);
    if (first == Clock::time_point{} && stats.delivered > 0) first = Clock::now();
    if (stats.acknowledged >= events) break;
    if (!alive()) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::chrono::duration<double>(Clock::now() - first).count();
}

// Receives and acknowledges, nothing else: permits granted back in batches of half the queue,
// as the source grants them.
class PlainConsumer final : public pulsar::WebSocketClient::Listener {
 public:
  PlainConsumer(const std::string& url, const std::string& subscription, std::int64_t queue, std::size_t events)
      : queue_(queue), events_(events) {
    pulsar::ConsumerSettings settings;
    settings.subscription = subscription;
    settings.receiver_queue_size = queue;
    pulsar::WebSocketClient::Settings connection;
    auto parsed_url = pulsar::parse_websocket_url(url);
    auto path = pulsar::consumer_path(kTopic, settings);
    connection.url = *parsed_url;
    connection.target = *path;
    client_ = pulsar::WebSocketClient::connect(io_, nullptr, std::move(connection), *this);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~PlainConsumer() override { thread_.join(); }
  bool running() const { return !ended_.load(); }

  void opened() override { client_->send(pulsar::permit_frame(queue_)); }
  void received(std::string frame) override {
    auto message = pulsar::parse_consumer_frame(frame);
    if (!message || !*message) return;
    client_->send(pulsar::acknowledge_frame((*message)->message_id));
    if (++owed_ >= std::max<std::int64_t>(1, queue_ / 2)) {
      client_->send(pulsar::permit_frame(owed_));
      owed_ = 0;
    }
    if (++received_ == events_) client_->close();
  }
  void ended(const pulsar::WebSocketClient::Ending& ending) override {
    if (!ending.requested) std::fprintf(stderr, "pulsar_bench: the plain consumer's connection ended: %s\n", ending.reason.c_str());
    ended_ = true;
  }

 private:
  boost::asio::io_context io_;
  std::shared_ptr<pulsar::WebSocketClient> client_;
  std::int64_t queue_;
  std::size_t events_;
  std::size_t received_ = 0;
  std::int64_t owed_ = 0;
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

// The seconds of the run, and the CPU seconds of the invalidator process and of the broker.
struct Run {
  double seconds = -1;
  double invalidator_cpu = 0;
  double broker_cpu = 0;
};

Run invalidator_run(PulsarTestBroker& broker, const std::string& invalidator, const std::string& config,
                    const std::string& subscription, std::size_t events) {
  char config_path[] = "/tmp/pulsar-bench-XXXXXX";
  int fd = ::mkstemp(config_path);
  bool written = fd >= 0 && ::write(fd, config.data(), config.size()) == static_cast<ssize_t>(config.size());
  if (fd >= 0) ::close(fd);
  if (!written) {
    std::perror("pulsar_bench: cannot write the invalidator's configuration to /tmp");
    return Run{};
  }
  const double cpu_at_start = own_cpu_seconds();
  pid_t child = ::fork();
  if (child == 0) {
    if (std::freopen("/dev/null", "w", stderr) == nullptr) ::_exit(126);
    ::execl(invalidator.c_str(), invalidator.c_str(), "run", "-c", config_path, nullptr);
    ::_exit(127);
  }
  const double seconds = time_by_broker(broker, subscription, events, [child] {
    int status = 0;
    return ::waitpid(child, &status, WNOHANG) != child;
  });
  const double broker_cpu = own_cpu_seconds() - cpu_at_start;
  ::kill(child, SIGTERM);
  rusage child_usage{};
  ::wait4(child, nullptr, 0, &child_usage);
  if (seconds < 0) {  // the configuration is kept for the run by hand
    std::fprintf(stderr, "invalidator run ended before every event was acknowledged; its stderr went to /dev/null: "
                 "run it by hand with -c %s to see why\n", config_path);
  } else {
    ::unlink(config_path);
  }
  return Run{seconds, cpu_seconds(child_usage), broker_cpu};
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.size() % 2 == 1 ? values[values.size() / 2] : (values[values.size() / 2 - 1] + values[values.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string invalidator;
  std::string redis;
  std::size_t events = 200'000;
  std::int64_t queue = 1000;
  int rounds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string option = argv[i];
    if (option == "--invalidator") invalidator = argv[i + 1];
    else if (option == "--events") events = std::stoul(argv[i + 1]);
    else if (option == "--rounds") rounds = std::max(1, std::stoi(argv[i + 1]));
    else if (option == "--redis") redis = argv[i + 1];
    else if (option == "--receiver-queue-size") queue = std::stol(argv[i + 1]);
  }
  if (invalidator.empty()) {
    std::fprintf(stderr, "usage: pulsar_bench --invalidator PATH [--events N] [--redis URL] [--rounds N] "
                 "[--receiver-queue-size N]\n");
    return 2;
  }
  PulsarTestBroker broker;
  // Every subscription first: a subscription starts at the end of its topic.
  std::vector<std::string> plain_subscriptions;
  std::vector<std::string> invalidator_subscriptions;
  for (int round = 1; round <= rounds; ++round) {
    plain_subscriptions.push_back("bench-plain-" + std::to_string(round));
    invalidator_subscriptions.push_back("bench-invalidator-" + std::to_string(round));
    invalidator::testing::create_pulsar_subscription(broker.url(), kTopic, plain_subscriptions.back());
    invalidator::testing::create_pulsar_subscription(broker.url(), kTopic, invalidator_subscriptions.back());
  }
  const auto values = invalidator::bench::customer_updates(events, events);
  for (std::size_t i = 0; i < values.size(); ++i) broker.publish(kTopic, values[i], "{\"id\":" + std::to_string(i) + "}");

  const std::string sink =
      redis.empty() ? "type = \"memory\"\n" : "type = \"redis\"\nurl = \"" + redis + "\"\nlanes = 4\n";
  std::vector<double> ratios;
  for (int round = 0; round < rounds; ++round) {
    double plain = -1;
    const double cpu_at_start = own_cpu_seconds();
    {
      PlainConsumer consumer(broker.url(), plain_subscriptions[round], queue, events);
      plain = time_by_broker(broker, plain_subscriptions[round], events, [&] { return consumer.running(); });
    }
    if (plain < 0) return 1;
    std::printf("plain consumer (ack only)   %9.0f events/s (%zu events, %.2f s), CPU %.2f s (broker and consumer)\n",
                static_cast<double>(events) / plain, events, plain, own_cpu_seconds() - cpu_at_start);
    const std::string config = "[sources.pulsar]\ntype = \"pulsar\"\nurl = \"" + broker.url() + "\"\ntopics = [\"" +
                               kTopic + "\"]\nsubscription = \"" + invalidator_subscriptions[round] +
                               "\"\nreceiver_queue_size = " + std::to_string(queue) + "\n[sinks.cache]\n" + sink +
                               "[[routes]]\nfrom = [\"pulsar\"]\ntable = \"public.customers\"\nchanged = [\"street\", \"email\"]\n"
                               "keys = [\"customer:{id}\", \"customer:by-email:{email}\"]\nto = [\"cache\"]\n";
    const Run run = invalidator_run(broker, invalidator, config, invalidator_subscriptions[round], events);
    if (run.seconds < 0) return 1;
    std::printf("invalidator run -> %-8s %9.0f events/s (%.2f s), %.2fx the plain consumer, CPU: invalidator %.2f s, "
                "broker %.2f s\n",
                redis.empty() ? "memory" : "redis", static_cast<double>(events) / run.seconds, run.seconds,
                plain / run.seconds, run.invalidator_cpu, run.broker_cpu);
    ratios.push_back(plain / run.seconds);
  }
  if (rounds > 1) {
    std::printf("%d rounds: %.2fx to %.2fx the plain consumer, median %.2fx\n", rounds,
                *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()),
                median(ratios));
  }
  return 0;
}
