#pragma once

// The webhook sink's HTTP client: libcurl's multi interface driven by one thread, so that
// requests from several lanes share its keep-alive connections and a stop() ends every
// request in flight at once.

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins::webhook {

enum class HttpMethod { post, put, patch };

struct HttpSettings {
  std::string url;
  HttpMethod method = HttpMethod::post;
  std::chrono::milliseconds timeout{10'000};          // the whole exchange
  std::chrono::milliseconds connect_timeout{5'000};
  std::size_t max_connections = 4;
  std::string ca_file;                                 // empty: the system's authorities
  bool insecure_skip_verify = false;
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

 private:
  struct Request;

  void run();
  CURL* lease_handle();
  void prepare(CURL* handle, Request& request, curl_slist* headers);
  void finish(CURL* handle, CURLcode code);
  void abandon_all();

  HttpSettings settings_;
  CURLM* multi_ = nullptr;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> shutting_down_{false};

  std::mutex mutex_;
  std::condition_variable finished_;
  std::vector<Request*> submitted_;  // waiting for the worker to add them
  std::vector<CURL*> idle_handles_;  // reused: each keeps its TLS session

  std::vector<Request*> in_flight_;  // the worker's only
  std::thread worker_;
};

}  // namespace invalidator::plugins::webhook
