#include "websocket_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <type_traits>

namespace invalidator::plugins::pulsar {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

using PlainStream = websocket::stream<beast::tcp_stream>;
using TlsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

template <typename Stream>
class Connection final : public WebSocketClient, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(asio::io_context& io, asio::ssl::context* tls, Settings settings, Listener& listener)
      : resolver_(io), ws_(make_stream(io, tls)), settings_(std::move(settings)), listener_(listener) {}

  void start() {
    resolver_.async_resolve(settings_.url.host, settings_.url.port,
                            [self = this->shared_from_this()](beast::error_code error, tcp::resolver::results_type found) {
                              if (error) return self->end("cannot resolve " + self->settings_.url.host + ": " + error.message());
                              self->connect(found);
                            });
  }

  void send(std::string frame) override {
    if (ended_) return;
    writes_.push_back(std::move(frame));
    if (open_ && !writing_) write_next();
  }

  void close() override {
    if (ended_ || closing_) return;
    closing_ = true;
    if (!open_) {  // not connected yet: nothing to say goodbye to
      requested_ = true;
      return drop("closed before it was open");
    }
    if (!writing_) close_now();
  }

  void abort() override {
    if (ended_) return;
    ended_ = true;
    open_ = false;
    beast::error_code ignored;
    resolver_.cancel();
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  bool is_open() const override { return open_ && !closing_; }

 private:
  static Stream make_stream(asio::io_context& io, asio::ssl::context* tls) {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      return Stream(io, *tls);
    } else {
      (void)tls;
      return Stream(io);
    }
  }

  void connect(const tcp::resolver::results_type& found) {
    auto& tcp_layer = beast::get_lowest_layer(ws_);
    tcp_layer.expires_after(settings_.connect_timeout);
    tcp_layer.async_connect(found, [self = this->shared_from_this()](beast::error_code error,
                                                                     const tcp::endpoint&) {
      if (error) {
        return self->end("cannot connect to " + self->settings_.url.host + ":" + self->settings_.url.port + ": " +
                         error.message());
      }
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        self->tls_handshake();
      } else {
        self->upgrade();
      }
    });
  }

  void tls_handshake() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      auto& tls = ws_.next_layer();
      // SNI, and the certificate must name the host.
      SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(settings_.url.host.c_str()));
      tls.set_verify_mode(asio::ssl::verify_peer);
      tls.set_verify_callback(asio::ssl::host_name_verification(settings_.url.host));
      tls.async_handshake(asio::ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code error) {
        if (error) return self->end("TLS handshake with " + self->settings_.url.host + " failed: " + error.message());
        self->upgrade();
      });
    }
  }

  void upgrade() {
    beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timeouts take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = settings_.connect_timeout;
    timeouts.idle_timeout = settings_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([headers = settings_.headers](websocket::request_type& request) {
      request.set(http::field::user_agent, "invalidator");
      for (const auto& [name, value] : headers) request.set(name, value);
    }));
    std::string host = settings_.url.host;
    if (!settings_.url.port.empty()) host += ":" + settings_.url.port;
    ws_.async_handshake(response_, host, settings_.url.path_prefix + settings_.target,
                        [self = this->shared_from_this()](beast::error_code error) { self->upgraded(error); });
  }

  void upgraded(beast::error_code error) {
    if (error) {
      const unsigned status = response_.result_int();
      if (error == websocket::error::upgrade_declined && status != 0) {
        std::string body = response_.body();
        if (body.size() > 300) body = body.substr(0, 300) + "...";
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        return end("the server answered HTTP " + std::to_string(status) + " " + std::string(response_.reason()) +
                       (body.empty() ? "" : ": " + body),
                   status);
      }
      return end("WebSocket handshake failed: " + error.message());
    }
    open_ = true;
    ws_.text(true);
    listener_.opened();
    if (ended_) return;
    if (closing_) return close_now();
    if (!writes_.empty() && !writing_) write_next();
    read_next();
  }

  void read_next() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code error, std::size_t) {
      if (error) return self->read_failed(error);
      std::string frame = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      self->listener_.received(std::move(frame));
      if (!self->ended_) self->read_next();
    });
  }

  void read_failed(beast::error_code error) {
    if (ended_) return;
    if (error == websocket::error::closed) {
      const auto& reason = ws_.reason();
      if (closing_) {
        requested_ = true;
        return end("closed");
      }
      return end("the server closed the connection (code " + std::to_string(reason.code) +
                 (reason.reason.empty() ? std::string() : ": " + std::string(reason.reason.c_str())) + ")");
    }
    if (error == beast::error::timeout) {
      return end("no frame and no answer to pings for " + std::to_string(settings_.idle_timeout.count()) +
                 " ms: the connection is taken for dead");
    }
    end("connection lost: " + error.message());
  }

  void write_next() {
    writing_ = true;
    ws_.async_write(asio::buffer(writes_.front()), [self = this->shared_from_this()](beast::error_code error, std::size_t) {
      self->writing_ = false;
      if (error) return self->end("cannot send: " + error.message());
      self->writes_.pop_front();
      if (self->ended_) return;
      if (!self->writes_.empty()) return self->write_next();
      if (self->closing_) self->close_now();
    });
  }

  void close_now() {
    ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](beast::error_code error) {
      self->requested_ = true;
      // The read under way ends with `closed` once the server answers; this ends it if not.
      if (error) self->end("closed");
    });
  }

  void drop(const std::string& reason) {
    beast::error_code ignored;
    resolver_.cancel();
    beast::get_lowest_layer(ws_).socket().close(ignored);
    end(reason);
  }

  void end(const std::string& reason, unsigned http_status = 0) {
    if (ended_) return;
    ended_ = true;
    open_ = false;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    listener_.ended(Ending{requested_, reason, http_status});
  }

  tcp::resolver resolver_;
  Stream ws_;
  Settings settings_;
  Listener& listener_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::deque<std::string> writes_;
  bool writing_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool requested_ = false;
  bool ended_ = false;
};

}  // namespace

sdk::Result<WebSocketUrl> parse_websocket_url(std::string_view url) {
  WebSocketUrl parsed;
  std::string_view rest;
  if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else if (url.rfind("wss://", 0) == 0) {
    parsed.tls = true;
    rest = url.substr(6);
  } else {
    return sdk::Status::error("'" + std::string(url) + "' is not a WebSocket URL: write ws://host:8080 or wss://host:8443");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    parsed.path_prefix = std::string(rest.substr(slash));
    while (!parsed.path_prefix.empty() && parsed.path_prefix.back() == '/') parsed.path_prefix.pop_back();
  }
  if (!authority.empty() && authority.front() == '[') {  // [::1]:8080
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return sdk::Status::error("'" + std::string(url) + "': an unclosed [ in the host");
    parsed.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() == ':') parsed.port = std::string(authority.substr(1));
  } else {
    const std::size_t colon = authority.rfind(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) parsed.port = std::string(authority.substr(colon + 1));
  }
  if (parsed.host.empty()) return sdk::Status::error("'" + std::string(url) + "' names no host");
  if (parsed.port.empty()) parsed.port = parsed.tls ? "443" : "80";
  for (char c : parsed.port) {
    if (c < '0' || c > '9') return sdk::Status::error("'" + std::string(url) + "': the port '" + parsed.port + "' is not a number");
  }
  return parsed;
}

std::shared_ptr<WebSocketClient> WebSocketClient::connect(asio::io_context& io, asio::ssl::context* tls,
                                                          Settings settings, Listener& listener) {
  if (settings.url.tls) {
    auto connection = std::make_shared<Connection<TlsStream>>(io, tls, std::move(settings), listener);
    connection->start();
    return connection;
  }
  auto connection = std::make_shared<Connection<PlainStream>>(io, tls, std::move(settings), listener);
  connection->start();
  return connection;
}

}  // namespace invalidator::plugins::pulsar
