#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "invalidator/sdk/invalidation.hpp"

namespace invalidator::testing {

// One invalidation, in the order a test reads best: what, which key, then the details.
inline sdk::Invalidation item(sdk::Action action, std::string key, std::uint64_t version = 1,
                              std::optional<std::string> value = std::nullopt,
                              std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) {
  return sdk::Invalidation{action, std::move(key), std::move(value), version, ttl};
}

}  // namespace invalidator::testing
