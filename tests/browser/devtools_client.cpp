#include "devtools_client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <httplib.h>
#include <simdjson.h>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "util/json_text.hpp"

extern char** environ;

namespace invalidator::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace fs = std::filesystem;

std::optional<fs::path> Chromium::find() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(candidate, X_OK) == 0) return fs::path(candidate);
  }
  return std::nullopt;
}

Chromium::Chromium(const fs::path& executable, const fs::path& profile) : profile_(profile), log_(profile / "browser.log") {
  const std::vector<std::string> arguments = {
      executable.string(),
      "--headless",
      "--no-sandbox",  // tests run as root, where Chromium's sandbox refuses to start
      "--disable-gpu",
      "--no-first-run",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",  // written to <profile>/DevToolsActivePort
      "--user-data-dir=" + profile.string(),
      "about:blank",
  };
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);  // a group of its own, killed whole
  if (posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
}

Chromium::~Chromium() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::optional<std::uint16_t> Chromium::devtools_port(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    std::ifstream file(profile_ / "DevToolsActivePort");
    std::string line;
    if (file && std::getline(file, line) && !line.empty()) return static_cast<std::uint16_t>(std::stoi(line));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

std::string Chromium::output() const {
  std::ifstream file(log_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

struct DevToolsPage::Connection {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> socket{io};
};

DevToolsPage::DevToolsPage(std::unique_ptr<Connection> connection) : connection_(std::move(connection)) {}

DevToolsPage::~DevToolsPage() {
  beast::error_code ignored;
  connection_->socket.close(websocket::close_code::normal, ignored);
}

std::unique_ptr<DevToolsPage> DevToolsPage::connect(std::uint16_t port, std::string& error) {
  httplib::Client client("127.0.0.1", port);
  auto targets = client.Get("/json/list");
  if (!targets || targets->status != 200) {
    error = "DevTools /json/list did not answer";
    return nullptr;
  }
  simdjson::dom::parser parser;
  simdjson::dom::array list;
  if (parser.parse(targets->body).get(list) != simdjson::SUCCESS) {
    error = "DevTools /json/list: not a JSON array: " + targets->body;
    return nullptr;
  }
  std::string address;
  for (simdjson::dom::element target : list) {
    std::string_view type;
    std::string_view url;
    if (target["type"].get(type) == simdjson::SUCCESS && type == "page" &&
        target["webSocketDebuggerUrl"].get(url) == simdjson::SUCCESS) {
      address = std::string(url);
      break;
    }
  }
  const std::string prefix = "ws://127.0.0.1:" + std::to_string(port);
  if (!address.starts_with(prefix)) {
    error = "no page target in " + targets->body;
    return nullptr;
  }
  auto connection = std::make_unique<Connection>();
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  beast::error_code failure;
  beast::get_lowest_layer(connection->socket).connect(endpoint, failure);
  if (!failure) connection->socket.handshake("127.0.0.1:" + std::to_string(port), address.substr(prefix.size()), failure);
  if (failure) {
    error = "cannot open " + address + ": " + failure.message();
    return nullptr;
  }
  return std::unique_ptr<DevToolsPage>(new DevToolsPage(std::move(connection)));
}

std::string DevToolsPage::call(const std::string& method, const std::string& params_json) {
  const std::uint64_t id = next_id_++;
  std::string request = "{\"id\":" + std::to_string(id) + ",\"method\":";
  util::append_json_string(request, method);
  request += ",\"params\":" + params_json + "}";
  connection_->socket.text(true);
  connection_->socket.write(asio::buffer(request));
  simdjson::dom::parser parser;
  for (;;) {
    beast::flat_buffer buffer;
    connection_->socket.read(buffer);
    std::string message = beast::buffers_to_string(buffer.data());
    simdjson::dom::element parsed;
    if (parser.parse(message).get(parsed) != simdjson::SUCCESS) throw std::runtime_error("DevTools sent no JSON: " + message);
    std::uint64_t answered = 0;
    if (parsed["id"].get(answered) != simdjson::SUCCESS) {
      note_event(message);
      continue;
    }
    if (answered != id) continue;
    simdjson::dom::element result;
    if (parsed["result"].get(result) != simdjson::SUCCESS) throw std::runtime_error(method + " failed: " + message);
    return simdjson::minify(result);
  }
}

std::string DevToolsPage::evaluate_string(const std::string& expression) {
  std::string params = "{\"expression\":";
  util::append_json_string(params, expression);
  params += ",\"returnByValue\":true}";
  const std::string result = call("Runtime.evaluate", params);
  simdjson::dom::parser parser;
  simdjson::dom::element parsed;
  std::string_view value;
  if (parser.parse(result).get(parsed) != simdjson::SUCCESS || parsed["result"]["value"].get(value) != simdjson::SUCCESS) {
    throw std::runtime_error("the expression gave no string: " + result);
  }
  return std::string(value);
}

void DevToolsPage::note_event(const std::string& message) {
  simdjson::dom::parser parser;
  simdjson::dom::element event;
  std::string_view method;
  if (parser.parse(message).get(event) != simdjson::SUCCESS || event["method"].get(method) != simdjson::SUCCESS) return;
  if (method == "Runtime.exceptionThrown") {
    problems_.push_back("uncaught exception: " + message);
  } else if (method == "Runtime.consoleAPICalled") {
    std::string_view type;
    if (event["params"]["type"].get(type) == simdjson::SUCCESS && (type == "error" || type == "warning" || type == "assert")) {
      problems_.push_back("console " + std::string(type) + ": " + message);
    }
  } else if (method == "Log.entryAdded") {
    std::string_view level;
    if (event["params"]["entry"]["level"].get(level) == simdjson::SUCCESS && (level == "error" || level == "warning")) {
      problems_.push_back("browser log " + std::string(level) + ": " + message);
    }
  }
}

}  // namespace invalidator::testing
