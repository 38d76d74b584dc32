#pragma once

#include <string>

#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins {

// Where and as whom to connect, parsed from `redis://[user:password@]host[:port][/db]` or
// `unix:///path/to/redis.sock[?db=N]`.
struct RedisAddress {
  std::string host;         // empty for a unix socket
  int port = 6379;
  std::string socket_path;  // set for unix://
  std::string user;         // Redis 6 ACL user; empty: the default user
  std::string password;
  int database = 0;

  bool is_unix() const { return !socket_path.empty(); }
  // For log lines: the address without the credentials.
  std::string describe() const;
};

sdk::Result<RedisAddress> parse_redis_url(const std::string& url);

}  // namespace invalidator::plugins
