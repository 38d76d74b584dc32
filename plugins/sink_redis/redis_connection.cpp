#include "redis_connection.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>

namespace invalidator::plugins {
namespace {

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(duration.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return value;
}

}  // namespace

std::string reply_text(const redisReply& reply) { return std::string(reply.str, reply.len); }

std::string_view error_code(const redisReply& reply) {
  std::string_view text(reply.str, reply.len);
  return text.substr(0, text.find(' '));
}

bool is_transient_server_error(std::string_view code) {
  static constexpr std::array kTransient = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN"};
  for (std::string_view transient : kTransient) {
    if (code == transient) return true;
  }
  return false;
}

bool is_authentication_error(std::string_view code) {
  return code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM";
}

RedisConnection::Outcome RedisConnection::ensure_connected() {
  if (context_ != nullptr) return Outcome::ok;
  timeval connect_timeout = to_timeval(timeouts_.connect);
  redisContext* context = address_.is_unix()
                              ? redisConnectUnixWithTimeout(address_.socket_path.c_str(), connect_timeout)
                              : redisConnectWithTimeout(address_.host.c_str(), address_.port, connect_timeout);
  if (context == nullptr) {
    error_ = "cannot allocate a Redis connection";
    return Outcome::unreachable;
  }
  if (context->err != 0) {
    error_ = "cannot connect to " + address_.describe() + ": " + context->errstr;
    redisFree(context);
    return Outcome::unreachable;
  }
  redisSetTimeout(context, to_timeval(timeouts_.command));
  if (!address_.is_unix()) redisEnableKeepAlive(context);
  {
    std::lock_guard lock(context_mutex_);
    context_ = context;
  }

  auto setup = [&](const RespWriter& command, std::string_view what) -> Outcome {
    RedisReply reply = call(command);
    if (!reply) return Outcome::unreachable;
    if (reply->type == REDIS_REPLY_ERROR) {
      std::string message = what.empty() ? reply_text(*reply) : std::string(what) + ": " + reply_text(*reply);
      bool transient = is_transient_server_error(error_code(*reply));
      disconnect();
      error_ = message;
      return transient ? Outcome::unreachable : Outcome::refused;
    }
    return Outcome::ok;
  };
  if (!address_.password.empty() || !address_.user.empty()) {
    RespWriter auth;
    if (address_.user.empty()) {
      auth.command(2);
      auth.argument("AUTH");
      auth.argument(address_.password);
    } else {
      auth.command(3);
      auth.argument("AUTH");
      auth.argument(address_.user);
      auth.argument(address_.password);
    }
    if (auto outcome = setup(auth, "authentication failed"); outcome != Outcome::ok) return outcome;
  }
  if (address_.database != 0) {
    RespWriter select;
    select.command(2);
    select.argument("SELECT");
    select.argument(static_cast<std::uint64_t>(address_.database));
    if (auto outcome = setup(select, "cannot select database " + std::to_string(address_.database));
        outcome != Outcome::ok) {
      return outcome;
    }
  }
  return Outcome::ok;
}

bool RedisConnection::append(const RespWriter& commands) {
  if (context_ == nullptr) return false;
  if (redisAppendFormattedCommand(context_, commands.data().data(), commands.data().size()) != REDIS_OK) {
    fail(context_->errstr);
    return false;
  }
  return true;
}

RedisReply RedisConnection::read_reply() {
  if (context_ == nullptr) return nullptr;
  void* raw = nullptr;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
    fail(context_->err != 0 ? context_->errstr : "no reply");
    return nullptr;
  }
  return RedisReply(static_cast<redisReply*>(raw));
}

RedisReply RedisConnection::call(const RespWriter& command) {
  if (!append(command)) return nullptr;
  return read_reply();
}

void RedisConnection::fail(std::string reason) {
  error_ = "connection to " + address_.describe() + " lost: " + (reason.empty() ? "closed" : reason);
  disconnect();
}

void RedisConnection::disconnect() {
  redisContext* context = nullptr;
  {
    std::lock_guard lock(context_mutex_);
    context = context_;
    context_ = nullptr;
  }
  if (context != nullptr) redisFree(context);
}

void RedisConnection::interrupt() {
  std::lock_guard lock(context_mutex_);
  if (context_ != nullptr && context_->fd >= 0) ::shutdown(context_->fd, SHUT_RDWR);
}

}  // namespace invalidator::plugins
