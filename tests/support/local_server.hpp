#pragma once

// A PostgreSQL, Redis or Memcached server of the machine's own packages, started on loopback on a free
// port for one test through scripts/services, and stopped (its directory removed) after it.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "support/test_support.hpp"

namespace invalidator::testing {

class LocalServer {
 public:
  // kind: "postgres", "redis" or "memcached". Null (and `error` says why) when the server cannot start.
  static std::unique_ptr<LocalServer> start(const std::string& kind, std::string& error) {
    auto server = std::unique_ptr<LocalServer>(new LocalServer(kind));
    auto result = server->services("start " + kind + " " + server->dir_.path().string());
    if (result.exit_code != 0) {
      error = "cannot start " + kind + " with scripts/services: " + result.output;
      return nullptr;
    }
    server->port_ = std::stoi(read_file(server->dir_ / "port"));
    server->address_ = read_file(server->dir_ / "url");
    while (!server->address_.empty() && server->address_.back() == '\n') server->address_.pop_back();
    return server;
  }

  // For a test: the server, or null with the reason recorded as a test failure.
  static std::unique_ptr<LocalServer> start_for_test(const std::string& kind) {
    std::string error;
    auto server = start(kind, error);
    if (!server) ADD_FAILURE() << error;
    return server;
  }

  // One server of `kind` for the whole test binary, started when first asked for, stopped at
  // exit: for tests that each work in names of their own (tables, slots). Aborts the binary
  // when it cannot start: every test using it would fail alike.
  static LocalServer& shared(const std::string& kind) {
    static std::map<std::string, std::unique_ptr<LocalServer>> servers;
    auto& server = servers[kind];
    if (!server) {
      std::string error;
      server = start(kind, error);
      if (!server) {
        std::fprintf(stderr, "%s\n", error.c_str());
        std::abort();
      }
    }
    return *server;
  }

  ~LocalServer() { services("stop " + dir_.path().string()); }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // redis://127.0.0.1:PORT for Redis, 127.0.0.1:PORT for Memcached.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  const std::filesystem::path& directory() const { return dir_.path(); }

  // Redis saves its keys before stopping, so that start_again() finds them.
  bool stop() { return services("stop " + dir_.path().string()).exit_code == 0; }
  // Starts again on the same port (after stop(), or as a restart while running).
  bool start_again() { return services("restart " + dir_.path().string()).exit_code == 0; }

 private:
  explicit LocalServer(std::string kind) : kind_(std::move(kind)) {}

  static CommandResult services(const std::string& arguments) {
    return run_command(std::string(INVALIDATOR_SOURCE_DIR) + "/scripts/services " + arguments);
  }

  std::string kind_;
  TempDir dir_;
  int port_ = 0;
  std::string address_;
};

}  // namespace invalidator::testing
