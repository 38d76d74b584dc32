#include "file_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>
#include <condition_variable>
#include <mutex>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/state.hpp"

namespace invalidator::plugins {

sdk::OptionsSpec<FileSource::Options> FileSource::options() {
  sdk::OptionsSpec<Options> spec(
      "Reads messages as JSON Lines, one a line, from a file or standard input: Debezium values, "
      "{\"topic\",\"key\",\"value\"} records, or an Invalidator dead-letter file to replay. Without "
      "`follow`, the source ends at the end of the file, and `invalidator run` exits once everything "
      "read was delivered.");
  spec.option("path", &Options::path)
      .description("File to read; \"-\" reads standard input.")
      .required()
      .example("\"events.jsonl\"");
  spec.option("topic", &Options::topic)
      .description("Topic name given to every message; the codec takes the table from it when a message does not name one.")
      .default_value("")
      .example("\"dbserver1.public.customers\"");
  spec.option("follow", &Options::follow)
      .description("Keep reading lines appended to the file, like `tail -f`, until stopped.")
      .default_value(false);
  spec.option("poll_interval", &Options::poll_interval)
      .description("With follow, how often to look for new lines.")
      .default_value(std::chrono::milliseconds(200))
      .min(1);
  spec.option("max_line_bytes", &Options::max_line_bytes)
      .size()
      .description("Longest line (one message) read. The source holds at most one unfinished line besides what "
                   "it read last (64 KiB); a longer line stops it with an error naming the line, rather than "
                   "growing without bound or cutting a message.")
      .default_value(16 * 1024 * 1024)
      .min(1);
  spec.option("checkpoint", &Options::checkpoint)
      .description("File where the last acknowledged line number is kept. A run started again (after a crash, "
                   "say) skips the lines up to it: at-least-once, nothing skipped, little repeated. Empty: every "
                   "run reads from the first line.")
      .default_value("")
      .example("\"/var/lib/invalidator/replay.checkpoint\"");
  spec.option("checkpoint_interval", &Options::checkpoint_interval)
      .description("How often the checkpoint file is rewritten while lines are being acknowledged; it is also "
                   "written when the source is closed.")
      .default_value(std::chrono::seconds(1))
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> FileSource::create(Options options, const sdk::PluginContext& context) {
  if (options.path != "-") {
    std::ifstream probe(options.path);
    if (!probe) return sdk::Status::error("cannot open " + options.path + " for reading");
  }
  std::uint64_t resume_after = 0;
  if (!options.checkpoint.empty()) {
    if (options.path == "-") return sdk::Status::error("a checkpoint needs a file: standard input cannot be read again");
    std::ifstream saved(options.checkpoint);
    if (saved) {
      std::string text;
      std::getline(saved, text);
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), resume_after);
      if (error != std::errc{} || end != text.data() + text.size()) {
        return sdk::Status::error("checkpoint " + options.checkpoint + " does not hold a line number ('" + text +
                                  "'); remove it to read " + options.path + " from the start");
      }
      if (context.logger) {
        context.logger->info("resuming " + options.path + " after line " + std::to_string(resume_after) + " (" +
                             options.checkpoint + ")");
      }
    }
  }
  return std::unique_ptr<sdk::Source>(std::make_unique<FileSource>(std::move(options), context.logger, resume_after));
}

sdk::Status FileSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  // Plain descriptors and poll(): a read on standard input or a followed file must never
  // block past a stop request.
  int fd = STDIN_FILENO;
  if (options_.path != "-") {
    fd = ::open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sdk::Status::error("cannot open " + options_.path + ": " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd != STDIN_FILENO) ::close(fd);
    }
  } closer{fd};

  const int wait_ms = static_cast<int>(std::min<std::int64_t>(options_.poll_interval.count(), 1000));
  std::string pending;  // bytes after the last newline
  std::uint64_t line_number = 0;
  char buffer[64 * 1024];
  bool at_end = false;
  auto emit_line = [&](std::string_view line) {
    ++line_number;
    if (line_number <= resume_after_) return true;  // acknowledged by an earlier run
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return true;
    sdk::RawMessage message;
    message.topic = options_.topic;
    std::string value;
    value.reserve(line.size() + sdk::kDecodePadding);  // lets the decoder parse it in place
    value.assign(line);
    message.value = std::move(value);
    message.position = sdk::Position{0, line_number};
    return emitter.emit(std::move(message));
  };

  while (!stop.stop_requested()) {
    struct pollfd ready {fd, POLLIN, 0};
    int polled = ::poll(&ready, 1, wait_ms);
    if (polled < 0 && errno != EINTR) return sdk::Status::error(std::string("poll failed: ") + std::strerror(errno));
    if (polled <= 0) continue;
    ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return sdk::Status::error("cannot read " + options_.path + ": " + std::strerror(errno));
    }
    if (count == 0) {
      // End of input. A followed regular file may still grow; standard input will not.
      if (!options_.follow || fd == STDIN_FILENO) {
        at_end = true;
        break;
      }
      wait_for_growth(stop);
      continue;
    }
    pending.append(buffer, static_cast<std::size_t>(count));
    std::size_t start = 0;
    for (std::size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1) {
      if (!emit_line(std::string_view(pending).substr(start, newline - start))) return sdk::Status::success();
    }
    pending.erase(0, start);
    if (pending.size() > options_.max_line_bytes) {
      return sdk::Status::error("line " + std::to_string(line_number + 1) + " of " + options_.path +
                                " is longer than max_line_bytes (" + std::to_string(options_.max_line_bytes) +
                                " bytes): raise max_line_bytes, or check that the file is JSON Lines");
    }
  }
  // A last line without a newline is complete once the input has ended.
  if (at_end && !pending.empty() && !emit_line(pending)) return sdk::Status::success();
  if (logger_) logger_->info("read " + std::to_string(line_number) + " lines from " + options_.path);
  return sdk::Status::success();
}

void FileSource::acknowledge(const sdk::Position& position) {
  acknowledged_.store(position.offset, std::memory_order_release);
  if (options_.checkpoint.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (now - saved_at_ < options_.checkpoint_interval) return;
  saved_at_ = now;
  save_checkpoint(position.offset);
}

FileSource::~FileSource() {
  if (!options_.checkpoint.empty()) save_checkpoint(acknowledged_.load(std::memory_order_acquire));
}

void FileSource::wait_for_growth(const std::stop_token& stop) {
  // A regular file at its end polls readable at once: wait out the interval, or a stop request.
  std::mutex mutex;
  std::condition_variable_any stopped;
  std::unique_lock lock(mutex);
  stopped.wait_for(lock, stop, options_.poll_interval, [] { return false; });
}

void FileSource::save_checkpoint(std::uint64_t line) {
  if (line == saved_) return;
  if (auto written = sdk::write_file_atomically(options_.checkpoint, std::to_string(line) + "\n"); !written) {
    if (logger_) logger_->error("cannot write checkpoint: " + written.message());
    return;
  }
  saved_ = line;
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(file, "0.2.0", invalidator::plugins::FileSource::options, invalidator::plugins::FileSource::create)
