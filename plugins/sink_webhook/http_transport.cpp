#include "http_transport.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string_view>

namespace invalidator::plugins::webhook {

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
  slots_.resize(settings_.max_connections);
  for (Slot& slot : slots_) {
    slot.multi = curl_multi_init();
    curl_multi_setopt(slot.multi, CURLMOPT_MAXCONNECTS, 1L);
    slot.handle = curl_easy_init();
    prepare(slot.handle);
    pool_.add(slot);
  }
}

HttpTransport::~HttpTransport() {
  for (Slot& slot : slots_) {
    curl_easy_cleanup(slot.handle);
    curl_multi_cleanup(slot.multi);
  }
}

void HttpTransport::stop() {
  stopped_.store(true, std::memory_order_release);
  // Thread-safe, unlike the rest of a multi handle's calls: it interrupts the poll of a send.
  for (Slot& slot : slots_) curl_multi_wakeup(slot.multi);
}

void HttpTransport::resume() { stopped_.store(false, std::memory_order_release); }

void HttpTransport::prepare(CURL* handle) {
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
}

HttpExchange HttpTransport::send(const std::string& body, const std::vector<std::string>& headers) {
  HttpExchange exchange;  // `stopped` until it ends otherwise
  if (stopped()) return exchange;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(nullptr, curl_slist_free_all);
  auto add_header = [&](const char* header) {
    curl_slist* appended = curl_slist_append(header_list.get(), header);
    if (appended != nullptr) {
      (void)header_list.release();
      header_list.reset(appended);
    }
  };
  for (const auto& header : headers) add_header(header.c_str());
  // Without this, libcurl waits for a "100 Continue" before sending a body over 1 MiB.
  add_header("Expect:");

  auto slot = pool_.lease();
  CURL* handle = slot->handle;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &exchange);
  curl_multi_add_handle(slot->multi, handle);

  std::optional<CURLcode> result;
  while (!result && !stopped()) {
    int running = 0;
    curl_multi_perform(slot->multi, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(slot->multi, &left)) {
      if (message->msg == CURLMSG_DONE) result = message->data.result;
    }
    // Until there is something to read or write, libcurl's own timeout, or stop().
    if (!result) curl_multi_poll(slot->multi, nullptr, 0, 1000, nullptr);
  }
  curl_multi_remove_handle(slot->multi, handle);
  // Nothing of this call may outlive it in the handle.
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, nullptr);

  if (!result) {
    exchange.ending = HttpExchange::Ending::stopped;
  } else if (*result == CURLE_OK) {
    exchange.ending = HttpExchange::Ending::answered;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &exchange.status);
  } else {
    exchange.ending = HttpExchange::Ending::transport_error;
    exchange.error = error[0] != '\0' ? std::string(error) : curl_easy_strerror(*result);
  }
  return exchange;
}

}  // namespace invalidator::plugins::webhook
