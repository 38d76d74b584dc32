#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "invalidator/sdk/context.hpp"

namespace invalidator::plugin_host {

// Routes a plugin instance's log lines to its engine's log, tagged with its kind and id.
class PluginLogger final : public sdk::Logger {
 public:
  PluginLogger(std::string tag, std::shared_ptr<spdlog::logger> logger)
      : tag_(std::move(tag)), logger_(std::move(logger)) {}
  void log(sdk::LogLevel level, std::string_view message) override;

 private:
  std::string tag_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace invalidator::plugin_host
