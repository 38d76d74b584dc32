#pragma once

// A loopback server speaking RESP (the Redis protocol) that answers each command with what a
// test says: for replies a real server will not give (a cluster's MOVED, a reply of the wrong
// type from a misbehaving proxy).

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace invalidator::testing {

class FakeRespServer {
 public:
  // `answer` gets each command as its arguments and returns the raw RESP reply.
  using Answer = std::function<std::string(const std::vector<std::string>& command)>;
  explicit FakeRespServer(Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeRespServer() {
    quit_ = true;
    thread_.join();
    ::close(listener_);
  }
  FakeRespServer(const FakeRespServer&) = delete;
  FakeRespServer& operator=(const FakeRespServer&) = delete;

  int port() const { return port_; }
  std::vector<std::vector<std::string>> commands() {
    std::lock_guard guard(mutex_);
    return commands_;
  }

 private:
  void run() {
    std::vector<pollfd> polled{{listener_, POLLIN, 0}};
    std::vector<std::string> buffers{""};
    while (!quit_) {
      if (::poll(polled.data(), polled.size(), 20) <= 0) continue;
      if (polled[0].revents & POLLIN) {
        int client = ::accept(listener_, nullptr, nullptr);
        if (client >= 0) {
          polled.push_back({client, POLLIN, 0});
          buffers.emplace_back();
        }
      }
      for (std::size_t i = 1; i < polled.size(); ++i) {
        if (!(polled[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char chunk[4096];
        const ssize_t got = ::read(polled[i].fd, chunk, sizeof chunk);
        if (got <= 0) {
          ::close(polled[i].fd);
          polled[i].fd = -1;  // poll ignores it from now on
          continue;
        }
        buffers[i].append(chunk, static_cast<std::size_t>(got));
        std::string replies;
        while (auto command = take_command(buffers[i])) {
          {
            std::lock_guard guard(mutex_);
            commands_.push_back(*command);
          }
          replies += answer_(*command);
        }
        if (!replies.empty()) (void)!::write(polled[i].fd, replies.data(), replies.size());
      }
    }
    for (std::size_t i = 1; i < polled.size(); ++i) {
      if (polled[i].fd >= 0) ::close(polled[i].fd);
    }
  }
  // A whole command (*N then N bulk strings) from the front of `buffer`, removed from it.
  static std::optional<std::vector<std::string>> take_command(std::string& buffer) {
    std::size_t at = 0;
    auto line = [&]() -> std::optional<std::string> {
      const std::size_t end = buffer.find("\r\n", at);
      if (end == std::string::npos) return std::nullopt;
      std::string text = buffer.substr(at, end - at);
      at = end + 2;
      return text;
    };
    auto header = line();
    if (!header || header->empty() || (*header)[0] != '*') return std::nullopt;
    std::vector<std::string> arguments(std::stoul(header->substr(1)));
    for (auto& argument : arguments) {
      auto size = line();
      if (!size) return std::nullopt;
      const std::size_t length = std::stoul(size->substr(1));
      if (buffer.size() < at + length + 2) return std::nullopt;
      argument = buffer.substr(at, length);
      at += length + 2;
    }
    buffer.erase(0, at);
    return arguments;
  }

  Answer answer_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> quit_{false};
  std::mutex mutex_;
  std::vector<std::vector<std::string>> commands_;
  std::thread thread_;
};

}  // namespace invalidator::testing
