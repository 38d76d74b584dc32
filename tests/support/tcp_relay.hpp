#pragma once

// A loopback TCP relay between a client under test and a server, which a test can cut:
// close() resets every connection and each new one at once (to the client the server is
// down), open() relays again. It keeps listening throughout, so that its port stays its own. Lets a test act on the server while the client cannot reach it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace invalidator::testing {

class TcpRelay {
 public:
  explicit TcpRelay(int target_port) : target_port_(target_port) {
    listen_on(0);
    thread_ = std::thread([this] { run(); });
  }
  ~TcpRelay() {
    quit_ = true;
    thread_.join();
    drop_all();
    ::close(listener_);
  }
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  // Returns once the relay has dropped its connections.
  void close() { request(false); }
  void open() { request(true); }

 private:
  struct Pair {
    int client;
    int server;
  };

  void request(bool open) {
    want_open_ = open;
    while (is_open_ != open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void listen_on(int port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 64) != 0) {
      throw std::runtime_error("relay: cannot listen");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }

  int connect_to_server() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(target_port_));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Closes with a reset, as a crashed server would, leaving no half-closed state behind.
  static void reset(int fd) {
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    ::close(fd);
  }

  void drop_all() {
    for (const Pair& pair : pairs_) {
      reset(pair.client);
      reset(pair.server);
    }
    pairs_.clear();
  }

  static bool forward(int from, int to) {
    char buffer[65536];
    ssize_t received = ::recv(from, buffer, sizeof buffer, 0);
    if (received <= 0) return false;
    for (ssize_t sent = 0; sent < received;) {
      ssize_t written = ::send(to, buffer + sent, static_cast<std::size_t>(received - sent), MSG_NOSIGNAL);
      if (written <= 0) return false;
      sent += written;
    }
    return true;
  }

  void run() {
    while (!quit_) {
      if (want_open_ != is_open_) {
        if (!want_open_) drop_all();
        is_open_ = want_open_.load();
      }
      std::vector<pollfd> polled;
      polled.push_back({listener_, POLLIN, 0});
      for (const Pair& pair : pairs_) {
        polled.push_back({pair.client, POLLIN, 0});
        polled.push_back({pair.server, POLLIN, 0});
      }
      if (::poll(polled.data(), polled.size(), 5) <= 0) continue;
      std::size_t next = 1;
      if (polled[0].revents & POLLIN) {
        int client = ::accept(listener_, nullptr, nullptr);
        int server = client >= 0 && is_open_ ? connect_to_server() : -1;
        if (server >= 0) {
          pairs_.push_back({client, server});
        } else if (client >= 0) {
          reset(client);
        }
      }
      std::vector<Pair> kept;
      std::size_t polled_pairs = (polled.size() - next) / 2;
      for (std::size_t i = 0; i < pairs_.size(); ++i) {
        const Pair& pair = pairs_[i];
        bool alive = true;
        if (i < polled_pairs) {
          const pollfd& client = polled[next + 2 * i];
          const pollfd& server = polled[next + 2 * i + 1];
          if (client.revents & (POLLIN | POLLHUP | POLLERR)) alive = forward(pair.client, pair.server);
          if (alive && (server.revents & (POLLIN | POLLHUP | POLLERR))) alive = forward(pair.server, pair.client);
        }
        if (alive) {
          kept.push_back(pair);
        } else {
          ::close(pair.client);
          ::close(pair.server);
        }
      }
      pairs_ = std::move(kept);
    }
  }

  int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::vector<Pair> pairs_;
  std::atomic<bool> want_open_{true};
  std::atomic<bool> is_open_{true};
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

}  // namespace invalidator::testing
