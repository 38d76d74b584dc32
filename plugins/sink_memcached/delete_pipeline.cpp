#include "delete_pipeline.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace invalidator::plugins {
namespace {

// Replies are read after this many commands: enough to fill the network, few enough that
// neither side's socket buffer fills with the other side's bytes.
constexpr std::size_t kCommandsPerRound = 1024;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

bool DeletePipeline::is_text_safe(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') return false;
  }
  return true;
}

std::optional<std::string> DeletePipeline::connect() {
  if (fd_ >= 0) return std::nullopt;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  std::string port = std::to_string(port_);
  if (int error = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &addresses); error != 0) {
    return "cannot resolve " + host_ + ": " + ::gai_strerror(error);
  }
  std::string last_error = "no address";
  for (addrinfo* address = addresses; address != nullptr && fd_ < 0; address = address->ai_next) {
    int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    int started = ::connect(fd, address->ai_addr, address->ai_addrlen);
    if (started != 0 && errno == EINPROGRESS) {
      pollfd polled{fd, POLLOUT, 0};
      int ready = ::poll(&polled, 1, static_cast<int>(connect_timeout_.count()));
      int error = 0;
      socklen_t length = sizeof error;
      if (ready == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
        started = 0;
      } else {
        errno = ready == 0 ? ETIMEDOUT : error;
      }
    }
    if (started != 0) {
      last_error = errno_text("connect");
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    timeval timeout{};
    timeout.tv_sec = static_cast<time_t>(command_timeout_.count() / 1000);
    timeout.tv_usec = static_cast<suseconds_t>((command_timeout_.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    fd_ = fd;
  }
  ::freeaddrinfo(addresses);
  if (fd_ < 0) return describe() + ": " + last_error;
  return std::nullopt;
}

void DeletePipeline::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  received_.clear();
  consumed_ = 0;
}

std::optional<std::string> DeletePipeline::send_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) {
      std::string reason = describe() + ": " + errno_text("send");
      disconnect();
      return reason;
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return std::nullopt;
}

std::optional<std::string_view> DeletePipeline::read_line() {
  for (;;) {
    auto end = received_.find("\r\n", consumed_);
    if (end != std::string::npos) {
      std::string_view line(received_.data() + consumed_, end - consumed_);
      consumed_ = end + 2;
      return line;
    }
    if (consumed_ > 0) {
      received_.erase(0, consumed_);
      consumed_ = 0;
    }
    char buffer[16384];
    ssize_t received = ::recv(fd_, buffer, sizeof buffer, 0);
    if (received < 0 && errno == EINTR) continue;
    if (received == 0) read_error_ = "connection closed";
    if (received < 0) read_error_ = errno_text("reply");
    if (received <= 0) return std::nullopt;
    received_.append(buffer, static_cast<std::size_t>(received));
  }
}

std::optional<std::string> DeletePipeline::run(std::span<const std::string_view> keys, std::vector<Failure>& failures) {
  if (auto error = connect()) return error;
  for (std::size_t begin = 0; begin < keys.size(); begin += kCommandsPerRound) {
    std::size_t end = std::min(keys.size(), begin + kCommandsPerRound);
    request_.clear();
    for (std::size_t i = begin; i < end; ++i) request_.append("delete ").append(keys[i]).append("\r\n");
    if (auto error = send_all(request_)) return error;
    for (std::size_t i = begin; i < end; ++i) {
      auto line = read_line();
      if (!line) {
        std::string reason = describe() + ": " + read_error_;
        disconnect();
        return reason;
      }
      if (*line == "DELETED" || *line == "NOT_FOUND") continue;
      // SERVER_ERROR (out of memory...) may pass; CLIENT_ERROR and ERROR will not.
      failures.push_back({i, describe() + ": " + std::string(*line), line->starts_with("SERVER_ERROR")});
    }
  }
  return std::nullopt;
}

}  // namespace invalidator::plugins
