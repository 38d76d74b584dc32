#pragma once

#include <hiredis/hiredis.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "redis_address.hpp"

namespace invalidator::plugins {

// Commands written straight in the Redis protocol (RESP) into one buffer, so that a whole
// pipeline goes to hiredis in a single append instead of one formatting call per command.
class RespWriter {
 public:
  void command(std::size_t argument_count) {
    buffer_ += '*';
    number(argument_count);
  }
  void argument(std::string_view text) { argument(std::string_view{}, text); }
  // An argument made of two parts, e.g. the key prefix and the key, without joining them first.
  void argument(std::string_view first, std::string_view second, std::string_view third = {}) {
    buffer_ += '$';
    number(first.size() + second.size() + third.size());
    buffer_.append(first).append(second).append(third).append("\r\n");
  }
  void argument(std::uint64_t value) {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    argument(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  const std::string& data() const { return buffer_; }
  bool empty() const { return buffer_.empty(); }
  void clear() { buffer_.clear(); }

 private:
  // Written for every command and argument: std::to_chars, where snprintf took a twentieth of
  // a delivering thread in profiles.
  void number(std::size_t value) {
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    buffer_.append(digits, static_cast<std::size_t>(end - digits)).append("\r\n");
  }
  std::string buffer_;
};

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

// A string, status or error reply's text.
std::string reply_text(const redisReply& reply);
// The server's error code, the first word of an error reply ("WRONGTYPE", "LOADING"...).
std::string_view error_code(const redisReply& reply);
// Errors that say "not now" about the whole server (loading, busy script, failover):
// the batch is tried again later, not failed.
bool is_transient_server_error(std::string_view code);
// Errors that no retry will cure without a configuration change.
bool is_authentication_error(std::string_view code);

// One connection to Redis. Used by one thread at a time, except interrupt(), which any
// thread may call to make a blocked read or write return at once.
class RedisConnection {
 public:
  struct Timeouts {
    std::chrono::milliseconds connect{};
    std::chrono::milliseconds command{};
  };
  enum class Outcome { ok, unreachable, refused };

  RedisConnection(RedisAddress address, Timeouts timeouts) : address_(std::move(address)), timeouts_(timeouts) {}
  ~RedisConnection() { disconnect(); }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects, authenticates and selects the database unless already connected. `unreachable`
  // (down, restarting, timed out) is worth retrying; `refused` (bad password, no such
  // database) is not. error() says why.
  Outcome ensure_connected();
  bool connected() const { return context_ != nullptr; }

  // Queues raw RESP commands; they are sent with the first read.
  bool append(const RespWriter& commands);
  // The next reply, or null when the connection broke (then it is closed; error() says why).
  RedisReply read_reply();
  // Sends one command and waits for its reply (null when the connection broke).
  RedisReply call(const RespWriter& command);

  void disconnect();
  void interrupt();
  const std::string& error() const { return error_; }

 private:
  void fail(std::string reason);

  RedisAddress address_;
  Timeouts timeouts_;
  redisContext* context_ = nullptr;
  // Guards context_ against interrupt() while the owner replaces or frees it.
  std::mutex context_mutex_;
  std::string error_;
};

}  // namespace invalidator::plugins
