#include "webhook_request.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "invalidator/sdk/options.hpp"

namespace invalidator::plugins::webhook {
namespace {

// Appends `text` as a JSON string literal: TOML's basic strings escape exactly as JSON's do,
// and most keys need no escaping at all, which is checked first.
void append_quoted(std::string& out, std::string_view text) {
  const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (!plain) {
    out += sdk::toml_text::quoted_text(text);
    return;
  }
  out.push_back('"');
  out.append(text);
  out.push_back('"');
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// RFC 3339 of one time after another: the date and time of day are formatted again only when
// the second changes, which in a batch of one transaction's changes is seldom. With gmtime_r
// and snprintf for every item, and a temporary string for each field, a body of 500 took
// 598 us to build against 16 us now; at 37 times the cost it held the sink to a fifth of what
// its receiver could take (docs/performance.md, webhook sink).
class TimeFormatter {
 public:
  void append(std::string& out, std::chrono::system_clock::time_point time) {
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const std::int64_t second = millis / 1000 - (millis % 1000 < 0 ? 1 : 0);
    if (second != cached_second_ || cached_.empty()) {
      cached_second_ = second;
      const std::time_t seconds = static_cast<std::time_t>(second);
      std::tm utc{};
      gmtime_r(&seconds, &utc);
      char text[96];  // room for any int the fields could hold, which the compiler checks
      std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.", utc.tm_year + 1900, utc.tm_mon + 1,
                    utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
      cached_ = text;
    }
    const int fraction = static_cast<int>(millis - second * 1000);
    const char tail[4] = {static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                          static_cast<char>('0' + fraction % 10), 'Z'};
    out.append(cached_).append(tail, sizeof tail);
  }

 private:
  std::int64_t cached_second_ = 0;
  std::string cached_;
};

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point time) {
  std::string out;
  TimeFormatter().append(out, time);
  return out;
}

std::string request_body(std::span<const sdk::Invalidation> batch, std::chrono::system_clock::time_point sent_at) {
  TimeFormatter times;
  // The table and op of the previous item, as text: items of one batch mostly share an origin.
  const sdk::InvalidationOrigin* origin_shown = nullptr;
  std::string origin_text = ",\"table\":null,\"op\":null,\"version\":";
  std::string body;
  body.reserve(64 + batch.size() * 160);
  body.append("{\"invalidations\":[");
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const sdk::Invalidation& item = batch[i];
    body.append(i == 0 ? "{\"action\":\"" : ",{\"action\":\"");
    body.append(sdk::to_string(item.action));
    body.append("\",\"key\":");
    append_quoted(body, item.key);
    if (item.origin != origin_shown) {
      origin_shown = item.origin;
      origin_text.assign(",\"table\":");
      if (item.table().empty()) origin_text.append("null");
      else append_quoted(origin_text, item.table());
      origin_text.append(",\"op\":");
      if (item.origin != nullptr) append_quoted(origin_text, sdk::to_string(item.origin->op));
      else origin_text.append("null");
      origin_text.append(",\"version\":");
    }
    body.append(origin_text);
    append_number(body, item.version);
    if (item.commit_time == std::chrono::system_clock::time_point{}) {
      body.append(",\"commit_time\":null");
    } else {
      body.append(",\"commit_time\":\"");
      times.append(body, item.commit_time);
      body.push_back('"');
    }
    if (item.action == sdk::Action::set_value && item.value) {
      body.append(",\"value\":");
      append_quoted(body, *item.value);
    }
    if (item.action == sdk::Action::expire) {
      body.append(",\"ttl_ms\":");
      append_number(body, static_cast<std::uint64_t>(std::max<std::int64_t>(0, item.ttl.count())));
    }
    body.push_back('}');
  }
  body.append("],\"sent_at\":\"");
  times.append(body, sent_at);
  body.append("\"}");
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
