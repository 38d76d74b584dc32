#include "util/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "util/json_text.hpp"

namespace invalidator::util {

namespace {
// One JSON object a line, with the message escaped (a pattern cannot escape quotes). The core
// and plugins open a component's lines with its tag, "[source kafka] ..." or "[sink redis]
// ...": the tag becomes "component" ("engine" without one), and its kind and id a field.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view message(msg.payload.data(), msg.payload.size());
    std::string_view component = "engine";
    std::string_view kind;
    std::string_view id;
    if (message.starts_with('[')) {
      const auto close = message.find("] ");
      const std::string_view tag = close == std::string_view::npos ? std::string_view{} : message.substr(1, close - 1);
      const auto space = tag.find(' ');
      if (space != std::string_view::npos && tag.find(' ', space + 1) == std::string_view::npos) {
        component = tag;
        kind = tag.substr(0, space);
        id = tag.substr(space + 1);
        message.remove_prefix(close + 2);
      }
    }
    std::string line = "{\"time\":\"";
    line += utc_timestamp(msg.time);
    line += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"component\":";
    append_json_string(line, component);
    line += ",\"message\":";
    append_json_string(line, message);
    line += ",\"fields\":{";
    if (!kind.empty()) {
      append_json_string(line, kind);
      line += ':';
      append_json_string(line, id);
    }
    line += "}}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};
}  // namespace

bool set_log_level(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") return false;
  spdlog::set_level(parsed);
  return true;
}

void configure_logging(std::string_view format, std::string_view level) {
  // Logs go to stderr: stdout carries a command's output (explain, plugins).
  auto logger = std::make_shared<spdlog::logger>("invalidator", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  spdlog::set_default_logger(logger);
  set_log_level(level);
}

spdlog::level::level_enum to_spdlog(sdk::LogLevel level) {
  switch (level) {
    case sdk::LogLevel::trace: return spdlog::level::trace;
    case sdk::LogLevel::debug: return spdlog::level::debug;
    case sdk::LogLevel::info: return spdlog::level::info;
    case sdk::LogLevel::warn: return spdlog::level::warn;
    case sdk::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

namespace {
class HandlerSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit HandlerSink(LogHandler handler) : handler_(std::move(handler)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    handler_(from_spdlog(msg.level), std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  static sdk::LogLevel from_spdlog(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace: return sdk::LogLevel::trace;
      case spdlog::level::debug: return sdk::LogLevel::debug;
      case spdlog::level::info: return sdk::LogLevel::info;
      case spdlog::level::warn: return sdk::LogLevel::warn;
      default: return sdk::LogLevel::error;
    }
  }
  LogHandler handler_;
};
}  // namespace

std::shared_ptr<spdlog::logger> handler_logger(LogHandler handler, sdk::LogLevel minimum) {
  auto logger = std::make_shared<spdlog::logger>("invalidator-engine", std::make_shared<HandlerSink>(std::move(handler)));
  logger->set_level(to_spdlog(minimum));
  return logger;
}

}  // namespace invalidator::util
