#pragma once

// The admin endpoint's HTTP server (Boost.Beast): GET requests answered by a handler on a
// thread of its own, so that nothing on the pipeline's path ever waits for a scrape.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "invalidator/sdk/result.hpp"

namespace invalidator::admin {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// host:port, [v6]:port; port 0 picks a free one.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  bool loopback = false;
};
sdk::Result<ListenAddress> parse_listen_address(std::string_view text);

class AdminServer {
 public:
  // Answers GET (and HEAD) of a path; called on the server's thread, one request at a time.
  using Handler = std::function<HttpAnswer(std::string_view path)>;

  static sdk::Result<std::unique_ptr<AdminServer>> start(const ListenAddress& address, Handler handler);
  ~AdminServer();  // closes the listening socket and every connection, and joins the thread
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  std::uint16_t port() const;

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace invalidator::admin
