#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

struct Invalidation {
  Action action = Action::delete_key;
  std::string key;
  std::optional<std::string> value;
  std::uint64_t version = 0;
  std::chrono::milliseconds ttl{0};  // 0: no expiry
};

struct ItemFailure {
  std::size_t index = 0;  // into the delivered batch
  std::string reason;
  bool retryable = false;
};

// What a sink says about a batch. The core owns the policy: it retries with backoff and
// dead-letters what cannot be delivered, so a sink only reports.
class DeliveryResult {
 public:
  enum class Kind { ok, retry, partial };

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
