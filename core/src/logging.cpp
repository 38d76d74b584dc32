#include "invalidator/logging.hpp"

#include "util/log.hpp"

namespace invalidator {

void configure_logging(std::string_view format, std::string_view level) { util::configure_logging(format, level); }

bool set_log_level(std::string_view level) { return util::set_log_level(level); }

void log(sdk::LogLevel level, std::string_view message) {
  switch (level) {
    case sdk::LogLevel::trace: spdlog::trace("{}", message); break;
    case sdk::LogLevel::debug: spdlog::debug("{}", message); break;
    case sdk::LogLevel::info: spdlog::info("{}", message); break;
    case sdk::LogLevel::warn: spdlog::warn("{}", message); break;
    case sdk::LogLevel::error: spdlog::error("{}", message); break;
  }
}

}  // namespace invalidator
