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

// Routes a plugin instance's log lines to spdlog, tagged with its kind and id.
class PluginLogger final : public sdk::Logger {
 public:
  explicit PluginLogger(std::string tag) : tag_(std::move(tag)) {}
  void log(sdk::LogLevel level, std::string_view message) override;

 private:
  std::string tag_;
};

}  // namespace invalidator::util
