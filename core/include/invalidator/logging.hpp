#pragma once

// The process's log: where the engine's lines go unless a service sets up spdlog itself.

#include <string_view>

#include "invalidator/sdk/context.hpp"

namespace invalidator {

// "text" (for people) or "json" (one object a line), and the minimum level: trace, debug,
// info, warn or error.
void configure_logging(std::string_view format, std::string_view level);
// False for a level name it does not know.
bool set_log_level(std::string_view level);
void log(sdk::LogLevel level, std::string_view message);

}  // namespace invalidator
