#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::plugins {

// Reads JSON Lines (one message a line) from a file or standard input. A message's position
// is its line number, so a run can say exactly which lines it finished, and with a
// checkpoint file a restarted run resumes after the last line acknowledged.
class FileSource final : public sdk::Source {
 public:
  // As declared in options(), which holds the defaults.
  struct Options {
    std::string path;  // "-": standard input
    std::string topic;
    bool follow{};
    std::chrono::milliseconds poll_interval{};
    std::string checkpoint;  // file keeping the last acknowledged line; empty: none
    std::chrono::milliseconds checkpoint_interval{};
    std::size_t max_line_bytes{};
  };

  FileSource(Options options, sdk::Logger* logger, std::uint64_t resume_after)
      : options_(std::move(options)), logger_(logger), resume_after_(resume_after), acknowledged_(resume_after),
        saved_(resume_after) {}
  ~FileSource() override;

  static sdk::OptionsSpec<Options> options();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(Options options, const sdk::PluginContext& context);

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  void acknowledge(const sdk::Position& position) override;

 private:
  void save_checkpoint(std::uint64_t line);
  void wait_for_growth(const std::stop_token& stop);

  Options options_;
  sdk::Logger* logger_;
  std::uint64_t resume_after_;  // lines up to this one were acknowledged by an earlier run
  std::atomic<std::uint64_t> acknowledged_;
  std::uint64_t saved_;  // last line written to the checkpoint
  std::chrono::steady_clock::time_point saved_at_{};
};

}  // namespace invalidator::plugins
