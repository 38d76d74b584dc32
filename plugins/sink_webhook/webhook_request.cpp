#include "webhook_request.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdio>
#include <ctime>

#include "invalidator/sdk/options.hpp"

namespace invalidator::plugins::webhook {
namespace {

// A JSON string literal: TOML's basic strings escape exactly as JSON's do.
std::string quoted(std::string_view text) { return sdk::toml_text::quoted_text(text); }

std::string quoted_or_null(std::string_view text) { return text.empty() ? "null" : quoted(text); }

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point time) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000 - (millis % 1000 < 0 ? 1 : 0));
  const int fraction = static_cast<int>(((millis % 1000) + 1000) % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];  // room for any int the fields could hold, which the compiler checks
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, fraction);
  return text;
}

std::string request_body(std::span<const sdk::Invalidation> batch, std::chrono::system_clock::time_point sent_at) {
  std::string body = "{\"invalidations\":[";
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const sdk::Invalidation& item = batch[i];
    if (i > 0) body += ',';
    body += "{\"action\":" + quoted(sdk::to_string(item.action)) + ",\"key\":" + quoted(item.key) +
            ",\"table\":" + quoted_or_null(item.table()) +
            ",\"op\":" + (item.origin != nullptr ? quoted(sdk::to_string(item.origin->op)) : std::string("null")) +
            ",\"version\":" + std::to_string(item.version) + ",\"commit_time\":" +
            (item.commit_time == std::chrono::system_clock::time_point{} ? std::string("null")
                                                                         : quoted(rfc3339(item.commit_time)));
    if (item.action == sdk::Action::set_value && item.value) body += ",\"value\":" + quoted(*item.value);
    if (item.action == sdk::Action::expire) body += ",\"ttl_ms\":" + std::to_string(item.ttl.count());
    body += '}';
  }
  body += "],\"sent_at\":" + quoted(rfc3339(sent_at)) + "}";
  return body;
}

std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  const std::string timestamp = std::to_string(unix_seconds);
  std::string signed_text = timestamp + "." + std::string(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return "t=" + timestamp + ",v1=" + hex;
}

std::string idempotency_key(std::uint64_t batch_id) {
  char text[40];
  std::snprintf(text, sizeof text, "invalidator-%016llx", static_cast<unsigned long long>(batch_id));
  return text;
}

Outcome classify(long status) {
  if (status >= 200 && status < 300) return Outcome::delivered;
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) return Outcome::retry;
  return Outcome::failed;
}

std::optional<std::chrono::milliseconds> retry_after(std::string_view header, std::chrono::system_clock::time_point now) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return std::nullopt;
  bool digits = true;
  for (char c : header) digits = digits && std::isdigit(static_cast<unsigned char>(c)) != 0;
  if (digits) {
    if (header.size() > 9) return std::chrono::seconds(999'999'999);  // absurd, kept finite
    return std::chrono::seconds(std::stoll(std::string(header)));
  }
  // IMF-fixdate, the form HTTP senders must use: "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm when{};
  const std::string text(header);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &when);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&when));
  if (at <= now) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(at - now);
}

}  // namespace invalidator::plugins::webhook
