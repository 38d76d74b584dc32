#include "support/tls_front.hpp"

#include <fcntl.h>

#include <array>
#include <utility>  // before Boost.Asio's awaitable.hpp, which uses std::exchange without it
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <thread>

namespace invalidator::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// One client's connection and its connection to the server, bytes copied both ways.
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(tcp::socket client, asio::ssl::context& tls, std::uint16_t backend_port)
      : client_(std::move(client), tls), backend_(client_.get_executor()), backend_port_(backend_port) {}

  void start() {
    client_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](error_code error) {
      if (error) return self->close();
      self->backend_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), self->backend_port_),
                                   [self](error_code connected) {
                                     if (connected) return self->close();
                                     self->client_to_backend();
                                     self->backend_to_client();
                                   });
    });
  }

 private:
  void client_to_backend() {
    client_.async_read_some(asio::buffer(up_), [self = shared_from_this()](error_code error, std::size_t read) {
      if (error) return self->close();
      asio::async_write(self->backend_, asio::buffer(self->up_, read), [self](error_code written, std::size_t) {
        if (written) return self->close();
        self->client_to_backend();
      });
    });
  }
  void backend_to_client() {
    backend_.async_read_some(asio::buffer(down_), [self = shared_from_this()](error_code error, std::size_t read) {
      if (error) return self->close();
      asio::async_write(self->client_, asio::buffer(self->down_, read), [self](error_code written, std::size_t) {
        if (written) return self->close();
        self->backend_to_client();
      });
    });
  }
  void close() {
    error_code ignored;
    client_.lowest_layer().close(ignored);
    backend_.close(ignored);
  }

  asio::ssl::stream<tcp::socket> client_;
  tcp::socket backend_;
  std::uint16_t backend_port_;
  std::array<char, 16384> up_{};
  std::array<char, 16384> down_{};
};

}  // namespace

struct TlsFront::Impl {
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  std::uint16_t backend_port = 0;
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](error_code error, tcp::socket socket) {
      if (error) return;
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      std::make_shared<Relay>(std::move(socket), tls, backend_port)->start();
      accept();
    });
  }
};

TlsFront::TlsFront(const std::filesystem::path& certificate, const std::filesystem::path& key,
                   std::uint16_t backend_port)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend_port = backend_port;
  impl_->tls.use_certificate_chain_file(certificate.string());
  impl_->tls.use_private_key_file(key.string(), asio::ssl::context::pem);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  ::fcntl(impl_->acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

TlsFront::~TlsFront() {
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t TlsFront::port() const { return impl_->acceptor.local_endpoint().port(); }

bool make_self_signed_certificate(const std::filesystem::path& directory) {
  const std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                              "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
                              (directory / "key.pem").string() + "' -out '" + (directory / "cert.pem").string() +
                              "' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

}  // namespace invalidator::testing
