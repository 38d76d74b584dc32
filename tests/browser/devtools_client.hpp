#pragma once

// A headless Chromium started for a test, and a client of its DevTools protocol (JSON over a
// WebSocket, https://chromedevtools.github.io/devtools-protocol/) driving one page.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace invalidator::testing {

class Chromium {
 public:
  // Debian's chromium, or none where it is not installed.
  static std::optional<std::filesystem::path> find();

  // Starts it headless on about:blank, its profile in `profile` (a fresh directory), its
  // DevTools endpoint on a free loopback port.
  Chromium(const std::filesystem::path& executable, const std::filesystem::path& profile);
  ~Chromium();  // kills it and every process it started
  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;

  // The DevTools port, once the browser wrote it to its profile; none after `limit`.
  std::optional<std::uint16_t> devtools_port(std::chrono::milliseconds limit);
  // What it wrote to stdout and stderr, for a failure's message.
  std::string output() const;

 private:
  std::filesystem::path profile_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

class DevToolsPage {
 public:
  // Connects to the first page target of the browser at `port`.
  static std::unique_ptr<DevToolsPage> connect(std::uint16_t port, std::string& error);
  ~DevToolsPage();

  // Sends a command and returns its "result" object as JSON text, or throws with the
  // protocol's error. Events that arrive meanwhile are noted (see problems()).
  std::string call(const std::string& method, const std::string& params_json = "{}");
  // Runtime.evaluate of an expression whose value is a string (JSON.stringify(...)).
  std::string evaluate_string(const std::string& expression);

  // Console errors and warnings, uncaught exceptions and the browser's error log entries
  // (failed loads) of the page, in words.
  const std::vector<std::string>& problems() const { return problems_; }

  struct Connection;

 private:
  explicit DevToolsPage(std::unique_ptr<Connection> connection);
  void note_event(const std::string& message);

  std::unique_ptr<Connection> connection_;
  std::uint64_t next_id_ = 1;
  std::vector<std::string> problems_;
};

}  // namespace invalidator::testing
