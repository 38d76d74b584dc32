#include "webhook_sink.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "invalidator/sdk/plugin.hpp"
#include "webhook_request.hpp"

namespace invalidator::plugins {
namespace {

// A receiver may ask for any delay; past this one the core's own backoff and max_attempts
// decide, so that a mistaken "Retry-After: 86400" cannot silently park a sink for a day.
constexpr std::chrono::milliseconds kLongestRetryAfter = std::chrono::minutes(10);
// How much of a refusing receiver's body goes into a dead letter's reason.
constexpr std::size_t kReasonBodyLimit = 200;

// Headers the sink writes itself: a configured one would contradict the body or the protocol.
constexpr std::array<std::string_view, 6> kReservedHeaders = {
    "content-length", "content-type", "transfer-encoding", "idempotency-key", "invalidator-signature", "expect"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_header_name(std::string_view name) {
  // RFC 9110 token characters.
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSymbols.find(c) != std::string_view::npos;
  });
}

bool is_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Parses the URL and gives it back as it may be shown: no user, password or query, which can
// hold credentials. Never repeats a URL it could not parse, for the same reason.
sdk::Result<std::string> shown_url(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), curl_url_cleanup);
  if (CURLUcode rc = curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK) {
    return sdk::Status::error(std::string("url: not an absolute URL (") + curl_url_strerror(rc) +
                              "); write http://host:port/path or https://host/path");
  }
  auto part = [&](CURLUPart which) -> std::string {
    char* text = nullptr;
    if (curl_url_get(parsed.get(), which, &text, 0) != CURLUE_OK || text == nullptr) return {};
    std::string out(text);
    curl_free(text);
    return out;
  };
  const std::string scheme = lower(part(CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") {
    return sdk::Status::error("url: the scheme is '" + scheme + "'; a webhook is http:// or https://");
  }
  std::string shown = scheme + "://" + part(CURLUPART_HOST);
  if (std::string port = part(CURLUPART_PORT); !port.empty()) shown += ":" + port;
  return shown + part(CURLUPART_PATH);
}

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  for (char c : text.substr(0, limit)) out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  if (text.size() > limit) out += "...";
  return out;
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

sdk::OptionsSpec<WebhookSinkOptions> WebhookSink::options() {
  using O = WebhookSinkOptions;
  sdk::OptionsSpec<O> spec(
      "Sends each batch of invalidations to an HTTP endpoint as one JSON request, signed with HMAC-SHA256 when a "
      "secret is set, with an Idempotency-Key stable across retries; 408, 429, 5xx and network errors are retried "
      "(honouring Retry-After), other refusals dead-lettered.");
  spec.option("url", &O::url)
      .description("Where the requests go: http:// or https://.")
      .example("\"https://cache.example.com/invalidate\"")
      .required();
  spec.option("method", &O::method)
      .description("The HTTP method of the requests.")
      .choices({{"POST", webhook::HttpMethod::post}, {"PUT", webhook::HttpMethod::put}, {"PATCH", webhook::HttpMethod::patch}})
      .default_value(webhook::HttpMethod::post);
  spec.option("headers", &O::headers)
      .description("Extra request headers. Their values may carry credentials, so they are never shown; write "
                   "\"${ENV}\" to take one from the environment.")
      .example("{ \"X-Api-Key\" = \"${CACHE_API_KEY}\" }")
      .secret()
      .default_value(std::map<std::string, std::string>{});
  spec.option("bearer_token", &O::bearer_token)
      .description("Sent as Authorization: Bearer; write \"${WEBHOOK_TOKEN}\" to take it from the environment.")
      .secret()
      .default_value("");
  spec.option("secret", &O::secret)
      .description("Signs each request: header Invalidator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                   "\"<t>.<body>\">. Empty: unsigned.")
      .secret()
      .default_value("");
  spec.option("timeout", &O::timeout)
      .description("How long a request may take, connection included, before the batch is retried.")
      .default_value(std::chrono::seconds(10))
      .min(1);
  spec.option("connect_timeout", &O::connect_timeout)
      .description("How long opening a connection may take.")
      .default_value(std::chrono::seconds(5))
      .min(1);
  spec.option("max_in_flight", &O::max_in_flight)
      .description("Requests open at once (and keep-alive connections kept); the sink's `lanes` deliver that many "
                   "batches in parallel, each key always in the same lane.")
      .default_value(4)
      .min(1)
      .max(64);
  spec.option("ca_file", &O::ca_file)
      .description("PEM file of the certificate authorities an https:// receiver is checked against; empty: the system's.")
      .default_value("");
  spec.option("insecure_skip_verify", &O::insecure_skip_verify)
      .description("Accept any certificate of an https:// receiver. For tests only; logged as a warning.")
      .default_value(false);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Sink>> WebhookSink::create(WebhookSinkOptions options,
                                                          const sdk::PluginContext& context) {
  auto shown = shown_url(options.url);
  if (!shown) return shown.status();
  const bool https = shown->starts_with("https://");
  if (!https && !options.ca_file.empty()) return sdk::Status::error("ca_file: only an https:// url is checked against it");
  if (!https && options.insecure_skip_verify) {
    return sdk::Status::error("insecure_skip_verify: only an https:// url has a certificate to skip");
  }
  for (const auto& [name, value] : options.headers) {
    if (!is_header_name(name)) return sdk::Status::error("headers: '" + name + "' is not a header name");
    if (!is_header_value(value)) return sdk::Status::error("headers: the value of '" + name + "' holds a line break");
    const std::string lowered = lower(name);
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lowered) != kReservedHeaders.end()) {
      return sdk::Status::error("headers: '" + name + "' is written by the sink itself; leave it out");
    }
    if (lowered == "authorization" && !options.bearer_token.empty()) {
      return sdk::Status::error("headers: 'Authorization' and bearer_token both set it; keep one");
    }
  }
  if (!is_header_value(options.bearer_token)) return sdk::Status::error("bearer_token: holds a line break");
  return std::unique_ptr<sdk::Sink>(std::make_unique<WebhookSink>(std::move(options), std::move(*shown), context.logger));
}

WebhookSink::WebhookSink(WebhookSinkOptions options, std::string shown_url, sdk::Logger* logger)
    : options_(std::move(options)),
      shown_url_(std::move(shown_url)),
      logger_(logger),
      transport_(webhook::HttpSettings{options_.url, options_.method, options_.timeout, options_.connect_timeout,
                                       options_.max_in_flight, options_.ca_file, options_.insecure_skip_verify}) {
  fixed_headers_.push_back("Content-Type: application/json");
  fixed_headers_.push_back("User-Agent: invalidator-webhook");
  if (!options_.bearer_token.empty()) fixed_headers_.push_back("Authorization: Bearer " + options_.bearer_token);
  for (const auto& [name, value] : options_.headers) fixed_headers_.push_back(name + ": " + value);
}

sdk::Status WebhookSink::start() {
  transport_.resume();
  if (options_.insecure_skip_verify && logger_ != nullptr) {
    logger_->warn("insecure_skip_verify = true: the certificate of " + shown_url_ +
                  " is not checked, anyone on the path can read and answer these requests");
  }
  // A receiver down at start-up is retried by the deliveries, not a reason to stop.
  return sdk::Status::success();
}

void WebhookSink::stop() { transport_.stop(); }

std::vector<std::string> WebhookSink::headers_for(const Attempt& attempt, std::size_t begin, std::size_t end,
                                                  const std::string& body,
                                                  std::chrono::system_clock::time_point sent_at) const {
  std::vector<std::string> headers = fixed_headers_;
  // Batch id 0 is a delivery from code that gave no context: no id to keep stable.
  if (attempt.context.batch_id != 0) {
    std::string key = webhook::idempotency_key(attempt.context.batch_id);
    // The parts of a split batch are requests of their own, each stable across retries.
    if (begin != 0 || end != attempt.batch.size()) key += "." + std::to_string(begin) + "-" + std::to_string(end);
    headers.push_back("Idempotency-Key: " + key);
  }
  if (!options_.secret.empty()) {
    headers.push_back("Invalidator-Signature: " +
                      webhook::signature(options_.secret, unix_seconds(sent_at), body));
  }
  return headers;
}

std::string WebhookSink::describe_answer(const webhook::HttpExchange& exchange) const {
  std::string text = "webhook " + shown_url_ + " answered " + std::to_string(exchange.status);
  if (!exchange.body_start.empty()) text += ": " + printable(exchange.body_start, kReasonBodyLimit);
  return text;
}

void WebhookSink::note_reachable(bool reachable, const std::string& reason) {
  if (logger_ == nullptr) return;
  if (!reachable && !reported_unreachable_.exchange(true)) logger_->warn(reason + "; retrying");
  if (reachable && reported_unreachable_.exchange(false)) logger_->info("webhook " + shown_url_ + " answers again");
}

std::optional<WebhookSink::Interruption> WebhookSink::send_range(Attempt& attempt, std::size_t begin, std::size_t end) {
  const auto sent_at = std::chrono::system_clock::now();
  const std::string body = webhook::request_body(attempt.batch.subspan(begin, end - begin), sent_at);
  const webhook::HttpExchange exchange = transport_.send(body, headers_for(attempt, begin, end, body, sent_at));
  switch (exchange.ending) {
    case webhook::HttpExchange::Ending::stopped:
      return Interruption{begin, "the webhook sink is stopped"};
    case webhook::HttpExchange::Ending::transport_error: {
      std::string reason = "webhook " + shown_url_ + ": " + exchange.error;
      note_reachable(false, reason);
      return Interruption{begin, std::move(reason)};
    }
    case webhook::HttpExchange::Ending::answered:
      break;
  }
  note_reachable(true, {});
  switch (webhook::classify(exchange.status)) {
    case webhook::Outcome::delivered:
      return std::nullopt;
    case webhook::Outcome::retry: {
      auto asked = webhook::retry_after(exchange.retry_after, sent_at).value_or(std::chrono::milliseconds{0});
      return Interruption{begin, describe_answer(exchange), std::min(asked, kLongestRetryAfter)};
    }
    case webhook::Outcome::failed:
      break;
  }
  constexpr long kContentTooLarge = 413;
  if (exchange.status == kContentTooLarge && end - begin > 1) {
    attempt.split = true;
    const std::size_t middle = begin + (end - begin) / 2;
    if (auto interruption = send_range(attempt, begin, middle)) return interruption;
    return send_range(attempt, middle, end);
  }
  std::string reason = describe_answer(exchange);
  if (exchange.status == kContentTooLarge) reason += " (this invalidation alone is larger than the receiver accepts)";
  for (std::size_t i = begin; i < end; ++i) attempt.failures.push_back({i, reason, false});
  return std::nullopt;
}

sdk::DeliveryResult WebhookSink::deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext& context) {
  if (transport_.stopped()) return sdk::DeliveryResult::retry("the webhook sink is stopped");
  if (batch.empty()) return sdk::DeliveryResult::ok();
  Attempt attempt{batch, context, {}, false};
  auto interruption = send_range(attempt, 0, batch.size());
  // Stopping is not the receiver's verdict on any item: the whole batch is kept for later.
  if (transport_.stopped()) return sdk::DeliveryResult::retry("the webhook sink is stopped");
  if (!interruption) {
    if (attempt.failures.empty()) return sdk::DeliveryResult::ok();
    if (!attempt.split) return sdk::DeliveryResult::failed(std::move(attempt.failures.front().reason));
    return sdk::DeliveryResult::partial(std::move(attempt.failures));
  }
  if (interruption->first_unsent == 0) {
    return sdk::DeliveryResult::retry(std::move(interruption->reason), interruption->retry_after);
  }
  for (std::size_t i = interruption->first_unsent; i < batch.size(); ++i) {
    attempt.failures.push_back({i, interruption->reason, true});
  }
  return sdk::DeliveryResult::partial(std::move(attempt.failures));
}

}  // namespace invalidator::plugins

INVALIDATOR_SINK_PLUGIN(webhook, "0.1.0", invalidator::plugins::WebhookSink::options,
                        invalidator::plugins::WebhookSink::create)
