// The pgoutput decoder against messages captured from a real PostgreSQL 15 (tests/fixtures/
// pgoutput, with the SQL that made each in its `scenario`).

#include "pgoutput.hpp"

#include <gtest/gtest.h>

#include "captured_pgoutput.hpp"
#include "stream_spill.hpp"
#include "support/test_support.hpp"

namespace invalidator::plugins::pgoutput {
namespace {

using Captured = invalidator::testing::CapturedMessage;

std::vector<Captured> captured(const std::string& file) { return invalidator::testing::captured_pgoutput(file); }

// Decodes a capture as the source does: relations remembered, changes turned into events
// under the transaction that Begin opened.
struct Decoded {
  std::vector<sdk::ChangeEvent> events;
  std::vector<Commit> commits;
  RelationCache relations;
};

Decoded decode(const std::vector<Captured>& messages) {
  Decoded out;
  TransactionInfo transaction;
  ChangeBuilder builder;
  for (const auto& message : messages) {
    auto parsed = parse(message.bytes, false);
    EXPECT_TRUE(parsed) << message.type << ": " << parsed.error();
    if (!parsed) continue;
    std::visit(
        [&](auto& body) {
          using Body = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<Body, Begin>) {
            transaction = TransactionInfo{body.final_lsn, from_postgres_time(body.commit_time), body.xid};
          } else if constexpr (std::is_same_v<Body, Commit>) {
            out.commits.push_back(body);
          } else if constexpr (std::is_same_v<Body, Relation>) {
            out.relations.remember(body);
          } else if constexpr (std::is_same_v<Body, Insert> || std::is_same_v<Body, Update> ||
                               std::is_same_v<Body, Delete> || std::is_same_v<Body, Truncate>) {
            auto built = builder.build(body, out.relations, transaction, out.events);
            EXPECT_TRUE(built) << built.message();
          }
        },
        parsed->body);
  }
  return out;
}

const sdk::Value& column(const sdk::Row& row, const std::string& name) {
  static const sdk::Value missing = std::string("(missing)");
  const sdk::Value* value = row.find(name);
  return value ? *value : missing;
}

TEST(Pgoutput, LsnsReadAndWriteAsPostgresDoes) {
  EXPECT_EQ(format_lsn(0x1536DC0), "0/1536DC0");
  EXPECT_EQ(format_lsn((Lsn{0x16} << 32) | 0xB374D848), "16/B374D848");
  EXPECT_EQ(parse_lsn("16/B374D848"), (Lsn{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(parse_lsn("0/0"), Lsn{0});
  EXPECT_FALSE(parse_lsn("1536DC0"));
  EXPECT_FALSE(parse_lsn("0/xyz"));
  EXPECT_FALSE(parse_lsn("/1"));
}

TEST(Pgoutput, TimesCountFromTheYear2000) {
  const auto time = from_postgres_time(0);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(time), 946684800);
  EXPECT_EQ(to_postgres_time(from_postgres_time(818'198'386'000'000)), 818'198'386'000'000);
}

TEST(Pgoutput, EveryCapturedMessageParses) {
  for (const auto& message : captured("pgoutput_v1_sql_peek.jsonl")) {
    auto parsed = parse(message.bytes, false);
    ASSERT_TRUE(parsed) << message.type << ": " << parsed.error();
    EXPECT_EQ(std::string(1, parsed->type), message.type);
  }
  bool in_stream = false;
  for (const auto& message : captured("pgoutput_v2_streaming_sql_peek.jsonl")) {
    auto parsed = parse(message.bytes, in_stream);
    ASSERT_TRUE(parsed) << message.type << ": " << parsed.error();
    if (parsed->type == 'S') in_stream = true;
    if (parsed->type == 'E') in_stream = false;
    if (in_stream && parsed->type != 'S') {
      EXPECT_EQ(parsed->xid, message.xid) << message.type;
    }
  }
}

TEST(Pgoutput, AMessageCutShortIsAnErrorAtEveryLength) {
  // A byte at a time from nothing to one short of whole: each an error, none a crash.
  for (const auto& message : captured("pgoutput_v1_sql_peek.jsonl")) {
    for (std::size_t length = 0; length < message.bytes.size(); ++length) {
      auto parsed = parse(std::string_view(message.bytes).substr(0, length), false);
      EXPECT_FALSE(parsed) << message.type << " cut to " << length << " of " << message.bytes.size() << " bytes";
    }
  }
  EXPECT_FALSE(parse("\x01\x02", false));
  auto unknown = parse("Z", false);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("unknown pgoutput message type 'Z'"), std::string::npos) << unknown.error();
}

TEST(Pgoutput, AnInsertHoldsTheNewRowTypedByColumnAndItsKey) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  ASSERT_FALSE(decoded.events.empty());
  const sdk::ChangeEvent& insert = decoded.events[0];
  EXPECT_EQ(insert.op, sdk::Op::insert);
  EXPECT_EQ(insert.table.qualified_name(), "inventory.customers");
  ASSERT_TRUE(insert.after);
  EXPECT_EQ(column(*insert.after, "id"), sdk::Value(std::int64_t{1001}));
  EXPECT_EQ(column(*insert.after, "first_name"), sdk::Value(std::string("Sally")));
  EXPECT_EQ(std::get<std::string>(column(*insert.after, "biography")).size(), 10000u);
  EXPECT_FALSE(insert.before);
  ASSERT_EQ(insert.key.size(), 1u);
  EXPECT_EQ(column(insert.key, "id"), sdk::Value(std::int64_t{1001}));
  // The version is the commit's LSN (Begin's final_lsn), the transaction id its xid.
  EXPECT_EQ(insert.version, 0x1536D90u);
  EXPECT_EQ(insert.transaction_id, "732");
  EXPECT_GT(insert.commit_time, from_postgres_time(0));
  ASSERT_FALSE(decoded.commits.empty());
  EXPECT_EQ(decoded.commits[0].commit_lsn, 0x1536D90u);
  EXPECT_EQ(decoded.commits[0].end_lsn, 0x1536DC0u);
}

TEST(Pgoutput, AnUnchangedToastedValueIsUnavailableNeverAValue) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  ASSERT_GE(decoded.events.size(), 2u);
  const sdk::ChangeEvent& update = decoded.events[1];
  EXPECT_EQ(update.op, sdk::Op::update);
  ASSERT_TRUE(update.after);
  EXPECT_TRUE(sdk::is_unavailable(column(*update.after, "biography")));
  EXPECT_EQ(column(*update.after, "first_name"), sdk::Value(std::string("Dana")));
  EXPECT_FALSE(update.before) << "REPLICA IDENTITY DEFAULT sends no old row when the key is unchanged";
  EXPECT_EQ(column(update.key, "id"), sdk::Value(std::int64_t{1001}));
}

TEST(Pgoutput, AKeyChangeUnderReplicaIdentityDefaultGivesTheOldKey) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  ASSERT_GE(decoded.events.size(), 4u);
  const sdk::ChangeEvent& update = decoded.events[2];
  EXPECT_EQ(update.op, sdk::Op::update);
  EXPECT_EQ(column(update.key, "id"), sdk::Value(std::int64_t{1001})) << "the key before the change";
  EXPECT_EQ(column(*update.after, "id"), sdk::Value(std::int64_t{1002}));
  EXPECT_FALSE(update.before) << "only the old key is real: the other old columns arrive as nulls";
  const sdk::ChangeEvent& removal = decoded.events[3];
  EXPECT_EQ(removal.op, sdk::Op::remove);
  EXPECT_EQ(column(removal.key, "id"), sdk::Value(std::int64_t{1002}));
  EXPECT_FALSE(removal.after);
  EXPECT_FALSE(removal.before);
}

TEST(Pgoutput, ReplicaIdentityFullGivesTheWholeOldRow) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  ASSERT_GE(decoded.events.size(), 7u);
  const sdk::ChangeEvent& update = decoded.events[5];
  EXPECT_EQ(update.table.qualified_name(), "inventory.orders_full");
  ASSERT_TRUE(update.before);
  ASSERT_TRUE(update.after);
  EXPECT_EQ(column(*update.before, "status"), sdk::Value(std::string("NEW")));
  EXPECT_NE(column(*update.after, "status"), column(*update.before, "status"));
  const sdk::ChangeEvent& removal = decoded.events[6];
  EXPECT_EQ(removal.op, sdk::Op::remove);
  ASSERT_TRUE(removal.before);
  EXPECT_EQ(column(*removal.before, "status"), sdk::Value(std::string("SHIPPED")));
  EXPECT_TRUE(sdk::is_null(column(*removal.before, "note")));
}

TEST(Pgoutput, ATruncateOfTwoTablesIsAnEventForEach) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  std::vector<std::string> truncated;
  for (const auto& event : decoded.events) {
    if (event.op == sdk::Op::truncate) truncated.push_back(event.table.qualified_name());
  }
  EXPECT_EQ(truncated, (std::vector<std::string>{"inventory.moods", "inventory.orders_full"}));
}

TEST(Pgoutput, AnEnumColumnIsText) {
  auto decoded = decode(captured("pgoutput_v1_sql_peek.jsonl"));
  auto moods = std::find_if(decoded.events.begin(), decoded.events.end(),
                            [](const auto& event) { return event.table.table == "moods" && event.op == sdk::Op::insert; });
  ASSERT_NE(moods, decoded.events.end());
  EXPECT_EQ(column(*moods->after, "m"), sdk::Value(std::string("happy")));
}

TEST(Pgoutput, AChangeOfAnUnannouncedRelationIsAnError) {
  auto messages = captured("pgoutput_v1_sql_peek.jsonl");
  auto insert = std::find_if(messages.begin(), messages.end(), [](const auto& m) { return m.type == "I"; });
  ASSERT_NE(insert, messages.end());
  auto parsed = parse(insert->bytes, false);
  ASSERT_TRUE(parsed);
  RelationCache nothing;
  std::vector<sdk::ChangeEvent> events;
  auto built = ChangeBuilder().build(std::get<Insert>(parsed->body), nothing, TransactionInfo{}, events);
  ASSERT_FALSE(built);
  EXPECT_NE(built.message().find("before any Relation message"), std::string::npos) << built.message();
}

TEST(Pgoutput, ValuesTakeTheirColumnsTypes) {
  auto text = [](const char* value) { return TupleValue{TupleValue::Kind::text, value}; };
  EXPECT_EQ(convert_value(16, text("t")), sdk::Value(true));
  EXPECT_EQ(convert_value(16, text("f")), sdk::Value(false));
  EXPECT_EQ(convert_value(20, text("-9000000000")), sdk::Value(std::int64_t{-9000000000}));
  EXPECT_EQ(convert_value(701, text("1.5")), sdk::Value(1.5));
  EXPECT_EQ(convert_value(701, text("NaN")), sdk::Value(std::string("NaN")));
  EXPECT_EQ(convert_value(1700, text("12.50")), sdk::Value(std::string("12.50"))) << "numeric keeps its digits";
  EXPECT_EQ(convert_value(25, TupleValue{TupleValue::Kind::null, {}}), sdk::Value());
  EXPECT_TRUE(sdk::is_unavailable(convert_value(25, TupleValue{TupleValue::Kind::unchanged_toast, {}})));
}

TEST(Pgoutput, AStreamedTransactionIsReplayedFromItsSpillAtItsCommit) {
  invalidator::testing::TempDir directory;
  StreamSpill spill(directory.path());
  std::optional<std::uint32_t> streaming;
  RelationCache relations;
  std::vector<sdk::ChangeEvent> events;
  for (const auto& message : captured("pgoutput_v2_streaming_sql_peek.jsonl")) {
    auto parsed = parse(message.bytes, streaming.has_value());
    ASSERT_TRUE(parsed) << parsed.error();
    if (auto* start = std::get_if<StreamStart>(&parsed->body)) streaming = start->xid;
    else if (std::holds_alternative<StreamStop>(parsed->body)) streaming.reset();
    else if (auto* commit = std::get_if<StreamCommit>(&parsed->body)) {
      EXPECT_EQ(commit->commit_lsn, 0x157A368u);
      EXPECT_EQ(commit->end_lsn, 0x157A398u);
      TransactionInfo transaction{commit->commit_lsn, from_postgres_time(commit->commit_time), commit->xid};
      ASSERT_TRUE(spill.replay(commit->xid, [&](std::string_view bytes) {
        auto kept = parse(bytes, true);
        if (!kept) return kept.status();
        if (auto* relation = std::get_if<Relation>(&kept->body)) relations.remember(*relation);
        if (auto* insert = std::get_if<Insert>(&kept->body)) return ChangeBuilder().build(*insert, relations, transaction, events);
        if (auto* update = std::get_if<Update>(&kept->body)) return ChangeBuilder().build(*update, relations, transaction, events);
        return sdk::Status::success();
      }));
    } else {
      ASSERT_TRUE(streaming);
      ASSERT_TRUE(spill.append(*streaming, parsed->xid.value_or(*streaming), message.bytes));
    }
  }
  EXPECT_EQ(spill.open_transactions(), 0u);
  // The capture elides inserts 4..789: 5 inserts and the update remain.
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.front().op, sdk::Op::insert);
  EXPECT_EQ(events.back().op, sdk::Op::update);
  for (const auto& event : events) EXPECT_EQ(event.version, 0x157A368u);
}

TEST(StreamSpill, KeepsMessagesOnDiskInOrderAndForgetsAbortedSubtransactions) {
  invalidator::testing::TempDir directory;
  StreamSpill spill(directory.path());
  const std::string big(100 * 1024, 'x');  // past the write buffer: goes to disk
  ASSERT_TRUE(spill.append(7, 7, "first"));
  ASSERT_TRUE(spill.append(7, 8, "of subtransaction 8"));
  ASSERT_TRUE(spill.append(7, 9, big));
  ASSERT_TRUE(spill.append(7, 7, "last"));
  ASSERT_TRUE(spill.append(11, 11, "another transaction"));
  EXPECT_EQ(spill.open_transactions(), 2u);
  EXPECT_GE(spill.bytes(), big.size());
  spill.abort(7, 8);
  std::vector<std::string> replayed;
  ASSERT_TRUE(spill.replay(7, [&](std::string_view message) {
    replayed.emplace_back(message.size() > 100 ? "big" : std::string(message));
    return sdk::Status::success();
  }));
  EXPECT_EQ(replayed, (std::vector<std::string>{"first", "big", "last"}));
  spill.abort(11, 11);
  EXPECT_EQ(spill.open_transactions(), 0u);
  replayed.clear();
  ASSERT_TRUE(spill.replay(11, [&](std::string_view message) {
    replayed.emplace_back(message);
    return sdk::Status::success();
  }));
  EXPECT_TRUE(replayed.empty()) << "an aborted transaction invalidates nothing";
  EXPECT_TRUE(std::filesystem::is_empty(directory.path())) << "spill files are unlinked as soon as made";
}

TEST(StreamSpill, AnErrorFromTheReplayStopsIt) {
  invalidator::testing::TempDir directory;
  StreamSpill spill(directory.path());
  ASSERT_TRUE(spill.append(1, 1, "a"));
  ASSERT_TRUE(spill.append(1, 1, "b"));
  int seen = 0;
  auto replayed = spill.replay(1, [&](std::string_view) {
    ++seen;
    return sdk::Status::error("no room");
  });
  EXPECT_FALSE(replayed);
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace invalidator::plugins::pgoutput
