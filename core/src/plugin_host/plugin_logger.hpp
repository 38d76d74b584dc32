#pragma once

#include <string>
#include <string_view>

#include "invalidator/sdk/context.hpp"

namespace invalidator::plugin_host {

// Routes a plugin instance's log lines to the process's log, tagged with its kind and id.
class PluginLogger final : public sdk::Logger {
 public:
  explicit PluginLogger(std::string tag) : tag_(std::move(tag)) {}
  void log(sdk::LogLevel level, std::string_view message) override;

 private:
  std::string tag_;
};

}  // namespace invalidator::plugin_host
