#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::plugins {

enum class PollStart { beginning, now };

// The plugin's options, as declared in PollSource::options() (which holds the defaults).
struct PollSourceOptions {
  std::string dsn;
  std::string table;
  std::string query;
  std::vector<std::string> cursor;
  std::vector<std::string> key;
  std::chrono::milliseconds interval{};
  std::int64_t batch{};
  std::string deleted_column;
  PollStart start{};
  std::chrono::milliseconds settle{};
  std::chrono::milliseconds checkpoint_interval{};
};

// Query-based change capture, for a database without logical replication: reads the rows
// whose cursor (a compound one such as (updated_at, id), so that rows with equal timestamps are
// neither skipped nor read twice) is past the last one read, every `interval`. Each row becomes
// an update event (a delete when `deleted_column` marks it deleted). The cursor of the last row
// acknowledged is kept in the instance's state directory, so a restart reads on from there.
class PollSource final : public sdk::Source {
 public:
  // A cursor: one value (as PostgreSQL writes it) per cursor column.
  using Cursor = std::vector<std::string>;

  static sdk::OptionsSpec<PollSourceOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(PollSourceOptions options, const sdk::PluginContext& context);
  ~PollSource() override;

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  void acknowledge(const sdk::Position& position) override;

  // The cursor file's text, and back (nullopt with `error` set when it is not one).
  static std::string format_cursor(const std::vector<std::string>& columns, const Cursor& cursor);
  static std::optional<Cursor> parse_cursor(const std::string& text, const std::vector<std::string>& columns,
                                            std::string& error);

 private:
  PollSource(PollSourceOptions options, sdk::Logger* logger, std::filesystem::path cursor_file,
             std::optional<Cursor> stored)
      : options_(std::move(options)), logger_(logger), cursor_file_(std::move(cursor_file)), read_(stored),
        acknowledged_(std::move(stored)) {}

  sdk::Status connect();
  sdk::Status prepare_queries();
  // One query's worth of rows handed to the pipeline; how many rows it read.
  sdk::Result<std::size_t> poll_once(sdk::Emitter& emitter, const std::stop_token& stop);
  void save_cursor();
  void log(sdk::LogLevel level, const std::string& message) const;

  PollSourceOptions options_;
  sdk::Logger* logger_;
  std::filesystem::path cursor_file_;
  std::unique_ptr<pqxx::connection> connection_;
  std::string select_after_;  // the rows past a cursor ($1.. the cursor's values)
  std::string select_first_;  // the rows from the start
  std::string select_last_;   // the newest row's cursor (start = "now")
  std::vector<std::string> key_columns_;  // `key`, or the table's primary key
  std::optional<Cursor> read_;  // the cursor of the last row handed to the pipeline
  std::uint64_t next_sequence_ = 1;
  std::uint64_t last_version_ = 0;
  bool pipeline_stopping_ = false;  // an emit answered stopping

  std::mutex acknowledged_mutex_;
  std::deque<std::pair<std::uint64_t, Cursor>> in_flight_;  // (position, cursor), oldest first
  std::optional<Cursor> acknowledged_;
  std::optional<Cursor> saved_;
  std::chrono::steady_clock::time_point saved_at_{};
};

}  // namespace invalidator::plugins
