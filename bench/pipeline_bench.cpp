// Whole in-process path: an in-process source emits generated Debezium update events as fast
// as the pipeline takes them; decode -> route -> coalesce -> memory sink -> acknowledgement.
// Reports events/s, latency from emit to acknowledgement, and peak RSS.
//
//   pipeline_bench [--events N] [--distinct N] [--batch N] [--lanes N] [--rate EVENTS_PER_SECOND]
//                  [--queue-capacity N] [--batch-scheduling 0|1]
//
// Without --rate the source pushes as fast as the pipeline takes events: throughput, and the
// latency of a saturated pipeline (queue depth / throughput). With --rate it paces itself,
// which gives the latency of a pipeline with headroom.
//
// A bare simdjson parse of the same events runs for a second just before and just after
// (the ceiling of a decoder, as in decoder_bench), so that the ratio compares figures taken
// on the same cores at the same moment.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bare_parse.hpp"
#include "generated_events.hpp"
#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace {

using Clock = std::chrono::steady_clock;
// A clock read costs about as much as a tenth of an event's whole path on this VM: latency is
// taken on one event in 16, which still gives tens of thousands of samples.
constexpr std::size_t kLatencySampleEvery = 16;

class GeneratedSource final : public invalidator::sdk::Source {
 public:
  GeneratedSource(const std::vector<std::string>& pool, std::size_t count, std::size_t rate)
      : pool_(pool),
        count_(count),
        rate_(rate),
        emitted_at_(count / kLatencySampleEvery + 1),
        acknowledged_at_(count / kLatencySampleEvery + 1) {}

  invalidator::sdk::Status run(invalidator::sdk::Emitter& emitter, std::stop_token) override {
    auto start = Clock::now();
    for (std::size_t i = 0; i < count_; ++i) {
      if (rate_ > 0 && i % 64 == 0) {
        std::this_thread::sleep_until(start + std::chrono::nanoseconds(i * 1'000'000'000ULL / rate_));
      }
      invalidator::sdk::RawMessage message;
      message.topic = "shop.public.customers";
      // A copy, as a transport hands over, with the padding that spares the decoder another.
      const std::string& event = pool_[i % pool_.size()];
      std::string value;
      value.reserve(event.size() + invalidator::sdk::kDecodePadding);
      value.assign(event);
      message.value = std::move(value);
      message.position = {0, i + 1};
      if (i % kLatencySampleEvery == 0) emitted_at_[i / kLatencySampleEvery] = Clock::now().time_since_epoch().count();
      if (!emitter.emit(std::move(message))) break;
    }
    return invalidator::sdk::Status::success();
  }
  void acknowledge(const invalidator::sdk::Position& position) override {
    // Position offsets are event index + 1: events [acknowledged_, offset) are acknowledged now.
    std::size_t first_sample = (acknowledged_ + kLatencySampleEvery - 1) / kLatencySampleEvery;
    std::size_t end_sample = (position.offset + kLatencySampleEvery - 1) / kLatencySampleEvery;
    if (first_sample < end_sample) {
      auto now = Clock::now().time_since_epoch().count();
      for (std::size_t sample = first_sample; sample < end_sample; ++sample) acknowledged_at_[sample] = now;
    }
    acknowledged_ = position.offset;
  }
  std::vector<double> latencies_us() const {
    std::vector<double> latencies;
    const std::size_t samples = (acknowledged_ + kLatencySampleEvery - 1) / kLatencySampleEvery;
    latencies.reserve(samples);
    for (std::size_t i = 0; i < samples; ++i) {
      latencies.push_back(static_cast<double>(acknowledged_at_[i] - emitted_at_[i]) / 1000.0);
    }
    return latencies;
  }

 private:
  const std::vector<std::string>& pool_;
  std::size_t count_;
  std::size_t rate_;
  std::vector<Clock::rep> emitted_at_;
  std::vector<Clock::rep> acknowledged_at_;
  std::size_t acknowledged_ = 0;  // acknowledge() is called in order from one thread at a time
};

std::size_t argument(int argc, char** argv, const char* name, std::size_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtoull(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::size_t index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t events = argument(argc, argv, "--events", 2'000'000);
  const std::size_t distinct = argument(argc, argv, "--distinct", 65'536);
  const std::size_t batch = argument(argc, argv, "--batch", 512);
  const std::size_t rate = argument(argc, argv, "--rate", 0);
  // engine.queue_capacity when given; the engine's default otherwise.
  const std::size_t capacity = argument(argc, argv, "--queue-capacity", 0);
  const std::string queue_capacity = capacity > 0 ? "queue_capacity = " + std::to_string(capacity) + "\n" : "";
  // engine.batch_scheduling: on (the engine's default) unless 0 is given.
  const std::string batch_scheduling =
      argument(argc, argv, "--batch-scheduling", 1) == 0 ? "batch_scheduling = false\n" : "";
  const auto pool = invalidator::bench::customer_updates(std::min(events, distinct), distinct);
  std::size_t pool_bytes = 0;
  for (const auto& event : pool) pool_bytes += event.size();

  auto source = std::make_unique<GeneratedSource>(pool, events, rate);
  auto* source_ptr = source.get();
  auto built = invalidator::EngineBuilder()
                   .register_plugin(invalidator_static_plugin_memory())
                   .without_plugin_files()
                   .add_source("pg", std::move(source))
                   .config_string("[engine]\nlog_level = \"warn\"\n" + queue_capacity + batch_scheduling + "[sinks.cache]\ntype = \"memory\"\nmax_entries = 200000\n"
                                  "lanes = " + std::to_string(argument(argc, argv, "--lanes", 1)) + "\n[sinks.cache.batch]\nmax_events = " + std::to_string(batch) +
                                  "\n[[routes]]\nfrom = [\"pg\"]\ntable = \"public.customers\"\n"
                                  "ops = [\"update\", \"delete\"]\nchanged = [\"street\", \"email\"]\n"
                                  "keys = [\"customer:{id}\", \"customer:by-email:{email}\"]\nto = [\"cache\"]\n")
                   .build();
  if (!built) {
    std::fprintf(stderr, "%s", built.error().c_str());
    return 2;
  }
  auto engine = std::move(built).value();
  // A slice of the pool: a padded copy of all of it would count in the peak RSS reported.
  const std::vector<std::string> bare_sample(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(pool.size(), 4096)));
  const double bare_before = invalidator::bench::bare_parse_rate(bare_sample, std::chrono::seconds(1));
  auto started = Clock::now();
  if (!engine->start()) return 1;
  if (!engine->wait()) return 1;
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const double bare_after = invalidator::bench::bare_parse_rate(bare_sample, std::chrono::seconds(1));

  auto stats = engine->stats();
  auto latencies = source_ptr->latencies_us();
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("events            %zu (%zu distinct, %.0f bytes average)\n", events, pool.size(),
              static_cast<double>(pool_bytes) / static_cast<double>(pool.size()));
  std::printf("invalidations     %llu produced, %llu delivered, %llu coalesced\n",
              static_cast<unsigned long long>(stats.invalidations), static_cast<unsigned long long>(stats.delivered),
              static_cast<unsigned long long>(stats.coalesced));
  std::printf("acknowledged      %llu\n", static_cast<unsigned long long>(stats.acknowledged));
  std::printf("throughput        %.0f events/s (%.2f s)%s\n", static_cast<double>(events) / seconds, seconds,
              rate > 0 ? " (paced by --rate)" : "");
  const double throughput = static_cast<double>(events) / seconds;
  std::printf("bare parse        %.0f events/s before, %.0f after (one thread): the pipeline is %.2fx their mean\n",
              bare_before, bare_after, throughput / ((bare_before + bare_after) / 2));
  std::printf("latency p50       %.0f us (emit to acknowledgement, one event in %zu)\n", percentile(latencies, 0.50),
              kLatencySampleEvery);
  std::printf("latency p99       %.0f us\n", percentile(latencies, 0.99));
  std::printf("peak RSS          %.1f MiB (input pool %.1f MiB)\n", static_cast<double>(usage.ru_maxrss) / 1024.0,
              static_cast<double>(pool_bytes) / (1024.0 * 1024.0));
  return stats.acknowledged == events ? 0 : 1;
}
