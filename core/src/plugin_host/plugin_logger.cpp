#include "plugin_host/plugin_logger.hpp"

#include "util/log.hpp"

namespace invalidator::plugin_host {

void PluginLogger::log(sdk::LogLevel level, std::string_view message) {
  logger_->log(util::to_spdlog(level), "[{}] {}", tag_, message);
}

}  // namespace invalidator::plugin_host
