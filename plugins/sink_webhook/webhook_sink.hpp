#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "http_transport.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/sink.hpp"

namespace invalidator::plugins {

// The plugin's options, as declared in WebhookSink::options() (which holds the defaults).
struct WebhookSinkOptions {
  std::string url;
  webhook::HttpMethod method{};
  std::map<std::string, std::string> headers;
  std::string bearer_token;
  std::string secret;
  std::chrono::milliseconds timeout{};
  std::chrono::milliseconds connect_timeout{};
  std::size_t max_in_flight{};
  std::string ca_file;
  bool insecure_skip_verify{};
};

// Sends each batch of invalidations to an HTTP endpoint as one JSON request (see the README
// for the body, the headers and how a receiver checks the signature).
class WebhookSink final : public sdk::Sink {
 public:
  WebhookSink(WebhookSinkOptions options, std::string shown_url, sdk::Logger* logger);

  static sdk::OptionsSpec<WebhookSinkOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Sink>> create(WebhookSinkOptions options, const sdk::PluginContext& context);

  sdk::Status start() override;
  sdk::DeliveryResult deliver(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext& context) override;
  void stop() override;
  std::size_t concurrency() const override { return options_.max_in_flight; }

 private:
  // Why sending stopped short, and from which item on nothing is known to be applied.
  struct Interruption {
    std::size_t first_unsent = 0;
    std::string reason;
    std::chrono::milliseconds retry_after{0};
  };
  struct Attempt {
    std::span<const sdk::Invalidation> batch;
    const sdk::DeliveryContext& context;
    std::vector<sdk::ItemFailure> failures;  // refused items, not to be tried again
    bool split = false;                      // a 413 made it send the batch in parts
  };

  // Sends batch[begin, end) as one request, halving it while the receiver answers 413.
  std::optional<Interruption> send_range(Attempt& attempt, std::size_t begin, std::size_t end);
  std::vector<std::string> headers_for(const Attempt& attempt, std::size_t begin, std::size_t end,
                                       const std::string& body, std::chrono::system_clock::time_point sent_at) const;
  // "webhook http://host/path answered 400 Bad Request: <start of the body>"
  std::string describe_answer(const webhook::HttpExchange& exchange) const;
  void note_reachable(bool reachable, const std::string& reason);

  WebhookSinkOptions options_;
  std::string shown_url_;  // without credentials or query, for messages
  sdk::Logger* logger_;
  std::vector<std::string> fixed_headers_;
  webhook::HttpTransport transport_;
  std::atomic<bool> reported_unreachable_{false};
};

}  // namespace invalidator::plugins
