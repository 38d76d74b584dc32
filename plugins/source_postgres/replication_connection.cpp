#include "replication_connection.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

namespace invalidator::plugins {

namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPointer = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's messages end with a newline; ours are joined into sentences.
std::string trimmed(const char* text) {
  std::string message = text == nullptr ? "" : text;
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

// Waits until the socket is readable (or writable), a stop request, or `wait` passes.
int wait_for_socket(int socket, short events, std::chrono::milliseconds wait) {
  struct pollfd ready {socket, events, 0};
  int polled = ::poll(&ready, 1, static_cast<int>(wait.count()));
  return polled < 0 && errno == EINTR ? 0 : polled;
}

// Failures of the connection attempt that retrying will not mend.
bool lasting_connect_failure(const std::string& message) {
  for (const char* hint : {"password authentication failed", "does not exist", "no pg_hba.conf entry",
                           "must be superuser or replication role", "permission denied", "invalid connection option",
                           "missing \"=\"", "invalid URI"}) {
    if (message.find(hint) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

sdk::Result<std::unique_ptr<PostgresConnection>> PostgresConnection::open(const std::string& dsn, Kind kind,
                                                                         std::chrono::milliseconds timeout,
                                                                         const std::stop_token& stop) {
  // The connection string is expanded first; what follows it overrides it.
  std::vector<const char*> keywords{"dbname"};
  std::vector<const char*> values{dsn.c_str()};
  if (kind == Kind::replication) {
    keywords.push_back("replication");
    values.push_back("database");
  }
  keywords.push_back("application_name");
  values.push_back("invalidator");
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectStartParams(keywords.data(), values.data(), 1);
  if (raw == nullptr) return sdk::Status::error("cannot allocate a PostgreSQL connection");
  std::unique_ptr<PostgresConnection> connection(new PostgresConnection(raw));
  if (PQstatus(raw) == CONNECTION_BAD) {
    return sdk::Status::error("cannot connect to PostgreSQL: " + connection->last_error());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
  while (polling != PGRES_POLLING_OK) {
    if (polling == PGRES_POLLING_FAILED) {
      std::string message = "cannot connect to PostgreSQL: " + connection->last_error();
      return lasting_connect_failure(message) ? sdk::Status::error(message) : sdk::Status::transient_error(message);
    }
    if (stop.stop_requested()) return sdk::Status::transient_error("stopped while connecting to PostgreSQL");
    if (std::chrono::steady_clock::now() >= deadline) {
      return sdk::Status::transient_error("cannot connect to PostgreSQL: no answer within " +
                                          std::to_string(timeout.count()) + " ms");
    }
    const short events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (wait_for_socket(PQsocket(raw), events, std::chrono::milliseconds(100)) == 0) continue;
    polling = PQconnectPoll(raw);
  }
  return connection;
}

PostgresConnection::~PostgresConnection() {
  frame_.reset();
  PQfinish(connection_);
}

std::string PostgresConnection::last_error() const { return trimmed(PQerrorMessage(connection_)); }

sdk::Status PostgresConnection::lost(const std::string& what) {
  return sdk::Status::transient_error(what + ": " + last_error());
}

sdk::Result<PostgresConnection::Rows> PostgresConnection::query(const std::string& sql) {
  sqlstate_.clear();
  ResultPointer result(PQexec(connection_, sql.c_str()));
  if (!result) return lost("lost the connection to PostgreSQL");
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    sqlstate_ = state == nullptr ? "" : state;
    std::string message = trimmed(PQresultErrorMessage(result.get()));
    if (PQstatus(connection_) == CONNECTION_BAD) return sdk::Status::transient_error(message);
    return sdk::Status::error(message);
  }
  Rows rows;
  const int row_count = PQntuples(result.get());
  const int column_count = PQnfields(result.get());
  for (int row = 0; row < row_count; ++row) {
    auto& out = rows.emplace_back();
    for (int column = 0; column < column_count; ++column) {
      if (PQgetisnull(result.get(), row, column)) {
        out.emplace_back();
      } else {
        out.emplace_back(std::string(PQgetvalue(result.get(), row, column),
                                     static_cast<std::size_t>(PQgetlength(result.get(), row, column))));
      }
    }
  }
  return rows;
}

std::string PostgresConnection::quote_literal(std::string_view text) const {
  char* quoted = PQescapeLiteral(connection_, text.data(), text.size());
  std::string out = quoted == nullptr ? "''" : quoted;
  PQfreemem(quoted);
  return out;
}

std::string PostgresConnection::quote_identifier(std::string_view text) const {
  char* quoted = PQescapeIdentifier(connection_, text.data(), text.size());
  std::string out = quoted == nullptr ? "\"\"" : quoted;
  PQfreemem(quoted);
  return out;
}

int PostgresConnection::server_version() const { return PQserverVersion(connection_); }

sdk::Status PostgresConnection::start_replication(const std::string& command) {
  sqlstate_.clear();
  ResultPointer result(PQexec(connection_, command.c_str()));
  if (!result) return lost("lost the connection to PostgreSQL");
  if (PQresultStatus(result.get()) == PGRES_COPY_BOTH) return sdk::Status::success();
  const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
  sqlstate_ = state == nullptr ? "" : state;
  return sdk::Status::error(trimmed(PQresultErrorMessage(result.get())));
}

sdk::Result<std::optional<std::string_view>> PostgresConnection::next_frame(std::chrono::milliseconds wait) {
  frame_.reset();
  for (int attempt = 0; attempt < 2; ++attempt) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(connection_, &buffer, 1);
    if (length > 0) {
      frame_.reset(buffer);
      return std::optional<std::string_view>(std::string_view(buffer, static_cast<std::size_t>(length)));
    }
    if (length == -1) {
      // The server ended the stream: its reason follows as the command's result.
      ResultPointer result(PQgetResult(connection_));
      std::string reason = result ? trimmed(PQresultErrorMessage(result.get())) : "";
      return sdk::Status::transient_error("PostgreSQL ended the replication stream" +
                                          (reason.empty() ? std::string() : ": " + reason));
    }
    if (length == -2) return lost("lost the replication connection to PostgreSQL");
    if (attempt == 1) break;
    // Nothing buffered: wait for the socket, then let libpq read what arrived.
    const int ready = wait_for_socket(PQsocket(connection_), POLLIN, wait);
    if (ready < 0) return lost("cannot wait for PostgreSQL");
    if (ready == 0) break;
    if (PQconsumeInput(connection_) == 0) return lost("lost the replication connection to PostgreSQL");
  }
  return std::optional<std::string_view>{};
}

sdk::Status PostgresConnection::send_frame(std::string_view frame) {
  if (PQputCopyData(connection_, frame.data(), static_cast<int>(frame.size())) != 1 || PQflush(connection_) != 0) {
    return lost("cannot send to PostgreSQL");
  }
  return sdk::Status::success();
}

}  // namespace invalidator::plugins
