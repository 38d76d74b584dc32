#pragma once

// A plain libpq client for tests: runs statements against a server started by
// scripts/services and reads single values back.

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>

namespace invalidator::testing {

class PostgresClient {
 public:
  explicit PostgresClient(const std::string& url) : connection_(PQconnectdb(url.c_str())) {
    if (PQstatus(connection_) != CONNECTION_OK) ADD_FAILURE() << "cannot connect to " << url << ": " << error();
  }
  ~PostgresClient() { PQfinish(connection_); }
  PostgresClient(const PostgresClient&) = delete;
  PostgresClient& operator=(const PostgresClient&) = delete;

  // Runs `sql` (one or more statements, one implicit transaction); false, with the reason as a
  // test failure, when it fails.
  bool run(const std::string& sql) {
    Result result(PQexec(connection_, sql.c_str()));
    const auto status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return true;
    ADD_FAILURE() << sql.substr(0, 200) << ": " << PQresultErrorMessage(result.get());
    return false;
  }
  // The first column of the first row; nullopt for no row or NULL.
  std::optional<std::string> value(const std::string& sql) {
    Result result(PQexec(connection_, sql.c_str()));
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result.get());
      return std::nullopt;
    }
    if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0)) return std::nullopt;
    return std::string(PQgetvalue(result.get(), 0, 0));
  }
  // pg_current_wal_lsn() as a number.
  std::uint64_t current_lsn() { return lsn_value("SELECT pg_current_wal_lsn()"); }
  // An LSN-valued query as a number (0 for NULL).
  std::uint64_t lsn_value(const std::string& sql) {
    auto text = value(sql);
    if (!text) return 0;
    auto slash = text->find('/');
    return (std::stoull(text->substr(0, slash), nullptr, 16) << 32) | std::stoull(text->substr(slash + 1), nullptr, 16);
  }

 private:
  struct Clear {
    void operator()(PGresult* result) const { PQclear(result); }
  };
  using Result = std::unique_ptr<PGresult, Clear>;
  std::string error() const { return PQerrorMessage(connection_); }

  PGconn* connection_;
};

}  // namespace invalidator::testing
