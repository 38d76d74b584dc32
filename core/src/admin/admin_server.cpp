#include "admin/admin_server.hpp"

#include <utility>  // before asio: its awaitable.hpp uses std::exchange without including it

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>
#include <thread>

namespace invalidator::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A scrape is small; a client that sends nothing for this long is dropped.
constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr std::size_t kLargestRequest = 16 * 1024;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const AdminServer::Handler& handler) : stream_(std::move(socket)), handler_(handler) {}

  void read() {
    request_ = {};
    parser_.emplace();
    parser_->body_limit(kLargestRequest);
    parser_->header_limit(kLargestRequest);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, std::size_t) { self->answer(error); });
  }

 private:
  void answer(beast::error_code error) {
    if (error) return;  // closed, timed out or malformed: the connection ends
    request_ = parser_->release();
    response_ = {};
    response_.version(request_.version());
    response_.set(http::field::server, "invalidator");
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "only GET and HEAD\n";
    } else {
      const auto raw_target = request_.target();
      std::string_view target(raw_target.data(), raw_target.size());
      target = target.substr(0, target.find('?'));
      HttpAnswer answer;
      try {
        answer = handler_(target);
      } catch (const std::exception& failure) {
        answer = HttpAnswer{500, "text/plain; charset=utf-8", std::string("error: ") + failure.what() + "\n"};
      }
      response_.result(static_cast<unsigned>(answer.status));
      response_.set(http::field::content_type, answer.content_type);
      response_.set(http::field::cache_control, "no-store");
      response_.body() = std::move(answer.body);
    }
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    if (request_.method() == http::verb::head) response_.body().clear();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code write_error, std::size_t) {
      if (write_error) return;
      if (!self->response_.keep_alive()) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      self->read();
    });
  }

  beast::tcp_stream stream_;
  const AdminServer::Handler& handler_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

struct AdminServer::Impl {
  explicit Impl(Handler answer) : handler(std::move(answer)) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;
      if (!error) std::make_shared<Connection>(std::move(socket), handler)->read();
      accept();
    });
  }

  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
};

sdk::Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress address;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return sdk::Status::error("'" + std::string(text) + "' is not [address]:port");
    }
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return sdk::Status::error("'" + std::string(text) + "' has no port (write host:port)");
    address.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return sdk::Status::error("'" + std::string(port_text) + "' is not a port number (0 to 65535)");
  }
  address.port = static_cast<std::uint16_t>(port);
  boost::system::error_code bad;
  const auto ip = asio::ip::make_address(address.host, bad);
  if (bad) return sdk::Status::error("'" + address.host + "' is not an IP address (write 127.0.0.1 or [::1])");
  address.loopback = ip.is_loopback();
  return address;
}

sdk::Result<std::unique_ptr<AdminServer>> AdminServer::start(const ListenAddress& address, Handler handler) {
  auto impl = std::make_unique<Impl>(std::move(handler));
  const tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
  beast::error_code error;
  impl->acceptor.open(endpoint.protocol(), error);
  if (!error) impl->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl->acceptor.bind(endpoint, error);
  if (!error) impl->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return sdk::Status::error("engine.admin: cannot listen on " + address.host + ":" + std::to_string(address.port) +
                              ": " + error.message());
  }
  impl->accept();
  Impl* running = impl.get();
  impl->thread = std::thread([running] { running->io.run(); });
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t AdminServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace invalidator::admin
