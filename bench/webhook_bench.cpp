// The webhook sink against a local receiver, beside that receiver's own ceiling, in one run.
// Each round runs, for --seconds each:
//   1. the ceiling: --in-flight threads, each a plain libcurl client on a keep-alive connection,
//      POST one body of --batch invalidations, built once beforehand, as fast as the receiver
//      answers;
//   2. the sink's transport alone, with the same body built beforehand: what the sink's HTTP
//      client costs beside a plain one;
//   3. the sink: as many threads calling WebhookSink::deliver(), as the engine's lanes do, with
//      batches of --batch invalidations (each request's body built, and signed when --secret is
//      given, as in a pipeline).
// The receiver is cpp-httplib in this process, reading each body and answering 204. Reports
// requests/s of each, the CPU microseconds per request of the whole process (receiver and
// client: what the client's own work adds), and the ratios to the ceiling: for the sink, its
// invalidations/s over the ceiling's requests/s × --batch. The receiver and the clients share
// this machine's cores, so only ratios within one round mean anything.
//
//   webhook_bench [--batch N] [--in-flight N] [--seconds S] [--rounds N] [--secret TEXT]
#include <curl/curl.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cpu_time.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "http_transport.hpp"
#include "webhook_request.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(webhook);

namespace {

using Clock = std::chrono::steady_clock;
namespace sdk = invalidator::sdk;

struct Settings {
  std::size_t batch = 500;
  std::size_t in_flight = 4;
  double seconds = 3;
  int rounds = 3;
  std::string secret;
};

struct Rate {
  double requests_per_second = 0;
  double invalidations_per_second = 0;
  double cpu_us_per_request = 0;  // the whole process's: receiver and client
};

const sdk::InvalidationOrigin kOrigin{"public.customers", sdk::Op::update, "shop", "routes[0]"};

std::vector<sdk::Invalidation> make_batch(std::size_t size, std::size_t thread) {
  std::vector<sdk::Invalidation> batch(size);
  const auto now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < size; ++i) {
    batch[i].key = "customer:" + std::to_string(thread * 1'000'000 + i);
    batch[i].version = 24'000'000 + i;
    batch[i].commit_time = now;
    batch[i].origin = &kOrigin;
  }
  return batch;
}

// Runs `work` (one request a call, returning the invalidations it carried, 0 for a failure)
// on `threads` threads until `seconds` passed.
template <typename Work>
Rate run_for(std::size_t threads, double seconds, Work make_worker) {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> invalidations{0};
  std::atomic<std::uint64_t> failures{0};
  const double cpu_before = invalidator::bench::own_cpu_seconds();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto work = make_worker(t);
      while (Clock::now() < deadline) {
        const std::size_t carried = work();
        if (carried == 0) {
          failures.fetch_add(1);
          continue;
        }
        requests.fetch_add(1, std::memory_order_relaxed);
        invalidations.fetch_add(carried, std::memory_order_relaxed);
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = invalidator::bench::own_cpu_seconds() - cpu_before;
  if (failures.load() > 0) std::fprintf(stderr, "webhook_bench: %llu failed requests\n", static_cast<unsigned long long>(failures.load()));
  return {static_cast<double>(requests.load()) / elapsed, static_cast<double>(invalidations.load()) / elapsed,
          cpu * 1e6 / static_cast<double>(std::max<std::uint64_t>(1, requests.load()))};
}

std::size_t discard(char*, std::size_t size, std::size_t count, void*) { return size * count; }

Rate ceiling(const Settings& settings, const std::string& url) {
  return run_for(settings.in_flight, settings.seconds, [&](std::size_t thread) {
    struct Client {
      std::string body;
      CURL* handle = nullptr;
      curl_slist* headers = nullptr;
      std::size_t carried = 0;
      Client(const Client&) = delete;
      Client(std::string text, const std::string& url, std::size_t size) : body(std::move(text)), carried(size) {
        handle = curl_easy_init();
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
        curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
      }
      ~Client() {
        curl_easy_cleanup(handle);
        curl_slist_free_all(headers);
      }
    };
    auto batch = make_batch(settings.batch, thread);
    auto client = std::make_shared<Client>(invalidator::plugins::webhook::request_body(batch, std::chrono::system_clock::now()),
                                           url, settings.batch);
    return [client]() -> std::size_t {
      long status = 0;
      if (curl_easy_perform(client->handle) != CURLE_OK) return 0;
      curl_easy_getinfo(client->handle, CURLINFO_RESPONSE_CODE, &status);
      return status / 100 == 2 ? client->carried : 0;
    };
  });
}

// The sink's transport alone, with a body built once beforehand: what the sink adds to a
// request, apart from building and signing its body.
Rate through_transport(const Settings& settings, invalidator::plugins::webhook::HttpTransport& transport) {
  return run_for(settings.in_flight, settings.seconds, [&](std::size_t thread) {
    auto body = std::make_shared<std::string>(
        invalidator::plugins::webhook::request_body(make_batch(settings.batch, thread), std::chrono::system_clock::now()));
    const std::vector<std::string> headers{"Content-Type: application/json"};
    return [&transport, body, headers, &settings]() -> std::size_t {
      auto exchange = transport.send(*body, headers);
      return exchange.status / 100 == 2 ? settings.batch : 0;
    };
  });
}

Rate through_sink(const Settings& settings, sdk::Sink& sink) {
  std::atomic<std::uint64_t> next_batch_id{1};
  return run_for(settings.in_flight, settings.seconds, [&](std::size_t thread) {
    auto batch = std::make_shared<std::vector<sdk::Invalidation>>(make_batch(settings.batch, thread));
    return [&sink, &next_batch_id, batch]() -> std::size_t {
      auto result = sink.deliver(*batch, {next_batch_id.fetch_add(1), 1});
      return result.is_ok() ? batch->size() : 0;
    };
  });
}

Settings parse(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const char* value = argv[i + 1];
    if (name == "--batch") settings.batch = std::strtoull(value, nullptr, 10);
    else if (name == "--in-flight") settings.in_flight = std::strtoull(value, nullptr, 10);
    else if (name == "--seconds") settings.seconds = std::strtod(value, nullptr);
    else if (name == "--rounds") settings.rounds = std::atoi(value);
    else if (name == "--secret") settings.secret = value;
    else {
      std::fprintf(stderr, "usage: webhook_bench [--batch N] [--in-flight N] [--seconds S] [--rounds N] [--secret TEXT]\n");
      std::exit(2);
    }
  }
  return settings;
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  httplib::Server receiver;
  receiver.set_tcp_nodelay(true);
  receiver.set_keep_alive_max_count(1'000'000);
  // A keep-alive connection holds a server thread while idle: room for every client's.
  receiver.new_task_queue = [] { return new httplib::ThreadPool(16); };
  std::atomic<std::uint64_t> bytes_received{0};
  receiver.Post("/invalidate", [&](const httplib::Request& request, httplib::Response& response) {
    bytes_received.fetch_add(request.body.size(), std::memory_order_relaxed);
    response.status = 204;
  });
  const int port = receiver.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { receiver.listen_after_bind(); });
  while (!receiver.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/invalidate";

  sdk::Config config;
  config.set("url", url);
  config.set("max_in_flight", static_cast<std::int64_t>(settings.in_flight));
  if (!settings.secret.empty()) config.set("secret", settings.secret);
  auto created = invalidator_static_plugin_webhook().create_sink(config, sdk::PluginContext{});
  if (!created) {
    std::fprintf(stderr, "webhook_bench: %s\n", created.error().c_str());
    return 1;
  }
  auto sink = std::move(created.value());
  if (!sink->start().ok()) return 1;

  std::printf("batch %zu, %zu in flight, %.1f s a run, %s\n", settings.batch, settings.in_flight, settings.seconds,
              settings.secret.empty() ? "unsigned" : "signed");
  invalidator::plugins::webhook::HttpSettings transport_settings;
  transport_settings.url = url;
  transport_settings.method = invalidator::plugins::webhook::HttpMethod::post;
  transport_settings.timeout = std::chrono::seconds(10);
  transport_settings.connect_timeout = std::chrono::seconds(5);
  transport_settings.max_connections = settings.in_flight;
  invalidator::plugins::webhook::HttpTransport transport(transport_settings);
  std::printf("%-6s %14s %11s | %14s %11s %6s | %14s %16s %11s %6s\n", "round", "ceiling req/s", "cpu us/req",
              "transport r/s", "cpu us/req", "ratio", "sink req/s", "sink inv/s", "cpu us/req", "ratio");
  std::vector<double> ratios;
  for (int round = 1; round <= settings.rounds; ++round) {
    const Rate plain = ceiling(settings, url);
    const Rate bare = through_transport(settings, transport);
    const Rate sent = through_sink(settings, *sink);
    const double ratio = sent.invalidations_per_second / (plain.requests_per_second * static_cast<double>(settings.batch));
    ratios.push_back(ratio);
    std::printf("%-6d %14.0f %11.1f | %14.0f %11.1f %5.2fx | %14.0f %16.0f %11.1f %5.2fx\n", round,
                plain.requests_per_second, plain.cpu_us_per_request, bare.requests_per_second, bare.cpu_us_per_request,
                bare.requests_per_second / plain.requests_per_second, sent.requests_per_second,
                sent.invalidations_per_second, sent.cpu_us_per_request, ratio);
    std::fflush(stdout);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("median ratio %.2fx (sink invalidations/s over ceiling requests/s x %zu)\n", ratios[ratios.size() / 2],
              settings.batch);
  sink->stop();
  sink.reset();
  receiver.stop();
  serving.join();
  return 0;
}
