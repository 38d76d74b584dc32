#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace invalidator::plugins {

// Acknowledged deletes to one memcached server, pipelined: libmemcached waits for each reply
// before sending the next command, which bounds it to one delete per round trip. Here a run
// of `delete <key>` lines (text protocol) goes out at once and the replies are read after,
// one per key, so every delete is still confirmed.
class DeletePipeline {
 public:
  struct Failure {
    std::size_t index;  // into the keys given to run()
    std::string reason;
    bool retryable;
  };

  DeletePipeline(std::string host, std::uint16_t port, std::chrono::milliseconds connect_timeout,
                 std::chrono::milliseconds command_timeout)
      : host_(std::move(host)), port_(port), connect_timeout_(connect_timeout), command_timeout_(command_timeout) {}
  ~DeletePipeline() { disconnect(); }
  DeletePipeline(const DeletePipeline&) = delete;
  DeletePipeline& operator=(const DeletePipeline&) = delete;

  // Deletes `keys`; per-key refusals go to `failures`. Returns the reason when the server could
  // not be reached or the connection broke (then some deletes may not have been applied).
  std::optional<std::string> run(std::span<const std::string_view> keys, std::vector<Failure>& failures);

  // Whether the text protocol can carry this text in a key: no spaces or control characters
  // (keys are also limited to 250 bytes).
  static bool is_text_safe(std::string_view text);
  std::string describe() const { return host_ + ":" + std::to_string(port_); }

 private:
  std::optional<std::string> connect();
  void disconnect();
  std::optional<std::string> send_all(std::string_view data);
  // The next reply line, without its "\r\n"; nullopt when the connection broke.
  std::optional<std::string_view> read_line();

  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds command_timeout_;
  int fd_ = -1;
  std::string request_;
  std::string received_;
  std::size_t consumed_ = 0;
  std::string read_error_;
};

}  // namespace invalidator::plugins
