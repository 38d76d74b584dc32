#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/event.hpp"

namespace invalidator::sdk {

enum class Action {
  delete_key,      // remove the key
  set_value,       // write `value` (fenced by `version` where the sink supports it)
  expire,          // let the key expire after `ttl`
  delete_pattern,  // remove every key matching the glob in `key` (e.g. after a truncate)
};

constexpr std::string_view to_string(Action action) {
  switch (action) {
    case Action::delete_key: return "delete";
    case Action::set_value: return "set";
    case Action::expire: return "expire";
    case Action::delete_pattern: return "delete_pattern";
  }
  return "unknown";
}

// Which change produced an invalidation, for sinks that report it (a webhook's body) and for
// metrics: one record per route, table and op, shared by every invalidation it produced, kept
// by the engine for as long as it runs (a sink that keeps one past deliver() copies it).
struct InvalidationOrigin {
  std::string_view table;   // "public.customers"
  Op op = Op::update;
  std::string_view source;  // the id of the source, e.g. "customers"
  std::string_view route;   // "routes[0]": the [[routes]] entry, counted from 0
};

struct Invalidation {
  Action action = Action::delete_key;
  std::string key;
  std::optional<std::string> value;
  std::uint64_t version = 0;         // of the change: LSN, offset, or the event's own version
  std::chrono::milliseconds ttl{0};  // 0: no expiry
  std::chrono::system_clock::time_point commit_time{};  // of the change; the epoch: not known
  // Null where not known (an invalidation built in code, or replayed from a dead letter).
  const InvalidationOrigin* origin = nullptr;

  std::string_view table() const { return origin != nullptr ? origin->table : std::string_view{}; }
  std::string_view source() const { return origin != nullptr ? origin->source : std::string_view{}; }
  std::string_view route() const { return origin != nullptr ? origin->route : std::string_view{}; }
};

struct ItemFailure {
  std::size_t index = 0;  // into the delivered batch
  std::string reason;
  bool retryable = false;
};

// Which delivery of which batch a deliver() call is. A batch tried again as it was keeps its
// id and counts its attempts from 1, so a receiver can recognise a repeat (a webhook's
// Idempotency-Key); once part of it was applied, what is tried again is a new batch with a
// new id. Ids are unique within a run and, being drawn from a random start, across runs.
struct DeliveryContext {
  std::uint64_t batch_id = 0;
  std::uint32_t attempt = 1;
};

// What a sink says about a batch. The core owns the policy: it retries with backoff and
// dead-letters what cannot be delivered, so a sink only reports.
class DeliveryResult {
 public:
  enum class Kind { ok, retry, partial, failed };

  // Every item was applied.
  static DeliveryResult ok() { return DeliveryResult{Kind::ok}; }
  // Nothing (or not all) was applied and the whole batch should be tried again, e.g. the
  // connection is down. Re-delivering an applied item must be harmless (idempotence).
  static DeliveryResult retry(std::string reason,
                              std::chrono::milliseconds after = std::chrono::milliseconds{0}) {
    DeliveryResult result{Kind::retry};
    result.reason_ = std::move(reason);
    result.retry_after_ = after;
    return result;
  }
  // Nothing was applied and no retry will help (the receiver refuses the whole batch): every
  // item is dead-lettered with `reason`.
  static DeliveryResult failed(std::string reason) {
    DeliveryResult result{Kind::failed};
    result.reason_ = std::move(reason);
    return result;
  }
  // Some items failed; the rest were applied.
  static DeliveryResult partial(std::vector<ItemFailure> failures) {
    DeliveryResult result{Kind::partial};
    result.failures_ = std::move(failures);
    return result;
  }

  Kind kind() const { return kind_; }
  bool is_ok() const { return kind_ == Kind::ok; }
  const std::string& reason() const { return reason_; }
  std::chrono::milliseconds retry_after() const { return retry_after_; }
  const std::vector<ItemFailure>& failures() const { return failures_; }

 private:
  explicit DeliveryResult(Kind kind) : kind_(kind) {}

  Kind kind_;
  std::string reason_;
  std::chrono::milliseconds retry_after_{0};
  std::vector<ItemFailure> failures_;
};

}  // namespace invalidator::sdk
