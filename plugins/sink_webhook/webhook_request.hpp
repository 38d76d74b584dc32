#pragma once

// What the webhook sink sends and how it reads the answer, apart from the HTTP transport: the
// documented JSON body of a batch, its signature, its idempotency key, and the meaning of a
// response's status and Retry-After header.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "invalidator/sdk/invalidation.hpp"

namespace invalidator::plugins::webhook {

// {"invalidations":[{"action":"delete","key":"customer:42","table":"public.customers",
//   "op":"update","version":42,"commit_time":"2026-12-05T18:00:00.123Z"}, ...],
//  "sent_at":"2026-12-05T18:00:00.130Z"}
// table, op and commit_time are null where not known; "value" is there for a set, "ttl_ms"
// for an expire. Times are RFC 3339 in UTC with milliseconds.
std::string request_body(std::span<const sdk::Invalidation> batch, std::chrono::system_clock::time_point sent_at);

// RFC 3339 in UTC with milliseconds: 2026-12-05T18:00:00.123Z.
std::string rfc3339(std::chrono::system_clock::time_point time);

// The Invalidator-Signature header's value: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<unix seconds>.<body>" keyed with the secret>". A receiver recomputes it and refuses a
// timestamp outside its replay window.
std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

// The Idempotency-Key header's value for a batch: the same for every attempt of that batch.
std::string idempotency_key(std::uint64_t batch_id);

enum class Outcome {
  delivered,  // 2xx
  retry,      // 408, 429, 5xx: the receiver may take it later
  failed,     // any other status: the receiver refuses it, trying again cannot help
};
Outcome classify(long status);

// How long a Retry-After header asks to wait: delay-seconds ("120") or an HTTP-date ("Wed, 21
// Oct 2015 07:28:00 GMT") counted from `now`; zero for a date already past; nullopt when the
// header is neither.
std::optional<std::chrono::milliseconds> retry_after(std::string_view header, std::chrono::system_clock::time_point now);

}  // namespace invalidator::plugins::webhook
