#pragma once

// The webhook sink's HTTP client: a pool of libcurl multi handles, each with its keep-alive
// connection, driven by the thread that sends (a lane of the engine), so that stop() can wake
// every request in flight and end it at once.
//
// One thread driving all the handles was tried first: handing each request to it and its
// answer back cost a third of the throughput against a local receiver (0.46x its ceiling
// against 0.69x, docs/performance.md, webhook sink).

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "invalidator/sdk/pool.hpp"

namespace invalidator::plugins::webhook {

enum class HttpMethod { post, put, patch };

// Filled from the sink's options, whose declaration (WebhookSink::options()) holds the defaults.
struct HttpSettings {
  std::string url;
  HttpMethod method{};
  std::chrono::milliseconds timeout{};          // the whole exchange; 0: none
  std::chrono::milliseconds connect_timeout{};  // 0: libcurl's own
  std::size_t max_connections{};                // requests at once, each on its connection
  std::string ca_file;                          // empty: the system's authorities
  bool insecure_skip_verify{};
};

// How one request ended.
struct HttpExchange {
  enum class Ending {
    answered,         // the receiver sent a status
    transport_error,  // no answer: refused, reset, timed out, TLS failed...
    stopped,          // stop() ended it, or it was never sent
  };
  Ending ending = Ending::stopped;
  long status = 0;
  std::string body_start;   // the first kBodyStartLimit bytes of the answer's body
  std::string retry_after;  // the Retry-After header, if any
  std::string error;        // what went wrong, for transport_error
};

class HttpTransport {
 public:
  static constexpr std::size_t kBodyStartLimit = 512;

  explicit HttpTransport(HttpSettings settings);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Sends `body` with `headers` ("Name: value") and waits for the answer. Any number of
  // threads may call it at once. After stop() it returns `stopped` without sending.
  HttpExchange send(const std::string& body, const std::vector<std::string>& headers);

  // Ends the requests in flight (as `stopped`) and refuses new ones until resume().
  void stop();
  void resume();
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

 private:
  // A multi handle with its one transfer handle: one request at a time.
  struct Slot {
    CURLM* multi = nullptr;
    CURL* handle = nullptr;
  };

  void prepare(CURL* handle);

  HttpSettings settings_;
  std::vector<Slot> slots_;
  sdk::Pool<Slot> pool_;
  std::atomic<bool> stopped_{false};
};

}  // namespace invalidator::plugins::webhook
