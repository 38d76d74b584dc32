#pragma once

// A plain hiredis client for tests: what a service reading the cache would do.

#include <hiredis/hiredis.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace invalidator::testing {

class RedisClient {
 public:
  explicit RedisClient(int port) : context_(redisConnect("127.0.0.1", port)) {
    if (context_ == nullptr || context_->err != 0) {
      throw std::runtime_error("cannot connect to Redis on port " + std::to_string(port));
    }
  }
  ~RedisClient() { redisFree(context_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  struct Reply {
    int type = REDIS_REPLY_NIL;
    std::string text;  // string, status or error
    long long integer = 0;
    std::vector<std::optional<std::string>> elements;  // array of strings (nil: nullopt)
  };

  Reply command(const std::vector<std::string>& arguments) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& argument : arguments) {
      argv.push_back(argument.data());
      lengths.push_back(argument.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (raw == nullptr) throw std::runtime_error(std::string("Redis: ") + context_->errstr);
    Reply reply;
    reply.type = raw->type;
    if (raw->str != nullptr) reply.text.assign(raw->str, raw->len);
    reply.integer = raw->integer;
    for (std::size_t i = 0; i < raw->elements; ++i) {
      const redisReply* element = raw->element[i];
      if (element->type == REDIS_REPLY_NIL) {
        reply.elements.emplace_back(std::nullopt);
      } else {
        reply.elements.emplace_back(std::string(element->str ? element->str : "", element->len));
      }
    }
    freeReplyObject(raw);
    return reply;
  }

  void set(const std::string& key, const std::string& value) { command({"SET", key, value}); }
  std::optional<std::string> get(const std::string& key) {
    Reply reply = command({"GET", key});
    if (reply.type != REDIS_REPLY_STRING) return std::nullopt;
    return reply.text;
  }
  long long dbsize() { return command({"DBSIZE"}).integer; }

  // Many SETs in one pipeline (pre-populating thousands of keys one round trip each is slow).
  void set_many(const std::vector<std::string>& keys, const std::string& value) {
    for (const auto& key : keys) {
      const char* argv[] = {"SET", key.data(), value.data()};
      const std::size_t lengths[] = {3, key.size(), value.size()};
      redisAppendCommandArgv(context_, 3, argv, lengths);
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK) throw std::runtime_error("Redis pipeline broke");
      freeReplyObject(raw);
    }
  }

 private:
  redisContext* context_;
};

// How many keys a Redis server holds; -1 while it cannot be reached (restarting, say).
inline long long redis_keys_left(int port) {
  try {
    return RedisClient(port).dbsize();
  } catch (const std::exception&) {
    return -1;
  }
}

// Waits (bounded) until the server holds fewer than `below` keys: a process test caches every
// key its stream will invalidate, so "nothing missed" is an empty server.
inline bool wait_until_fewer_keys_than(int port, long long below, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const long long left = redis_keys_left(port);
    if (left >= 0 && left < below) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace invalidator::testing
