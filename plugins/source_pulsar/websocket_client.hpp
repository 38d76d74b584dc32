#pragma once

// One WebSocket client connection (Boost.Beast), ws:// or wss://, driven by an io_context the
// caller runs on one thread: connect, send text frames in order, receive them, keep the
// connection alive with pings, close. Every callback of the listener runs on that thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins::pulsar {

// ws://host[:port][/prefix] or wss://...: where a WebSocket service listens.
struct WebSocketUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path_prefix;  // prepended to every endpoint's path (a service behind a proxy)
};
sdk::Result<WebSocketUrl> parse_websocket_url(std::string_view url);

class WebSocketClient {
 public:
  // How a connection ended. `requested`: close() was called and the close went through.
  struct Ending {
    bool requested = false;
    std::string reason;
    unsigned http_status = 0;  // the handshake's answer when the server refused the upgrade
  };
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void opened() = 0;
    virtual void received(std::string frame) = 0;
    // Once per connection, last.
    virtual void ended(const Ending& ending) = 0;
  };
  struct Settings {
    WebSocketUrl url;
    std::string target;  // path and query, after the url's prefix
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds connect_timeout{10000};
    // Without a frame for half of it, a ping is sent; without any for all of it, the
    // connection is taken for dead and ends.
    std::chrono::milliseconds idle_timeout{30000};
  };

  virtual ~WebSocketClient() = default;
  // Starts connecting. `tls` is used for wss:// and must outlive the connection.
  static std::shared_ptr<WebSocketClient> connect(boost::asio::io_context& io, boost::asio::ssl::context* tls,
                                                  Settings settings, Listener& listener);

  // Queues a text frame; sent in order once open. Ignored after the end.
  virtual void send(std::string frame) = 0;
  // Sends what is queued, then a close frame; ended() follows.
  virtual void close() = 0;
  // Ends at once, without a close frame; ended() is not called.
  virtual void abort() = 0;
  virtual bool is_open() const = 0;
};

}  // namespace invalidator::plugins::pulsar
