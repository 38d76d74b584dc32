#include "config/values.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace invalidator::config {

namespace {
// Splits "1.5s" into 1.5 and "s".
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  std::size_t end = 0;
  bool seen_digit = false, seen_dot = false;
  while (end < text.size()) {
    char c = text[end];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      seen_digit = true;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
    ++end;
  }
  if (!seen_digit) return std::nullopt;
  std::string number(text.substr(0, end));
  std::string_view unit = text.substr(end);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return std::make_pair(std::strtod(number.c_str(), nullptr), unit);
}
}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [amount, unit] = *parts;
  double factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "m" || unit == "min") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else if (unit == "d") factor = 86'400'000;
  else if (unit.empty() && amount == 0) factor = 1;
  else return std::nullopt;
  double milliseconds = amount * factor;
  if (milliseconds > 1e15) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(milliseconds)));
}

std::optional<std::int64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [amount, unit] = *parts;
  double factor = 0;
  if (unit.empty() || unit == "B") factor = 1;
  else if (unit == "KB" || unit == "kB") factor = 1e3;
  else if (unit == "MB") factor = 1e6;
  else if (unit == "GB") factor = 1e9;
  else if (unit == "KiB") factor = 1024.0;
  else if (unit == "MiB") factor = 1024.0 * 1024;
  else if (unit == "GiB") factor = 1024.0 * 1024 * 1024;
  else return std::nullopt;
  double bytes = amount * factor;
  if (bytes > 9e18) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(bytes));
}

sdk::Result<std::string> expand_environment(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += text[i];
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return sdk::Status::error("unclosed '${' in \"" + std::string(text) +
                                "\" (write ${VAR} or ${VAR:-default}; '$$' is a literal '$')");
    }
    std::string_view inside = text.substr(i + 2, close - i - 2);
    std::string_view name = inside;
    std::optional<std::string_view> fallback;
    if (auto sep = inside.find(":-"); sep != std::string_view::npos) {
      name = inside.substr(0, sep);
      fallback = inside.substr(sep + 2);
    }
    bool valid_name = !name.empty();
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') valid_name = false;
    }
    if (!valid_name) {
      return sdk::Status::error("bad variable name '" + std::string(name) + "' in \"" +
                                std::string(text) + "\" (letters, digits and '_' only)");
    }
    const char* value = std::getenv(std::string(name).c_str());
    if (value != nullptr && *value != '\0') {
      out += value;
    } else if (fallback) {
      out += *fallback;
    } else {
      return sdk::Status::error("environment variable " + std::string(name) +
                                " is not set (set it, or give a default: ${" + std::string(name) +
                                ":-value})");
    }
    i = close;
  }
  return out;
}

}  // namespace invalidator::config
