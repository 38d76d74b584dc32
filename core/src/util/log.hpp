#pragma once

#include <functional>
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

// A logger handing each line of `minimum` level or above, formatted as the message alone, to
// `handler` (an embedding service's own logging).
using LogHandler = std::function<void(sdk::LogLevel level, std::string_view message)>;
std::shared_ptr<spdlog::logger> handler_logger(LogHandler handler, sdk::LogLevel minimum);

}  // namespace invalidator::util
