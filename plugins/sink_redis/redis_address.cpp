#include "redis_address.hpp"

#include <charconv>
#include <string_view>

namespace invalidator::plugins {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Credentials may hold characters that a URL must escape ("p%40ss" for "p@ss").
sdk::Result<std::string> percent_decode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0) {
      return sdk::Status::error("a '%' in the URL's credentials must be followed by two hex digits");
    }
    decoded.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
    i += 2;
  }
  return decoded;
}

sdk::Result<int> parse_number(std::string_view text, std::string_view what, int max) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < 0 || value > max) {
    return sdk::Status::error("invalid " + std::string(what) + " '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace

std::string RedisAddress::describe() const {
  std::string text = is_unix() ? "unix://" + socket_path : "redis://" + host + ":" + std::to_string(port);
  if (database != 0) text += (is_unix() ? "?db=" : "/") + std::to_string(database);
  return text;
}

sdk::Result<RedisAddress> parse_redis_url(const std::string& url) {
  RedisAddress address;
  std::string_view rest = url;
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kRedis = "redis://";
  if (rest.starts_with(kUnix)) {
    rest.remove_prefix(kUnix.size());
    auto query = rest.find('?');
    address.socket_path = std::string(rest.substr(0, query));
    if (address.socket_path.empty() || address.socket_path.front() != '/') {
      return sdk::Status::error("a unix socket URL needs an absolute path: unix:///path/to/redis.sock");
    }
    if (query != std::string_view::npos) {
      std::string_view parameter = rest.substr(query + 1);
      if (!parameter.starts_with("db=")) {
        return sdk::Status::error("the only parameter of a unix socket URL is db=N");
      }
      auto database = parse_number(parameter.substr(3), "database number", 1 << 20);
      if (!database) return sdk::Status::error(database.error());
      address.database = *database;
    }
    return address;
  }
  if (!rest.starts_with(kRedis)) {
    return sdk::Status::error("the URL must start with redis:// or unix:// (TLS is not supported)");
  }
  rest.remove_prefix(kRedis.size());

  auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    auto colon = credentials.find(':');
    auto user = percent_decode(credentials.substr(0, colon));
    if (!user) return sdk::Status::error(user.error());
    address.user = *user;
    if (colon != std::string_view::npos) {
      auto password = percent_decode(credentials.substr(colon + 1));
      if (!password) return sdk::Status::error(password.error());
      address.password = *password;
    }
  }

  auto slash = rest.find('/');
  std::string_view host_port = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    auto database = parse_number(rest.substr(slash + 1), "database number", 1 << 20);
    if (!database) return sdk::Status::error(database.error());
    address.database = *database;
  }
  if (host_port.starts_with('[')) {  // [::1]:6379
    auto close = host_port.find(']');
    if (close == std::string_view::npos) return sdk::Status::error("unclosed '[' in the URL's host");
    address.host = std::string(host_port.substr(1, close - 1));
    host_port.remove_prefix(close + 1);
    if (!host_port.empty() && host_port.front() != ':') return sdk::Status::error("expected ':' after ']'");
    if (!host_port.empty()) host_port.remove_prefix(1);
  } else {
    auto colon = host_port.rfind(':');
    address.host = std::string(host_port.substr(0, colon));
    host_port = colon == std::string_view::npos ? std::string_view{} : host_port.substr(colon + 1);
  }
  if (address.host.empty()) return sdk::Status::error("the URL has no host: redis://host:port");
  if (!host_port.empty()) {
    auto port = parse_number(host_port, "port", 65535);
    if (!port) return sdk::Status::error(port.error());
    address.port = *port;
  }
  return address;
}

}  // namespace invalidator::plugins
