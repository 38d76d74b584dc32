// The PostgreSQL source against a real PostgreSQL 15 started on loopback by scripts/services
// (wal_level = logical): never a mock.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "invalidator/sdk/testing/source_conformance.hpp"
#include "postgres_source.hpp"
#include "support/local_server.hpp"
#include "support/postgres_client.hpp"
#include "support/source_thread.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(postgres);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::LocalServer;
using invalidator::testing::PostgresClient;
using invalidator::testing::TempDir;

// One server for the whole binary: each test works in tables (and slots, publications) of its own.
LocalServer& server() { return LocalServer::shared("postgres"); }

// A fresh name for a table, slot or publication.
std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

class CapturingLogger final : public sdk::Logger {
 public:
  void log(sdk::LogLevel, std::string_view message) override {
    std::lock_guard lock(mutex_);
    text_ += std::string(message) + "\n";
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

struct SourceSetup {
  std::string table;
  std::string slot;
  std::string publication;
  std::string extra_dsn;  // appended to the connection string
  std::chrono::milliseconds status_interval = 200ms;
  std::int64_t protocol_version = 2;
  std::filesystem::path state_directory;
  sdk::Logger* logger = nullptr;
};

sdk::Result<std::unique_ptr<sdk::Source>> create_source(const SourceSetup& setup) {
  sdk::Config config;
  config.set("dsn", server().address() + (setup.extra_dsn.empty() ? "" : "?" + setup.extra_dsn));
  config.set("slot", setup.slot);
  config.set("publication", setup.publication);
  config.set("create_publication", true);
  config.set("tables", std::vector<std::string>{"public." + setup.table});
  config.set("status_interval", setup.status_interval);
  config.set("protocol_version", setup.protocol_version);
  config.set("connect_timeout", std::chrono::milliseconds(5000));
  return invalidator_static_plugin_postgres().create_source(
      config, sdk::PluginContext{"changes", setup.logger, setup.state_directory});
}

std::unique_ptr<sdk::Source> make_source(const SourceSetup& setup) {
  auto created = create_source(setup);
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created).value() : nullptr;
}

// A table, its publication and a slot made before any change, so that every change is read.
SourceSetup prepare(PostgresClient& sql, const std::string& columns, const std::string& identity = "DEFAULT") {
  SourceSetup setup;
  setup.table = unique_name("t");
  setup.slot = unique_name("slot");
  setup.publication = unique_name("pub");
  sql.run("CREATE TABLE " + setup.table + " (" + columns + ")");
  sql.run("ALTER TABLE " + setup.table + " REPLICA IDENTITY " + identity);
  sql.run("CREATE PUBLICATION " + setup.publication + " FOR TABLE " + setup.table);
  sql.value("SELECT lsn FROM pg_create_logical_replication_slot('" + setup.slot + "', 'pgoutput')");
  return setup;
}

// Records events whole, and positions, as a pipeline whose sinks deliver instantly (when told
// to acknowledge) or never.
class EventRecorder final : public sdk::Emitter {
 public:
  struct Item {
    std::optional<sdk::ChangeEvent> event;  // none: a position alone
    sdk::Position position;
  };

  void acknowledge_with(sdk::Source* source) { source_ = source; }

  sdk::EmitResult try_emit(sdk::RawMessage&, Deadline) override { return sdk::EmitResult::stopping; }
  sdk::EmitResult try_emit(sdk::ChangeEvent& event, Deadline) override { return take(Item{event, event.position}); }
  sdk::EmitResult try_emit_position(const sdk::Position& position, Deadline) override {
    return take(Item{std::nullopt, position});
  }
  void report_lag(std::string_view stream, std::uint64_t lag, sdk::LagUnit unit) override {
    std::lock_guard lock(mutex_);
    if (stream.empty() && unit == sdk::LagUnit::bytes) lag_bytes_ = lag;
  }
  // The last lag reported, in bytes of WAL; none before a report.
  std::optional<std::uint64_t> lag_bytes() const {
    std::lock_guard lock(mutex_);
    return lag_bytes_;
  }

  std::vector<Item> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }
  std::vector<sdk::ChangeEvent> events() const {
    std::lock_guard lock(mutex_);
    std::vector<sdk::ChangeEvent> out;
    for (const auto& item : items_) {
      if (item.event) out.push_back(*item.event);
    }
    return out;
  }
  bool wait_for_events(std::size_t count, std::chrono::milliseconds timeout = 30s) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return event_count_ >= count; });
  }

 private:
  sdk::EmitResult take(Item item) {
    {
      std::lock_guard lock(mutex_);
      if (item.event) ++event_count_;
      items_.push_back(item);
      changed_.notify_all();
    }
    if (source_) source_->acknowledge(item.position);
    return sdk::EmitResult::accepted;
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Item> items_;
  std::size_t event_count_ = 0;
  std::optional<std::uint64_t> lag_bytes_;
  sdk::Source* source_ = nullptr;
};

using Reading = invalidator::testing::SourceThread;

const sdk::Value& column(const sdk::Row& row, const std::string& name) {
  static const sdk::Value missing = std::string("(missing)");
  const sdk::Value* value = row.find(name);
  return value ? *value : missing;
}

sdk::Value number(std::int64_t value) { return sdk::Value(value); }
sdk::Value text(const std::string& value) { return sdk::Value(value); }

std::string slot_flush_lsn_query(const std::string& slot) {
  return "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'";
}

// ---------------------------------------------------------------------------------------------

class PostgresHarness final : public sdk::testing::SourceHarness {
 public:
  PostgresHarness() : sql_(server().address()), setup_(prepare(sql_, "id serial PRIMARY KEY, seq int")) {}
  std::unique_ptr<sdk::Source> make_source() override { return plugins::make_source(setup_); }
  void produce(const std::vector<std::string>& values) override {
    // One transaction each: a transaction is what the slot confirms.
    for (const auto& value : values) {
      auto at = value.find("\"seq\":");
      sql_.run("INSERT INTO " + setup_.table + " (seq) VALUES (" + std::to_string(std::stoi(value.substr(at + 6))) + ")");
    }
  }
  std::chrono::milliseconds patience() override { return 30s; }

 private:
  PostgresClient sql_;
  SourceSetup setup_;
};

TEST(PostgresSource, InsertsUpdatesDeletesAndTruncatesBecomeEventsWithTheCommitLsnAsVersion) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, name text, email text, active boolean, balance numeric, score float8");
  auto source = make_source(setup);
  EventRecorder recorder;
  recorder.acknowledge_with(source.get());
  Reading reading(*source, recorder);
  const auto before = sql.current_lsn();
  sql.run("INSERT INTO " + setup.table + " VALUES (1, 'Ann', 'ann@x', true, 12.50, 0.5)");
  sql.run("UPDATE " + setup.table + " SET email = 'ann@y' WHERE id = 1");
  sql.run("DELETE FROM " + setup.table + " WHERE id = 1");
  sql.run("INSERT INTO " + setup.table + " VALUES (2, 'Bob', 'bob@x', false, 1, 2)");
  sql.run("TRUNCATE " + setup.table);
  ASSERT_TRUE(recorder.wait_for_events(5));
  auto events = recorder.events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].op, sdk::Op::insert);
  EXPECT_EQ(events[0].table.qualified_name(), "public." + setup.table);
  EXPECT_EQ(column(*events[0].after, "id"), number(1));
  EXPECT_EQ(column(*events[0].after, "active"), sdk::Value(true));
  EXPECT_EQ(column(*events[0].after, "balance"), text("12.50"));
  EXPECT_EQ(column(*events[0].after, "score"), sdk::Value(0.5));
  EXPECT_EQ(events[1].op, sdk::Op::update);
  EXPECT_EQ(column(*events[1].after, "email"), text("ann@y"));
  EXPECT_EQ(column(events[1].key, "id"), number(1));
  EXPECT_EQ(events[2].op, sdk::Op::remove);
  EXPECT_EQ(column(events[2].key, "id"), number(1));
  EXPECT_EQ(events[4].op, sdk::Op::truncate);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_GT(events[i].version, before) << "the version is the commit's LSN";
    if (i > 0) {
      EXPECT_GT(events[i].version, events[i - 1].version) << "and grows from commit to commit";
    }
    EXPECT_FALSE(events[i].transaction_id.empty());
    EXPECT_LT(std::chrono::system_clock::now() - events[i].commit_time, 60s);
  }
  EXPECT_TRUE(reading.stop());
}

TEST(PostgresSource, AKeyChangeUnderReplicaIdentityFullGivesTheOldRowAndTheNewOne) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, email text", "FULL");
  sql.run("INSERT INTO " + setup.table + " VALUES (1, 'old@x')");
  auto source = make_source(setup);
  EventRecorder recorder;
  Reading reading(*source, recorder);
  sql.run("UPDATE " + setup.table + " SET id = 2, email = 'new@x' WHERE id = 1");
  ASSERT_TRUE(recorder.wait_for_events(2));
  auto update = recorder.events()[1];
  ASSERT_TRUE(update.before);
  EXPECT_EQ(column(*update.before, "id"), number(1));
  EXPECT_EQ(column(*update.before, "email"), text("old@x"));
  EXPECT_EQ(column(*update.after, "id"), number(2));
}

TEST(PostgresSource, AKeyChangeUnderReplicaIdentityDefaultGivesTheOldKeyOnly) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, email text");
  sql.run("INSERT INTO " + setup.table + " VALUES (1, 'old@x')");
  auto source = make_source(setup);
  EventRecorder recorder;
  Reading reading(*source, recorder);
  sql.run("UPDATE " + setup.table + " SET id = 2, email = 'new@x' WHERE id = 1");
  ASSERT_TRUE(recorder.wait_for_events(2));
  auto update = recorder.events()[1];
  EXPECT_FALSE(update.before);
  EXPECT_EQ(column(update.key, "id"), number(1));
  EXPECT_EQ(column(*update.after, "id"), number(2));
}

TEST(PostgresSource, AnUnchangedToastedColumnIsUnavailable) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, name text, biography text");
  sql.run("ALTER TABLE " + setup.table + " ALTER COLUMN biography SET STORAGE EXTERNAL");
  auto source = make_source(setup);
  EventRecorder recorder;
  Reading reading(*source, recorder);
  sql.run("INSERT INTO " + setup.table + " VALUES (1, 'Ann', repeat('x', 10000))");
  sql.run("UPDATE " + setup.table + " SET name = 'Anne' WHERE id = 1");
  ASSERT_TRUE(recorder.wait_for_events(2));
  auto events = recorder.events();
  EXPECT_EQ(std::get<std::string>(column(*events[0].after, "biography")).size(), 10000u);
  EXPECT_TRUE(sdk::is_unavailable(column(*events[1].after, "biography")));
  EXPECT_EQ(column(*events[1].after, "name"), text("Anne"));
}

TEST(PostgresSource, OnlyTheLastEventOfATransactionMovesTheSlot) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, v int");
  auto source = make_source(setup);
  auto* postgres = dynamic_cast<PostgresSource*>(source.get());
  ASSERT_NE(postgres, nullptr);
  EventRecorder recorder;  // acknowledges nothing by itself
  Reading reading(*source, recorder);
  const auto start = sql.lsn_value(slot_flush_lsn_query(setup.slot));
  sql.run("INSERT INTO " + setup.table + " SELECT g, g FROM generate_series(1, 10000) g");
  sql.run("INSERT INTO " + setup.table + " VALUES (20000, 0)");
  ASSERT_TRUE(recorder.wait_for_events(10001, 60s));
  auto items = recorder.items();
  std::vector<sdk::Position> event_positions;
  for (const auto& item : items) {
    if (item.event) event_positions.push_back(item.position);
  }
  ASSERT_EQ(event_positions.size(), 10001u);
  // All but the last row of the big transaction: the slot stays before it (a keepalive that
  // came first may have moved it past background WAL, never into the transaction).
  const auto big_commit = recorder.events()[0].version;
  source->acknowledge(event_positions[9998]);
  EXPECT_LT(postgres->acknowledged_lsn(), big_commit) << "at most a keepalive from before the transaction";
  std::this_thread::sleep_for(600ms);  // several status updates
  EXPECT_LT(sql.lsn_value(slot_flush_lsn_query(setup.slot)), big_commit) << "no part of a transaction is confirmed";
  // Its last row: the slot moves to the transaction's end, not past the next one.
  source->acknowledge(event_positions[9999]);
  const auto first_end = postgres->acknowledged_lsn();
  EXPECT_GT(first_end, start);
  EXPECT_TRUE(invalidator::testing::eventually([&] { return sql.lsn_value(slot_flush_lsn_query(setup.slot)) == first_end; }, 10s));
  EXPECT_LT(first_end, recorder.events().back().version) << "the second transaction's commit lies beyond";
  // The lag is what the server has beyond the acknowledged end: the second transaction at least.
  const std::uint64_t behind = recorder.events().back().version - first_end;
  EXPECT_TRUE(invalidator::testing::eventually([&] { return recorder.lag_bytes().value_or(0) >= behind; }, 10s))
      << recorder.lag_bytes().value_or(0) << " bytes reported, " << behind << " behind";
  source->acknowledge(event_positions[10000]);
  EXPECT_TRUE(invalidator::testing::eventually(
      [&] { return sql.lsn_value(slot_flush_lsn_query(setup.slot)) > recorder.events().back().version; }, 10s));
  EXPECT_TRUE(invalidator::testing::eventually([&] { return recorder.lag_bytes().value_or(behind) < behind; }, 10s))
      << "the lag shrinks once the rest is acknowledged: " << recorder.lag_bytes().value_or(0);
}

TEST(PostgresSource, ARestartReadsAgainTheTransactionsNotAcknowledged) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY");
  {
    auto source = make_source(setup);
    EventRecorder recorder;
    Reading reading(*source, recorder);
    for (int id = 1; id <= 3; ++id) sql.run("INSERT INTO " + setup.table + " VALUES (" + std::to_string(id) + ")");
    ASSERT_TRUE(recorder.wait_for_events(3));
    for (const auto& item : recorder.items()) {
      if (item.event) {
        source->acknowledge(item.position);  // the first transaction only
        break;
      }
    }
    EXPECT_TRUE(reading.stop());
  }  // the source confirms what was acknowledged as it goes
  auto source = make_source(setup);
  EventRecorder recorder;
  Reading reading(*source, recorder);
  ASSERT_TRUE(recorder.wait_for_events(2));
  std::this_thread::sleep_for(300ms);
  auto events = recorder.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(column(*events[0].after, "id"), number(2));
  EXPECT_EQ(column(*events[1].after, "id"), number(3));
}

TEST(PostgresSource, ALargeTransactionIsStreamedToDiskAndAnAbortedOneInvalidatesNothing) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY, padding text");
  // The walsender streams a transaction once it holds more than this in memory.
  setup.extra_dsn = "options=-c%20logical_decoding_work_mem%3D64kB";
  TempDir state;
  setup.state_directory = state.path();
  auto source = make_source(setup);
  EventRecorder recorder;
  recorder.acknowledge_with(source.get());
  Reading reading(*source, recorder);
  sql.run("BEGIN; INSERT INTO " + setup.table + " SELECT g, repeat('p', 100) FROM generate_series(1, 3000) g; ROLLBACK");
  sql.run("BEGIN; INSERT INTO " + setup.table + " SELECT g, repeat('q', 100) FROM generate_series(1, 3000) g;"
          "SAVEPOINT s; INSERT INTO " + setup.table + " SELECT g, 'gone' FROM generate_series(5001, 6000) g;"
          "ROLLBACK TO s; INSERT INTO " + setup.table + " VALUES (9999, 'last'); COMMIT");
  ASSERT_TRUE(recorder.wait_for_events(3001, 60s));
  std::this_thread::sleep_for(300ms);
  auto events = recorder.events();
  ASSERT_EQ(events.size(), 3001u) << "the rolled-back transaction and savepoint invalidate nothing";
  for (const auto& event : events) {
    EXPECT_NE(column(*event.after, "padding"), text("gone"));
    EXPECT_NE(column(*event.after, "padding"), text("p"));
  }
  EXPECT_EQ(column(*events.back().after, "id"), number(9999));
  EXPECT_TRUE(invalidator::testing::eventually(
      [&] {
        return std::stoi(sql.value("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '" +
                                   setup.slot + "'")
                             .value_or("0")) >= 2;
      },
      10s))
      << "both transactions were streamed before they ended";
  EXPECT_TRUE(invalidator::testing::eventually(
      [&] { return sql.lsn_value(slot_flush_lsn_query(setup.slot)) > events.back().version; }, 10s));
}

TEST(PostgresSource, AnIdleSlotMovesOnPastChangesOfOtherTables) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY");
  const std::string other = unique_name("other");
  sql.run("CREATE TABLE " + other + " (id int)");
  auto source = make_source(setup);
  EventRecorder recorder;
  recorder.acknowledge_with(source.get());
  Reading reading(*source, recorder);
  sql.run("INSERT INTO " + other + " SELECT generate_series(1, 1000)");
  const auto after_other = sql.current_lsn();
  EXPECT_TRUE(invalidator::testing::eventually(
      [&] { return sql.lsn_value(slot_flush_lsn_query(setup.slot)) >= after_other; }, 20s))
      << "the slot keeps WAL it need not keep";
  EXPECT_TRUE(recorder.events().empty());
}

TEST(PostgresSource, ResumesAfterTheServerRestartsMissingNothing) {
  PostgresClient setup_sql(server().address());
  auto setup = prepare(setup_sql, "id int PRIMARY KEY");
  auto source = make_source(setup);
  EventRecorder recorder;
  recorder.acknowledge_with(source.get());
  std::atomic<int> transient_failures{0};
  // As the engine does: a transient failure is followed by another run().
  std::jthread reading([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      auto status = source->run(recorder, stop);
      if (status.ok()) return;
      EXPECT_TRUE(status.is_transient()) << status.message();
      if (!status.is_transient()) return;
      ++transient_failures;
      std::this_thread::sleep_for(100ms);
    }
  });
  {
    PostgresClient sql(server().address());
    for (int id = 1; id <= 50; ++id) sql.run("INSERT INTO " + setup.table + " VALUES (" + std::to_string(id) + ")");
  }
  ASSERT_TRUE(server().start_again());
  {
    PostgresClient sql(server().address());
    for (int id = 51; id <= 100; ++id) sql.run("INSERT INTO " + setup.table + " VALUES (" + std::to_string(id) + ")");
  }
  ASSERT_TRUE(invalidator::testing::eventually(
      [&] {
        std::set<std::int64_t> ids;
        for (const auto& event : recorder.events()) ids.insert(std::get<std::int64_t>(column(*event.after, "id")));
        return ids.size() == 100u;
      },
      30s))
      << recorder.events().size() << " events";
  EXPECT_GE(transient_failures.load(), 1) << "the restart was noticed";
  reading.request_stop();
}

TEST(PostgresSource, ASlotInUseIsATransientErrorThatSaysSo) {
  PostgresClient sql(server().address());
  auto setup = prepare(sql, "id int PRIMARY KEY");
  auto first = make_source(setup);
  EventRecorder recorder;
  Reading reading(*first, recorder);
  EXPECT_TRUE(invalidator::testing::eventually(
      [&] { return sql.value("SELECT active FROM pg_replication_slots WHERE slot_name = '" + setup.slot + "'") == "t"; },
      10s));
  auto second = make_source(setup);
  EventRecorder other;
  std::stop_source never;
  auto status = second->run(other, never.get_token());
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.is_transient());
  EXPECT_NE(status.message().find("is in use by another connection"), std::string::npos) << status.message();
}

TEST(PostgresSource, AMissingPublicationOrSlotNamesTheFix) {
  PostgresClient sql(server().address());
  sdk::Config config;
  config.set("dsn", server().address());
  config.set("slot", unique_name("absent"));
  config.set("publication", unique_name("absent"));
  auto created = invalidator_static_plugin_postgres().create_source(config, sdk::PluginContext{"changes", nullptr});
  ASSERT_TRUE(created) << created.error();
  EventRecorder recorder;
  auto status = (*created)->run(recorder, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_FALSE(status.is_transient());
  EXPECT_NE(status.message().find("does not exist in the database: create it (CREATE PUBLICATION"), std::string::npos)
      << status.message();

  auto setup = prepare(sql, "id int PRIMARY KEY");
  config.set("publication", setup.publication);
  config.set("create_slot", false);
  created = invalidator_static_plugin_postgres().create_source(config, sdk::PluginContext{"changes", nullptr});
  ASSERT_TRUE(created) << created.error();
  status = (*created)->run(recorder, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("pg_create_logical_replication_slot"), std::string::npos) << status.message();
}

TEST(PostgresSource, AnUnreachableServerIsATransientError) {
  sdk::Config config;
  config.set("dsn", std::string("host=127.0.0.1 port=1 user=postgres dbname=postgres"));
  auto created = invalidator_static_plugin_postgres().create_source(config, sdk::PluginContext{"changes", nullptr});
  ASSERT_TRUE(created) << created.error();
  EventRecorder recorder;
  auto status = (*created)->run(recorder, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_TRUE(status.is_transient()) << status.message();
  EXPECT_NE(status.message().find("cannot connect to PostgreSQL"), std::string::npos) << status.message();
}

}  // namespace

using sdk::testing::SourceConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, SourceConformance,
                         ::testing::Values(sdk::testing::SourceConformanceParam{
                             "postgres", [] { return std::make_unique<PostgresHarness>(); }}),
                         sdk::testing::source_conformance_name);
}  // namespace invalidator::plugins
