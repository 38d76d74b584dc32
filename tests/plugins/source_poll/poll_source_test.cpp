// The poll source against a real PostgreSQL 15 started on loopback by scripts/services.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "invalidator/sdk/testing/source_conformance.hpp"
#include "poll_source.hpp"
#include "support/local_server.hpp"
#include "support/postgres_client.hpp"
#include "support/source_thread.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(poll);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::LocalServer;
using invalidator::testing::PostgresClient;
using invalidator::testing::TempDir;
using sdk::testing::RecordingEmitter;

// One server for the whole binary: each test works in tables (and slots, publications) of its own.
LocalServer& server() { return LocalServer::shared("postgres"); }

std::string unique_table() {
  static std::atomic<int> counter{0};
  return "polled_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

// A table with the usual cursor: a timestamp the application sets, and the primary key.
std::string make_table(PostgresClient& sql, const std::string& extra_columns = "") {
  const std::string table = unique_table();
  sql.run("CREATE TABLE " + table + " (id serial PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT clock_timestamp()" +
          (extra_columns.empty() ? "" : ", " + extra_columns) + ")");
  return table;
}

sdk::Result<std::unique_ptr<sdk::Source>> create_source(const std::string& table, const std::filesystem::path& state,
                                                        sdk::Config config = {}) {
  config.set("dsn", server().address());
  config.set("table", "public." + table);
  if (!config.has("interval")) config.set("interval", std::chrono::milliseconds(20));
  config.set("checkpoint_interval", std::chrono::milliseconds(1));
  return invalidator_static_plugin_poll().create_source(config, sdk::PluginContext{"poll", nullptr, state});
}

std::unique_ptr<sdk::Source> make_source(const std::string& table, const std::filesystem::path& state,
                                         sdk::Config config = {}) {
  auto created = create_source(table, state, std::move(config));
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created).value() : nullptr;
}

using Reading = invalidator::testing::SourceThread;

class PollHarness final : public sdk::testing::SourceHarness {
 public:
  PollHarness() : sql_(server().address()), table_(make_table(sql_, "seq int")) {}
  std::unique_ptr<sdk::Source> make_source() override { return plugins::make_source(table_, state_.path()); }
  void produce(const std::vector<std::string>& values) override {
    for (const auto& value : values) {
      auto at = value.find("\"seq\":");
      sql_.run("INSERT INTO " + table_ + " (seq) VALUES (" + std::to_string(std::stoi(value.substr(at + 6))) + ")");
    }
  }
  std::chrono::milliseconds patience() override { return 30s; }

 private:
  PostgresClient sql_;
  std::string table_;
  TempDir state_;
};

TEST(PollSource, RowsBecomeUpdateEventsWithTheirKeyAndTypedValues) {
  PostgresClient sql(server().address());
  auto table = make_table(sql, "email text, active boolean, balance numeric");
  sql.run("INSERT INTO " + table + " (email, active, balance) VALUES ('a@x', true, 1.50), ('b@x', false, 2)");
  TempDir state;
  auto source = make_source(table, state.path());
  RecordingEmitter emitter;
  Reading reading(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(2, 10s));
  auto emitted = emitter.emitted();
  ASSERT_EQ(emitted.size(), 2u);
  EXPECT_EQ(emitted[0].value.substr(0, 7 + table.size() + 7), "update public." + table);
  EXPECT_NE(emitted[0].value.find("\"id\":1,"), std::string::npos) << emitted[0].value;
  EXPECT_NE(emitted[0].value.find("\"email\":\"a@x\",\"active\":true,\"balance\":\"1.50\""), std::string::npos)
      << emitted[0].value;
  // Updated again: read again.
  sql.run("UPDATE " + table + " SET email = 'c@x', updated_at = clock_timestamp() WHERE id = 1");
  ASSERT_TRUE(emitter.wait_for(3, 10s));
  EXPECT_NE(emitter.emitted()[2].value.find("\"email\":\"c@x\""), std::string::npos);
}

TEST(PollSource, RowsWithEqualTimestampsAreNeitherSkippedNorRepeatedAcrossBatches) {
  PostgresClient sql(server().address());
  auto table = make_table(sql, "seq int");
  // One statement: now() is the same for all seven rows.
  sql.run("INSERT INTO " + table + " (updated_at, seq) SELECT now(), g FROM generate_series(1, 7) g");
  TempDir state;
  sdk::Config config;
  config.set("batch", std::int64_t{2});
  auto source = make_source(table, state.path(), config);
  RecordingEmitter emitter;
  Reading reading(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(7, 10s));
  std::this_thread::sleep_for(200ms);  // several more polls
  auto emitted = emitter.emitted();
  ASSERT_EQ(emitted.size(), 7u);
  for (int seq = 1; seq <= 7; ++seq) {
    EXPECT_NE(emitted[static_cast<std::size_t>(seq - 1)].value.find("\"seq\":" + std::to_string(seq) + "}"),
              std::string::npos)
        << emitted[static_cast<std::size_t>(seq - 1)].value;
  }
}

TEST(PollSource, ARestartResumesAfterTheLastAcknowledgedRowFromTheStoredCursor) {
  PostgresClient sql(server().address());
  auto table = make_table(sql, "seq int");
  for (int seq = 1; seq <= 6; ++seq) sql.run("INSERT INTO " + table + " (seq) VALUES (" + std::to_string(seq) + ")");
  TempDir state;
  {
    auto source = make_source(table, state.path());
    RecordingEmitter emitter;
    Reading reading(*source, emitter);
    ASSERT_TRUE(emitter.wait_for(6, 10s));
    source->acknowledge(emitter.emitted()[3].position);  // rows 1..4
    EXPECT_TRUE(reading.stop());
  }
  const std::string stored = invalidator::testing::read_file(state.path() / "cursor");
  EXPECT_EQ(stored.rfind("columns updated_at,id\n", 0), 0u) << stored;
  EXPECT_NE(stored.find("\n4\n"), std::string::npos) << stored;
  auto source = make_source(table, state.path());
  RecordingEmitter emitter;
  Reading reading(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(2, 10s));
  std::this_thread::sleep_for(200ms);
  auto emitted = emitter.emitted();
  ASSERT_EQ(emitted.size(), 2u);
  EXPECT_NE(emitted[0].value.find("\"seq\":5"), std::string::npos);
  EXPECT_NE(emitted[1].value.find("\"seq\":6"), std::string::npos);
}

TEST(PollSource, ASoftDeletedRowIsADeleteEvent) {
  PostgresClient sql(server().address());
  auto table = make_table(sql, "email text, deleted_at timestamptz");
  sql.run("INSERT INTO " + table + " (email) VALUES ('a@x'), ('b@x')");
  TempDir state;
  sdk::Config config;
  config.set("deleted_column", std::string("deleted_at"));
  auto source = make_source(table, state.path(), config);
  RecordingEmitter emitter;
  Reading reading(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(2, 10s));
  sql.run("UPDATE " + table + " SET deleted_at = now(), updated_at = clock_timestamp() WHERE id = 2");
  ASSERT_TRUE(emitter.wait_for(3, 10s));
  auto emitted = emitter.emitted();
  EXPECT_EQ(emitted[0].value.rfind("update ", 0), 0u);
  EXPECT_EQ(emitted[2].value.rfind("delete ", 0), 0u) << emitted[2].value;
  // A delete's row is its key: the primary key, looked up.
  EXPECT_NE(emitted[2].value.find("{\"id\":2}"), std::string::npos) << emitted[2].value;
}

TEST(PollSource, StartingNowSkipsTheRowsAlreadyThere) {
  PostgresClient sql(server().address());
  auto table = make_table(sql, "seq int");
  sql.run("INSERT INTO " + table + " (seq) SELECT g FROM generate_series(1, 5) g");
  TempDir state;
  sdk::Config config;
  config.set("start", std::string("now"));
  auto source = make_source(table, state.path(), config);
  RecordingEmitter emitter;
  Reading reading(*source, emitter);
  std::this_thread::sleep_for(200ms);
  sql.run("INSERT INTO " + table + " (seq) VALUES (6)");
  ASSERT_TRUE(emitter.wait_for(1, 10s));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(emitter.emitted().size(), 1u);
  EXPECT_NE(emitter.emitted()[0].value.find("\"seq\":6"), std::string::npos);
}

TEST(PollSource, ANullCursorOrAMissingColumnStopsWithTheReason) {
  PostgresClient sql(server().address());
  const std::string table = unique_table();
  sql.run("CREATE TABLE " + table + " (id int PRIMARY KEY, updated_at timestamptz)");
  sql.run("INSERT INTO " + table + " VALUES (1, NULL)");
  TempDir state;
  auto source = make_source(table, state.path());
  RecordingEmitter emitter;
  auto status = source->run(emitter, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("cursor column 'updated_at' is NULL"), std::string::npos) << status.message();

  sdk::Config config;
  config.set("cursor", std::vector<std::string>{"modified", "id"});
  auto misspelt = make_source(table, state.path(), config);
  status = misspelt->run(emitter, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_FALSE(status.is_transient());
  EXPECT_NE(status.message().find("modified"), std::string::npos) << status.message();
}

TEST(PollSource, AStoredCursorOfOtherColumnsIsRefused) {
  TempDir state;
  invalidator::testing::write_file(state.path() / "cursor", "columns updated_at,id\n2026-01-01 00:00:00+00\n7\n");
  sdk::Config config;
  config.set("cursor", std::vector<std::string>{"version"});
  auto created = create_source("whatever", state.path(), config);
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("the stored cursor is of columns (updated_at,id)"), std::string::npos)
      << created.error();
}

TEST(PollSource, CursorValuesWithNewlinesAndBackslashesSurviveTheFile) {
  const std::vector<std::string> columns{"a", "b"};
  const PollSource::Cursor cursor{"line one\nline two", "back\\slash"};
  std::string error;
  auto parsed = PollSource::parse_cursor(PollSource::format_cursor(columns, cursor), columns, error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, cursor);
  EXPECT_FALSE(PollSource::parse_cursor("garbage", columns, error));
}

}  // namespace

using sdk::testing::SourceConformance;
INSTANTIATE_TEST_SUITE_P(Poll, SourceConformance,
                         ::testing::Values(sdk::testing::SourceConformanceParam{
                             "poll", [] { return std::make_unique<PollHarness>(); }}),
                         sdk::testing::source_conformance_name);
}  // namespace invalidator::plugins
