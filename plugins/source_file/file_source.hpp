#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::plugins {

// Reads JSON Lines (one Debezium message a line) from a file or standard input. A message's
// position is its line number, so a run can say exactly which lines it finished.
class FileSource final : public sdk::Source {
 public:
  struct Options {
    std::string path;  // "-": standard input
    std::string topic;
    bool follow = false;
    std::chrono::milliseconds poll_interval{200};
  };

  FileSource(Options options, sdk::Logger* logger) : options_(std::move(options)), logger_(logger) {}

  static sdk::ConfigSpec spec();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(const sdk::Config& config, const sdk::PluginContext& context);

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  void acknowledge(const sdk::Position& position) override;

  std::uint64_t acknowledged_line() const { return acknowledged_.load(); }

 private:
  Options options_;
  sdk::Logger* logger_;
  std::atomic<std::uint64_t> acknowledged_{0};
};

}  // namespace invalidator::plugins
