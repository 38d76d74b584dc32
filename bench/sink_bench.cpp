// Invalidations per second into a real server, through a sink, beside a raw client loop of the
// same commands (memcached) measured in the same run. scripts/bench starts the servers and
// runs redis-benchmark for Redis's own ceiling.
//
//   sink_bench --redis redis://127.0.0.1:PORT [--count N] [--batch N] [--lanes N] [--keys-per-delete N]
//   sink_bench --memcached 127.0.0.1:PORT [--count N] [--batch N] [--lanes N] [--unreliable] [--ceiling]
//
// Each lane is a thread calling deliver() with batches of deletes of distinct keys, as the
// core's lanes do; --lanes must not exceed the sink's pool (4 by default, raised to match).
#include <arpa/inet.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/sink.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(redis);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memcached);

namespace {

using Clock = std::chrono::steady_clock;
namespace sdk = invalidator::sdk;

struct Options {
  std::string redis;
  std::string memcached;
  std::size_t count = 1'000'000;
  std::size_t batch = 512;
  std::size_t lanes = 1;
  std::int64_t keys_per_delete = 64;
  bool unreliable = false;
  bool ceiling = false;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: sink_bench (--redis URL | --memcached HOST:PORT) [--count N] [--batch N] [--lanes N]\n"
               "                  [--keys-per-delete N] [--unreliable] [--ceiling]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (argument == "--redis") options.redis = value();
    else if (argument == "--memcached") options.memcached = value();
    else if (argument == "--count") options.count = std::stoul(value());
    else if (argument == "--batch") options.batch = std::stoul(value());
    else if (argument == "--lanes") options.lanes = std::stoul(value());
    else if (argument == "--keys-per-delete") options.keys_per_delete = std::stol(value());
    else if (argument == "--unreliable") options.unreliable = true;
    else if (argument == "--ceiling") options.ceiling = true;
    else usage();
  }
  if (options.redis.empty() == options.memcached.empty()) usage();
  return options;
}

// The keys of lane `lane`: distinct across lanes, as the core's key-hash sharding makes them.
std::vector<sdk::Invalidation> deletes(std::size_t lane, std::size_t count) {
  std::vector<sdk::Invalidation> items(count);
  for (std::size_t i = 0; i < count; ++i) {
    items[i].action = sdk::Action::delete_key;
    items[i].key = "customer:" + std::to_string(lane) + ":" + std::to_string(i);
    items[i].version = i + 1;
  }
  return items;
}

// Deletes the server has executed (hits and misses), from its `stats` (libmemcached's stat
// API knows only a fixed list of counters, without these).
std::uint64_t executed_deletes(const std::string& server) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(server.substr(server.rfind(':') + 1))));
  ::inet_pton(AF_INET, server.substr(0, server.rfind(':')).c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return 0;
  }
  const char request[] = "stats\r\n";
  if (::write(fd, request, sizeof request - 1) < 0) return 0;
  std::string reply;
  char buffer[8192];
  while (reply.find("END\r\n") == std::string::npos) {
    ssize_t received = ::read(fd, buffer, sizeof buffer);
    if (received <= 0) break;
    reply.append(buffer, static_cast<std::size_t>(received));
  }
  ::close(fd);
  std::uint64_t total = 0;
  for (const char* name : {"STAT delete_hits ", "STAT delete_misses "}) {
    auto at = reply.find(name);
    if (at != std::string::npos) total += std::strtoull(reply.c_str() + at + std::strlen(name), nullptr, 10);
  }
  return total;
}

// With noreply nothing says when the server is done: wait until its counters say so.
void wait_for_server(const std::string& server, std::uint64_t expected) {
  while (executed_deletes(server) < expected) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

double run_lanes(sdk::Sink& sink, const Options& options) {
  std::vector<std::vector<sdk::Invalidation>> work;
  for (std::size_t lane = 0; lane < options.lanes; ++lane) work.push_back(deletes(lane, options.count / options.lanes));
  std::uint64_t before = options.memcached.empty() ? 0 : executed_deletes(options.memcached);
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t lane = 0; lane < options.lanes; ++lane) {
    threads.emplace_back([&, lane] {
      const auto& items = work[lane];
      for (std::size_t begin = 0; begin < items.size(); begin += options.batch) {
        std::span<const sdk::Invalidation> batch(items.data() + begin, std::min(options.batch, items.size() - begin));
        while (!sink.deliver(batch, {}).is_ok()) {
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  if (!options.memcached.empty()) wait_for_server(options.memcached, before + options.count / options.lanes * options.lanes);
  return std::chrono::duration<double>(Clock::now() - started).count();
}

// What libmemcached alone does: noreply deletes (text protocol), buffered, one flush per batch.
double memcached_ceiling(const Options& options) {
  std::string host = options.memcached.substr(0, options.memcached.rfind(':'));
  auto port = static_cast<in_port_t>(std::stoi(options.memcached.substr(options.memcached.rfind(':') + 1)));
  memcached_st* client = memcached_create(nullptr);
  memcached_server_add(client, host.c_str(), port);
  memcached_behavior_set(client, MEMCACHED_BEHAVIOR_NOREPLY, 1);
  memcached_behavior_set(client, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
  memcached_behavior_set(client, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  auto items = deletes(0, options.count);
  std::uint64_t before = executed_deletes(options.memcached);
  auto started = Clock::now();
  for (std::size_t i = 0; i < items.size(); ++i) {
    memcached_delete(client, items[i].key.data(), items[i].key.size(), 0);
    if (i % options.batch == options.batch - 1) memcached_flush_buffers(client);
  }
  memcached_flush_buffers(client);
  wait_for_server(options.memcached, before + options.count);
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  memcached_free(client);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  if (options.ceiling) {
    double seconds = memcached_ceiling(options);
    std::printf("libmemcached noreply loop   %9.0f deletes/s (%zu in %.2f s, batch %zu)\n",
                static_cast<double>(options.count) / seconds, options.count, seconds, options.batch);
    return 0;
  }
  sdk::Config config;
  config.set("pool", static_cast<std::int64_t>(std::max<std::size_t>(4, options.lanes)));
  std::unique_ptr<sdk::Sink> sink;
  std::string label;
  if (!options.redis.empty()) {
    config.set("url", options.redis);
    config.set("keys_per_delete", options.keys_per_delete);
    sink = std::move(invalidator_static_plugin_redis().create_sink(config, sdk::PluginContext{}).value());
    label = "redis sink (keys_per_delete " + std::to_string(options.keys_per_delete) + ")";
  } else {
    config.set("servers", std::vector<std::string>{options.memcached});
    config.set("reliable", !options.unreliable);
    sink = std::move(invalidator_static_plugin_memcached().create_sink(config, sdk::PluginContext{}).value());
    label = std::string("memcached sink (") + (options.unreliable ? "reliable = false" : "acknowledged") + ")";
  }
  if (auto status = sink->start(); !status.ok()) {
    std::fprintf(stderr, "sink_bench: %s\n", status.message().c_str());
    return 1;
  }
  double seconds = run_lanes(*sink, options);
  sink->stop();
  std::printf("%-28s %9.0f deletes/s (%zu in %.2f s, batch %zu, %zu lane%s)\n", label.c_str(),
              static_cast<double>(options.count) / seconds, options.count, seconds, options.batch, options.lanes,
              options.lanes == 1 ? "" : "s");
  return 0;
}
