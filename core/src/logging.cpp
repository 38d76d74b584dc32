#include "invalidator/logging.hpp"

#include "util/log.hpp"

namespace invalidator {

void configure_logging(std::string_view format, std::string_view level) { util::configure_logging(format, level); }

bool set_log_level(std::string_view level) { return util::set_log_level(level); }

void log(sdk::LogLevel level, std::string_view message) { spdlog::log(util::to_spdlog(level), "{}", message); }

}  // namespace invalidator
