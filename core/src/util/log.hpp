#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "invalidator/sdk/context.hpp"

namespace invalidator::util {

// Sets up the process logger: "text" (human) or "json" (one object a line), and the level.
void configure_logging(std::string_view format, std::string_view level);
bool set_log_level(std::string_view level);

// The SDK's level as spdlog's.
spdlog::level::level_enum to_spdlog(sdk::LogLevel level);

}  // namespace invalidator::util
