#include "util/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace invalidator::util {

namespace {
// One JSON object a line, with the message escaped (a pattern cannot escape quotes).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char time_text[96];
    std::snprintf(time_text, sizeof time_text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis % 1000));
    std::string line = "{\"time\":\"";
    line += time_text;
    line += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",\"message\":";
    append_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

 private:
  static void append_escaped(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        out += buffer;
      } else {
        out += c;
      }
    }
    out += '"';
  }
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

void PluginLogger::log(sdk::LogLevel level, std::string_view message) {
  spdlog::level::level_enum mapped = spdlog::level::info;
  switch (level) {
    case sdk::LogLevel::trace: mapped = spdlog::level::trace; break;
    case sdk::LogLevel::debug: mapped = spdlog::level::debug; break;
    case sdk::LogLevel::info: mapped = spdlog::level::info; break;
    case sdk::LogLevel::warn: mapped = spdlog::level::warn; break;
    case sdk::LogLevel::error: mapped = spdlog::level::err; break;
  }
  spdlog::log(mapped, "[{}] {}", tag_, message);
}

}  // namespace invalidator::util
