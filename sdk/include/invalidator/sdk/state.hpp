#pragma once

// Keeping a plugin's state across restarts: a checkpoint, a cursor, a resume token. Each
// instance has a directory of its own (PluginContext::state_directory).

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "invalidator/sdk/result.hpp"

namespace invalidator::sdk {

namespace detail {
inline Status errno_error(const std::string& what) { return Status::error(what + ": " + std::strerror(errno)); }

inline bool write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}
}  // namespace detail

// Replaces `path` with `content` so that a crash or power loss at any moment leaves either the
// old file or the new one, whole: written to a temporary file beside it, flushed to disk,
// renamed over it, and the directory flushed so that the rename itself is kept. Creates the
// directory if it is missing.
inline Status write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  std::error_code error;
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(directory, error);
  if (error) return Status::error("cannot create " + directory.string() + ": " + error.message());
  const std::filesystem::path temporary = path.string() + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return detail::errno_error("cannot write " + temporary.string());
  if (!detail::write_all(fd, content) || ::fsync(fd) != 0) {
    Status failed = detail::errno_error("cannot write " + temporary.string());
    ::close(fd);
    ::unlink(temporary.c_str());
    return failed;
  }
  if (::close(fd) != 0) return detail::errno_error("cannot write " + temporary.string());
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    Status failed = detail::errno_error("cannot rename " + temporary.string() + " to " + path.string());
    ::unlink(temporary.c_str());
    return failed;
  }
  int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) return detail::errno_error("cannot open " + directory.string());
  const bool synced = ::fsync(directory_fd) == 0;
  Status outcome = synced ? Status::success() : detail::errno_error("cannot flush " + directory.string());
  ::close(directory_fd);
  return outcome;
}

// The whole content of `path`, or nullopt when it does not exist (an error when it exists but
// cannot be read).
inline Result<std::optional<std::string>> read_state_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::optional<std::string>{};
    return Status::error("cannot read " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str());
}

}  // namespace invalidator::sdk
