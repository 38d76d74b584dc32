#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "invalidator/sdk/result.hpp"

namespace invalidator::config {

// "500ms", "1.5s", "2m", "1h", "1d", or "0".
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// "512", "64KiB", "10MB", "1GiB": bytes.
std::optional<std::int64_t> parse_size(std::string_view text);
// Expands ${VAR} and ${VAR:-default}; "$$" is a literal "$".
sdk::Result<std::string> expand_environment(std::string_view text);

}  // namespace invalidator::config
