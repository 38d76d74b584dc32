#pragma once

// A webhook receiver for the tests: a real HTTP server on loopback (cpp-httplib) that applies
// the invalidations it is sent to a key-value store of its own, as a cache behind a webhook
// would, records every request, and misbehaves on demand.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace invalidator::testing {

class WebhookReceiver {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int status = 0;  // what the receiver answered
    std::chrono::steady_clock::time_point received;
  };
  // One invalidation the receiver applied, in the order applied.
  struct Applied {
    std::string action;
    std::string key;
    std::uint64_t version = 0;
  };

  WebhookReceiver();  // listening on 127.0.0.1, on a free port
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/invalidate") const;

  // The store behind the webhook.
  void put(const std::string& key, const std::string& value);
  std::optional<std::string> get(const std::string& key) const;

  std::vector<Request> requests() const;
  std::vector<Applied> applied() const;
  std::size_t request_count() const;

  // Faults. Each lasts until cleared by heal().
  // Answers `status` (with a Retry-After header when given) to every request until `until`.
  void fail_until(int status, std::chrono::steady_clock::time_point until, std::string retry_after = "");
  // Answers `status` to the next `count` requests.
  void fail_next(int status, int count, std::string retry_after = "");
  // Answers 413 to a body longer than `bytes`.
  void refuse_bodies_over(std::size_t bytes);
  // Holds every request without answering, until heal() or the receiver stops.
  void hang();
  void heal();

  // Closes the listening socket and every connection; start() listens again on the same port.
  void stop();
  void start();

 private:
  void serve();
  int answer(const Request& request, std::string& response_body, std::string& retry_after);
  void apply(const std::string& body);

  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable healed_;
  std::map<std::string, std::string> store_;
  std::vector<Request> requests_;
  std::vector<Applied> applied_;
  int fail_status_ = 0;
  std::chrono::steady_clock::time_point fail_until_{};
  int fail_count_ = 0;
  std::string fail_retry_after_;
  std::size_t body_limit_ = 0;
  bool hanging_ = false;
  bool stopping_ = false;
};

}  // namespace invalidator::testing
