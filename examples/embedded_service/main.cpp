// An Invoice service that caches Customer rows in-process and embeds Invalidator so that a
// change to a customer drops the cached copy. The change stream here is an in-process
// source the service feeds itself; in production it is a [sources.*] table (Kafka,
// PostgreSQL...) in the same configuration.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace {

using namespace std::chrono_literals;

// Stands in for the Customer service's database.
struct CustomerDatabase {
  std::mutex mutex;
  std::map<int, std::string> addresses{{1001, "12 Harbour St, Leith"}, {1002, "3 Sycamore Rd, Bedford Falls"}};
  int reads = 0;

  std::string read(int id) {
    std::lock_guard guard(mutex);
    ++reads;
    return addresses.at(id);
  }
};

// A source the service pushes Debezium messages into.
class ChangeFeed final : public invalidator::sdk::Source {
 public:
  void publish(std::string debezium_json) {
    std::lock_guard guard(mutex_);
    pending_.push_back(std::move(debezium_json));
    ready_.notify_one();
  }
  invalidator::sdk::Status run(invalidator::sdk::Emitter& emitter, std::stop_token stop) override {
    std::uint64_t offset = 0;
    while (!stop.stop_requested()) {
      std::unique_lock lock(mutex_);
      ready_.wait_for(lock, 50ms, [&] { return !pending_.empty(); });
      while (!pending_.empty()) {
        invalidator::sdk::RawMessage message;
        message.topic = "shop.public.customers";
        message.value = std::move(pending_.front());
        message.position = {0, ++offset};
        pending_.pop_front();
        lock.unlock();
        if (!emitter.emit(std::move(message))) return invalidator::sdk::Status::success();
        lock.lock();
      }
    }
    return invalidator::sdk::Status::success();
  }
  void acknowledge(const invalidator::sdk::Position&) override {}

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> pending_;
};

// Read-through: the cache first, the database on a miss. read_through() takes a lease
// before the database read: if the customer changes while the read is under way, its
// invalidation voids the lease and the address read before the change is not cached.
std::string get_customer_address(invalidator::sdk::Cache& cache, CustomerDatabase& database, int id) {
  return cache.read_through("customer:" + std::to_string(id), [&] { return database.read(id); });
}

}  // namespace

int main() {
  auto feed_owner = std::make_unique<ChangeFeed>();
  ChangeFeed& feed = *feed_owner;
  auto built = invalidator::EngineBuilder()
                   .register_plugin(invalidator_static_plugin_memory())
                   .without_plugin_files()
                   .add_source("customers", std::move(feed_owner))
                   .config_string(R"(
[sinks.local]
type = "memory"
max_entries = 10000

[[routes]]
from = ["customers"]
table = "public.customers"
ops = ["update", "delete"]
changed = ["address"]
keys = ["customer:{id}"]
to = ["local"]
)",
                                  "embedded.toml")
                   .build();
  if (!built) {
    std::fprintf(stderr, "configuration error:\n%s", built.error().c_str());
    return 2;
  }
  auto engine = std::move(built).value();
  if (auto started = engine->start(); !started) {
    std::fprintf(stderr, "start failed: %s\n", started.message().c_str());
    return 1;
  }
  invalidator::sdk::Cache& cache = *engine->cache("local");
  CustomerDatabase database;

  std::string first = get_customer_address(cache, database, 1001);
  std::printf("1. first read of customer 1001:  %s (database reads: %d)\n", first.c_str(), database.reads);
  std::string second = get_customer_address(cache, database, 1001);
  std::printf("2. second read of customer 1001: %s (database reads: %d, served from the cache)\n", second.c_str(),
              database.reads);

  // The customer moves. The database changes, and the change stream says so.
  {
    std::lock_guard guard(database.mutex);
    database.addresses[1001] = "88 Commercial Quay, Leith";
  }
  feed.publish(R"({"before":{"id":1001,"address":"12 Harbour St, Leith"},)"
               R"("after":{"id":1001,"address":"88 Commercial Quay, Leith"},)"
               R"("source":{"db":"shop","schema":"public","table":"customers","lsn":24023784},"op":"u"})");
  std::printf("3. customer 1001 moved; change event published\n");

  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (cache.get("customer:1001") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  std::string fresh = get_customer_address(cache, database, 1001);
  std::printf("4. next read of customer 1001:   %s (database reads: %d)\n", fresh.c_str(), database.reads);

  auto stats = engine->stats();
  std::printf("   engine: %llu events, %llu invalidations delivered\n",
              static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.delivered));
  engine->stop();
  if (fresh != "88 Commercial Quay, Leith") {
    std::fprintf(stderr, "the cache still served the old address\n");
    return 1;
  }
  std::printf("the change reached the cache: the new address came from the database\n");
  return 0;
}
