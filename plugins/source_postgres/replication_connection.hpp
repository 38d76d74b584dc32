#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins {

// Both directions of a started logical replication stream: what the source's reading loop
// needs of a connection (and what a test gives it instead of a server).
class ReplicationStream {
 public:
  virtual ~ReplicationStream() = default;
  // The next CopyData frame from the server, waiting at most `wait`; nullopt when none came.
  // The view is valid until the next call. An error means the stream is over (connection lost,
  // server shut down): the caller connects again.
  virtual sdk::Result<std::optional<std::string_view>> next_frame(std::chrono::milliseconds wait) = 0;
  // Sends a CopyData frame (a Standby Status Update) and flushes it.
  virtual sdk::Status send_frame(std::string_view frame) = 0;
};

// A libpq connection to PostgreSQL, either a plain one or a logical replication one
// (replication=database), which runs SQL until START_REPLICATION turns it into a stream of
// CopyData frames both ways.
class PostgresConnection final : public ReplicationStream {
 public:
  enum class Kind { plain, replication };
  using Rows = std::vector<std::vector<std::optional<std::string>>>;

  // Connects without blocking past a stop request or `timeout`. A failure is transient (the
  // server may be starting, restarting or unreachable for a while) unless it is one that
  // waiting will not mend: a password, a missing database, no replication permission.
  static sdk::Result<std::unique_ptr<PostgresConnection>> open(const std::string& dsn, Kind kind,
                                                                std::chrono::milliseconds timeout,
                                                                const std::stop_token& stop);
  ~PostgresConnection() override;
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  // Runs one statement (simple query protocol: a replication connection knows no other) and
  // returns its rows as text. The error carries the server's SQLSTATE (sqlstate()).
  sdk::Result<Rows> query(const std::string& sql);
  // The SQLSTATE of the last failed statement ("55006": the slot is in use, say).
  const std::string& sqlstate() const { return sqlstate_; }

  std::string quote_literal(std::string_view text) const;
  std::string quote_identifier(std::string_view text) const;
  int server_version() const;

  // Sends a START_REPLICATION command and enters copy-both mode.
  sdk::Status start_replication(const std::string& command);
  sdk::Result<std::optional<std::string_view>> next_frame(std::chrono::milliseconds wait) override;
  sdk::Status send_frame(std::string_view frame) override;

 private:
  explicit PostgresConnection(PGconn* connection) : connection_(connection) {}
  std::string last_error() const;
  sdk::Status lost(const std::string& what);

  PGconn* connection_;
  struct FreeBuffer {
    void operator()(char* buffer) const { PQfreemem(buffer); }
  };
  std::unique_ptr<char, FreeBuffer> frame_;
  std::string sqlstate_;
};

}  // namespace invalidator::plugins
