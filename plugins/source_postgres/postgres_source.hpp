#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/source.hpp"
#include "pgoutput.hpp"
#include "replication_connection.hpp"
#include "stream_spill.hpp"

namespace invalidator::plugins {

// The plugin's options, as declared in PostgresSource::options() (which holds the defaults).
struct PostgresSourceOptions {
  std::string dsn;
  std::string slot;
  std::string publication;
  bool create_slot{};
  bool create_publication{};
  std::vector<std::string> tables;
  std::int64_t protocol_version{};
  bool streaming{};
  std::chrono::milliseconds status_interval{};
  std::chrono::milliseconds connect_timeout{};
};

// Reads row changes from PostgreSQL's logical replication (pgoutput) through a replication
// slot: no Kafka, no Debezium. Each event's position is the source's own sequence number; the
// source remembers which of them ends a transaction, and confirms to the server (the slot's
// flush LSN) the end of the last transaction whose events, and all before them, were
// acknowledged. The server keeps everything after it, so a restart misses nothing.
class PostgresSource final : public sdk::Source {
 public:
  static sdk::OptionsSpec<PostgresSourceOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(PostgresSourceOptions options,
                                                          const sdk::PluginContext& context);
  ~PostgresSource() override;

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  void acknowledge(const sdk::Position& position) override;

  // Reads a started replication stream until stopped or the stream fails: what run() does
  // once connected. Public so that a test can script the server's side.
  sdk::Status read_stream(ReplicationStream& stream, sdk::Emitter& emitter, const std::stop_token& stop);

  // The end of the last transaction acknowledged whole (confirmed to the server next).
  pgoutput::Lsn acknowledged_lsn() const { return acknowledged_.load(); }

 private:
  PostgresSource(PostgresSourceOptions options, sdk::Logger* logger, std::filesystem::path spill_directory)
      : options_(std::move(options)), logger_(logger), spill_(std::move(spill_directory)) {}

  // One replication connection's reading, from START_REPLICATION until it ends.
  class Session;
  friend class Session;

  sdk::Status prepare(PostgresConnection& connection);
  sdk::Status ensure_publication(PostgresConnection& connection);
  sdk::Status ensure_slot(PostgresConnection& connection);
  std::string start_command(const PostgresConnection& connection) const;

  // Remembers that acknowledging `sequence` confirms `lsn`; called before the position is
  // emitted (its acknowledgement can come at once, from another thread).
  void expect(std::uint64_t sequence, pgoutput::Lsn lsn);
  // Confirms what was acknowledged to a server no longer streaming to this source (after the
  // last run), so that a stop does not send it all again.
  void confirm_after_stop();
  void log(sdk::LogLevel level, const std::string& message) const;

  PostgresSourceOptions options_;
  sdk::Logger* logger_;
  StreamSpill spill_;
  std::uint64_t next_sequence_ = 1;  // grows across connections: positions only ever grow

  std::mutex transaction_ends_mutex_;
  // (sequence, LSN) of positions that end a transaction or mark a keepalive, oldest first.
  std::deque<std::pair<std::uint64_t, pgoutput::Lsn>> transaction_ends_;
  std::atomic<pgoutput::Lsn> acknowledged_{0};
  std::atomic<pgoutput::Lsn> confirmed_{0};
};

}  // namespace invalidator::plugins
