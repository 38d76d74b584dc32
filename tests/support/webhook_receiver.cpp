#include "webhook_receiver.hpp"

#include <fnmatch.h>
#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace invalidator::testing {

WebhookReceiver::WebhookReceiver() { start(); }

WebhookReceiver::~WebhookReceiver() { stop(); }

std::string WebhookReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void WebhookReceiver::put(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  store_[key] = value;
}

std::optional<std::string> WebhookReceiver::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto found = store_.find(key);
  if (found == store_.end()) return std::nullopt;
  return found->second;
}

std::vector<WebhookReceiver::Request> WebhookReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<WebhookReceiver::Applied> WebhookReceiver::applied() const {
  std::lock_guard lock(mutex_);
  return applied_;
}

std::size_t WebhookReceiver::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void WebhookReceiver::fail_until(int status, std::chrono::steady_clock::time_point until, std::string retry_after) {
  std::lock_guard lock(mutex_);
  fail_status_ = status;
  fail_until_ = until;
  fail_count_ = 0;
  fail_retry_after_ = std::move(retry_after);
}

void WebhookReceiver::fail_next(int status, int count, std::string retry_after) {
  std::lock_guard lock(mutex_);
  fail_status_ = status;
  fail_until_ = {};
  fail_count_ = count;
  fail_retry_after_ = std::move(retry_after);
}

void WebhookReceiver::refuse_bodies_over(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  body_limit_ = bytes;
}

void WebhookReceiver::hang() {
  std::lock_guard lock(mutex_);
  hanging_ = true;
}

void WebhookReceiver::heal() {
  std::lock_guard lock(mutex_);
  fail_status_ = 0;
  fail_count_ = 0;
  body_limit_ = 0;
  hanging_ = false;
  healed_.notify_all();
}

// Called with mutex_ held.
int WebhookReceiver::answer(const Request& request, std::string& response_body, std::string& retry_after) {
  if (body_limit_ != 0 && request.body.size() > body_limit_) {
    response_body = "body of " + std::to_string(request.body.size()) + " bytes over the limit";
    return 413;
  }
  const bool failing_for_a_while = fail_status_ != 0 && fail_count_ == 0 && std::chrono::steady_clock::now() < fail_until_;
  if (fail_status_ != 0 && fail_count_ > 0) {
    --fail_count_;
    retry_after = fail_retry_after_;
    response_body = "injected failure";
    return fail_status_;
  }
  if (failing_for_a_while) {
    retry_after = fail_retry_after_;
    response_body = "injected failure";
    return fail_status_;
  }
  apply(request.body);
  return 200;
}

// Called with mutex_ held.
void WebhookReceiver::apply(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (parser.parse(body).get(document) != simdjson::SUCCESS) throw std::runtime_error("not JSON: " + body);
  for (simdjson::dom::element item : document["invalidations"].get_array()) {
    Applied applied;
    applied.action = std::string(item["action"].get_string().value());
    applied.key = std::string(item["key"].get_string().value());
    applied.version = item["version"].get_uint64().value();
    if (applied.action == "set") {
      store_[applied.key] = std::string(item["value"].get_string().value());
    } else if (applied.action == "delete_pattern") {
      std::erase_if(store_, [&](const auto& entry) { return fnmatch(applied.key.c_str(), entry.first.c_str(), 0) == 0; });
    } else if (applied.action == "delete" || (applied.action == "expire" && item["ttl_ms"].get_int64().value() <= 0)) {
      store_.erase(applied.key);
    }
    applied_.push_back(std::move(applied));
  }
}

void WebhookReceiver::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  server_ = std::make_unique<httplib::Server>();
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(1'000'000);
  auto handler = [this](const httplib::Request& http_request, httplib::Response& response) {
    Request request;
    request.received = std::chrono::steady_clock::now();
    request.method = http_request.method;
    request.path = http_request.path;
    request.body = http_request.body;
    for (const auto& [name, value] : http_request.headers) {
      std::string lowered = name;
      std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
      request.headers[lowered] = value;
    }
    std::unique_lock lock(mutex_);
    healed_.wait(lock, [&] { return !hanging_ || stopping_; });
    if (stopping_) {
      response.status = 503;
      return;
    }
    std::string body;
    std::string retry_after;
    request.status = answer(request, body, retry_after);
    requests_.push_back(request);
    response.status = request.status;
    if (!retry_after.empty()) response.set_header("Retry-After", retry_after);
    response.set_content(body, "text/plain");
  };
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  if (port_ == 0) {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("the webhook receiver cannot listen on 127.0.0.1");
  } else {
    // The port of the last run: free again once its listening socket closed.
    bool bound = false;
    for (int attempt = 0; attempt < 200 && !bound; ++attempt) {
      bound = server_->bind_to_port("127.0.0.1", port_);
      if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!bound) throw std::runtime_error("the webhook receiver cannot listen again on port " + std::to_string(port_));
  }
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // stop() is a no-op on a server not yet running, and would then wait for it forever.
  for (int waited = 0; !server_->is_running(); ++waited) {
    if (waited > 10'000) throw std::runtime_error("the webhook receiver did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void WebhookReceiver::stop() {
  if (!server_) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    healed_.notify_all();
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace invalidator::testing
