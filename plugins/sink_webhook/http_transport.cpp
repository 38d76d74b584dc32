#include "http_transport.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace invalidator::plugins::webhook {

struct HttpTransport::Request {
  CURL* handle = nullptr;
  HttpExchange exchange;
  char error[CURL_ERROR_SIZE] = {};
  bool done = false;  // guarded by mutex_
};

namespace {

std::size_t keep_body_start(char* data, std::size_t size, std::size_t count, void* user) {
  auto& body = static_cast<HttpExchange*>(user)->body_start;
  const std::size_t length = size * count;
  if (body.size() < HttpTransport::kBodyStartLimit) {
    body.append(data, std::min(length, HttpTransport::kBodyStartLimit - body.size()));
  }
  return length;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::size_t keep_retry_after(char* data, std::size_t size, std::size_t count, void* user) {
  auto& exchange = *static_cast<HttpExchange*>(user);
  const std::size_t length = size * count;
  std::string_view line(data, length);
  // A status line starts the headers of another response (after a 100 Continue, say).
  if (line.starts_with("HTTP/")) exchange.retry_after.clear();
  constexpr std::string_view kName = "retry-after:";
  if (starts_with_ignoring_case(line, kName)) {
    line.remove_prefix(kName.size());
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    exchange.retry_after = std::string(line);
  }
  return length;
}

const char* method_name(HttpMethod method) {
  switch (method) {
    case HttpMethod::post: return "POST";
    case HttpMethod::put: return "PUT";
    case HttpMethod::patch: return "PATCH";
  }
  return "POST";
}

}  // namespace

HttpTransport::HttpTransport(HttpSettings settings) : settings_(std::move(settings)) {
  // Thread-safe since libcurl 7.84; the global state lives as long as the process.
  static const CURLcode initialised = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)initialised;
  multi_ = curl_multi_init();
  const long connections = static_cast<long>(settings_.max_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, connections);
  worker_ = std::thread([this] { run(); });
}

HttpTransport::~HttpTransport() {
  shutting_down_.store(true, std::memory_order_release);
  curl_multi_wakeup(multi_);
  worker_.join();
  for (CURL* handle : idle_handles_) curl_easy_cleanup(handle);
  curl_multi_cleanup(multi_);
}

void HttpTransport::stop() {
  stopped_.store(true, std::memory_order_release);
  curl_multi_wakeup(multi_);
}

void HttpTransport::resume() { stopped_.store(false, std::memory_order_release); }

CURL* HttpTransport::lease_handle() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_handles_.empty()) {
      CURL* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  CURL* handle = curl_easy_init();
  curl_easy_setopt(handle, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM, which threads cannot share
  curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.connect_timeout.count()));
  if (settings_.method != HttpMethod::post) curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method_name(settings_.method));
  if (!settings_.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (settings_.insecure_skip_verify) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, keep_body_start);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, keep_retry_after);
  return handle;
}

HttpExchange HttpTransport::send(const std::string& body, const std::vector<std::string>& headers) {
  if (stopped_.load(std::memory_order_acquire)) return {};
  curl_slist* header_list = nullptr;
  for (const auto& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  // Without this, libcurl waits for a "100 Continue" before sending a body over 1 MiB.
  header_list = curl_slist_append(header_list, "Expect:");

  Request request;
  request.handle = lease_handle();
  CURL* handle = request.handle;
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(handle, CURLOPT_PRIVATE, &request);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, request.error);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &request.exchange);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &request.exchange);

  {
    std::lock_guard lock(mutex_);
    submitted_.push_back(&request);
  }
  curl_multi_wakeup(multi_);
  {
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return request.done; });
    // Nothing of this request may outlive it in the handle.
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
    idle_handles_.push_back(handle);
  }
  curl_slist_free_all(header_list);
  return std::move(request.exchange);
}

void HttpTransport::finish(CURL* handle, CURLcode code) {
  Request* request = nullptr;
  curl_easy_getinfo(handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&request));
  curl_multi_remove_handle(multi_, handle);
  std::erase(in_flight_, request);
  HttpExchange& exchange = request->exchange;
  if (code == CURLE_OK) {
    exchange.ending = HttpExchange::Ending::answered;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &exchange.status);
  } else {
    exchange.ending = HttpExchange::Ending::transport_error;
    exchange.error = request->error[0] != '\0' ? std::string(request->error) : curl_easy_strerror(code);
  }
  std::lock_guard lock(mutex_);
  request->done = true;
  finished_.notify_all();
}

void HttpTransport::abandon_all() {
  for (Request* request : in_flight_) curl_multi_remove_handle(multi_, request->handle);
  std::lock_guard lock(mutex_);
  for (Request* request : in_flight_) request->done = true;  // ending stays `stopped`
  for (Request* request : submitted_) request->done = true;
  in_flight_.clear();
  submitted_.clear();
  finished_.notify_all();
}

void HttpTransport::run() {
  std::vector<Request*> fresh;
  while (true) {
    const bool ending = shutting_down_.load(std::memory_order_acquire);
    if (ending || stopped_.load(std::memory_order_acquire)) {
      abandon_all();
      if (ending) return;
    }
    {
      std::lock_guard lock(mutex_);
      fresh.swap(submitted_);
    }
    for (Request* request : fresh) {
      curl_multi_add_handle(multi_, request->handle);
      in_flight_.push_back(request);
    }
    fresh.clear();
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg == CURLMSG_DONE) finish(message->easy_handle, message->data.result);
    }
    // Woken early by a new request, stop() or the destructor (curl_multi_wakeup).
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
}

}  // namespace invalidator::plugins::webhook
