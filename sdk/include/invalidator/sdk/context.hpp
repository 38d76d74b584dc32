#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace invalidator::sdk {

enum class LogLevel { trace, debug, info, warn, error };

// Where a plugin writes its log lines; the host routes them to its own logger with the
// plugin instance's name attached.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, std::string_view message) = 0;

  void debug(std::string_view message) { log(LogLevel::debug, message); }
  void info(std::string_view message) { log(LogLevel::info, message); }
  void warn(std::string_view message) { log(LogLevel::warn, message); }
  void error(std::string_view message) { log(LogLevel::error, message); }
};

// Given to a factory when a plugin instance is created.
struct PluginContext {
  std::string instance_name;  // the id in the configuration, e.g. "cache" for [sinks.cache]
  Logger* logger = nullptr;   // outlives the instance
  // Where this instance keeps what must survive a restart (engine.state_dir/<kind>s/<id>),
  // created by write_file_atomically() (state.hpp) when first written. Empty: the host gave
  // none, and an instance that needs one says so when created.
  std::filesystem::path state_directory{};
};

}  // namespace invalidator::sdk
