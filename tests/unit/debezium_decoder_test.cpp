#include <gtest/gtest.h>

#include "codec/debezium_decoder.hpp"
#include "support/test_support.hpp"

namespace invalidator::codec {
namespace {

using invalidator::testing::fixture;

sdk::RawMessage message(std::optional<std::string> value, std::string topic = "fullfillment.inventory.products",
                        std::optional<std::string> key = std::nullopt) {
  sdk::RawMessage raw;
  raw.topic = std::move(topic);
  raw.value = std::move(value);
  raw.key = std::move(key);
  raw.position = sdk::Position{3, 42};
  return raw;
}

std::int64_t integer(const sdk::Row& row, std::string_view column) {
  const sdk::Value* value = row.find(column);
  EXPECT_NE(value, nullptr) << column;
  return value ? std::get<std::int64_t>(*value) : -1;
}
std::string text(const sdk::Row& row, std::string_view column) {
  const sdk::Value* value = row.find(column);
  EXPECT_NE(value, nullptr) << column;
  return value ? std::get<std::string>(*value) : "";
}

class DecoderTest : public ::testing::Test {
 protected:
  DecodeResult decode(const sdk::RawMessage& raw) { return decoder_.decode(raw, event_); }
  DebeziumDecoder decoder_;
  sdk::ChangeEvent event_;
};

TEST_F(DecoderTest, PostgresCreateWithoutSchema) {
  auto result = decode(message(fixture("debezium/pg_create_no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event) << result.reason;
  EXPECT_EQ(event_.op, sdk::Op::insert);
  EXPECT_EQ(event_.table, (sdk::TableId{"postgres", "inventory", "products"}));
  EXPECT_FALSE(event_.before);
  ASSERT_TRUE(event_.after);
  EXPECT_EQ(integer(*event_.after, "id"), 110);
  EXPECT_EQ(text(*event_.after, "name"), "jacket");
  EXPECT_DOUBLE_EQ(std::get<double>(*event_.after->find("weight")), 0.2);
  EXPECT_EQ(event_.version, 34132560u);
  EXPECT_EQ(event_.transaction_id, "604");
  EXPECT_EQ(event_.commit_time, std::chrono::system_clock::time_point(std::chrono::milliseconds(1596010946488)));
  EXPECT_EQ(event_.position, (sdk::Position{3, 42}));
}

TEST_F(DecoderTest, TheEnvelopesTimeStandsInWhenTheSourceBlockHasNone) {
  // Before op or after it: the fields after an envelope's op are skipped, but for ts_ms.
  for (std::string_view value : {
           R"({"before":null,"after":{"id":1},"source":{"db":"d","schema":"s","table":"t"},"op":"c","ts_ms":1700000000123,"transaction":{"id":"9"}})",
           R"({"ts_ms":1700000000123,"before":null,"after":{"id":1},"source":{"db":"d","schema":"s","table":"t"},"op":"c"})"}) {
    auto result = decode(message(std::string(value)));
    ASSERT_EQ(result.status, DecodeStatus::event) << result.reason;
    EXPECT_EQ(event_.commit_time, std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123))) << value;
    EXPECT_EQ(integer(*event_.after, "id"), 1);
  }
}

TEST_F(DecoderTest, PostgresUpdateWithFullReplicaIdentity) {
  auto result = decode(message(fixture("debezium/pg_update_replica_full_no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::update);
  ASSERT_TRUE(event_.before && event_.after);
  EXPECT_EQ(text(*event_.before, "description"), "16oz carpenter's hammer");
  EXPECT_EQ(text(*event_.after, "description"), "18oz carpenter hammer");
}

TEST_F(DecoderTest, PostgresUpdateWithoutBeforeImage) {
  auto result = decode(message(fixture("debezium/pg_update_before_null_no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::update);
  EXPECT_FALSE(event_.before);
  EXPECT_EQ(integer(*event_.after, "id"), 106);
}

TEST_F(DecoderTest, PostgresDelete) {
  auto result = decode(message(fixture("debezium/pg_delete_replica_full_no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::remove);
  ASSERT_TRUE(event_.before);
  EXPECT_FALSE(event_.after);
  EXPECT_EQ(integer(*event_.before, "id"), 111);
  EXPECT_EQ(text(*event_.before, "description"), "Big 2-wheel scooter ");
}

TEST_F(DecoderTest, SnapshotReadWithSchemaEnvelope) {
  auto result = decode(message(fixture("debezium/pg_snapshot_read_with_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event) << result.reason << " " << result.detail;
  EXPECT_EQ(event_.op, sdk::Op::snapshot_read);
  EXPECT_EQ(event_.table.qualified_name(), "inventory.products");
  EXPECT_EQ(integer(*event_.after, "id"), 101);
  EXPECT_EQ(event_.version, 34078720u);
}

TEST_F(DecoderTest, MySqlCreateNamesDatabaseAndTable) {
  auto result = decode(message(fixture("debezium/mysql_create_no_schema_0.10.json"), "mysql-server-1.inventory.customers"));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::insert);
  EXPECT_EQ(event_.table.database, "inventory");
  EXPECT_EQ(event_.table.table, "customers");
  EXPECT_EQ(event_.table.qualified_name(), "inventory.customers");
  EXPECT_EQ(text(*event_.after, "email"), "annek@noanswer.org");
  EXPECT_EQ(event_.version, 42u) << "without an LSN the version is the message offset";
}

TEST_F(DecoderTest, TruncateHasNoRows) {
  auto result = decode(message(fixture("debezium/pg_truncate_docs_payload.json"), "PostgreSQL_server.public.customers"));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::truncate);
  EXPECT_EQ(event_.table.qualified_name(), "public.customers");
  EXPECT_FALSE(event_.before);
  EXPECT_FALSE(event_.after);
}

// Found by fuzzing: a ts_ms beyond what the clock holds overflowed its conversion. The event
// is decoded, its commit time unknown.
TEST_F(DecoderTest, ACommitTimeTheClockCannotHoldIsLeftUnknown) {
  for (const char* ts : {"9223372036854775807", "-9223372036854775807", "9300000000000000"}) {
    auto result = decode(message(std::string(R"({"before":null,"after":{"id":1},"source":{"table":"t","ts_ms":)") + ts +
                                 R"(},"op":"c"})"));
    EXPECT_EQ(result.status, DecodeStatus::event) << ts;
    EXPECT_EQ(event_.commit_time, std::chrono::system_clock::time_point{}) << ts;
  }
}

TEST_F(DecoderTest, TombstonesAreSkipped) {
  EXPECT_EQ(decode(message(std::nullopt, "t", fixture("debezium/pg_tombstone.key.no_schema.json"))).status,
            DecodeStatus::skipped);
  auto json_null = decode(message(fixture("debezium/pg_tombstone.value.json")));
  EXPECT_EQ(json_null.status, DecodeStatus::skipped);
  EXPECT_EQ(json_null.reason, "tombstone");
  EXPECT_EQ(json_null.skip_reason, SkipReason::tombstone);
  EXPECT_EQ(decode(message(std::string(R"({"schema":null,"payload":null})"))).status, DecodeStatus::skipped);
}

TEST_F(DecoderTest, TransactionMarkersAndHeartbeatsAreSkipped) {
  auto begin = decode(message(fixture("debezium/pg_txn_begin_docs.json"), "fulfillment.transaction"));
  EXPECT_EQ(begin.status, DecodeStatus::skipped);
  EXPECT_EQ(begin.reason, "transaction marker");
  EXPECT_EQ(begin.skip_reason, SkipReason::transaction_marker);
  EXPECT_EQ(decode(message(fixture("debezium/pg_txn_end_docs.json"))).reason, "transaction marker");
  auto heartbeat = decode(message(fixture("debezium/heartbeat.value.no_schema.json"), "__debezium-heartbeat.fulfillment"));
  EXPECT_EQ(heartbeat.status, DecodeStatus::skipped);
  EXPECT_EQ(heartbeat.reason, "heartbeat");
  EXPECT_EQ(heartbeat.skip_reason, SkipReason::heartbeat);
  EXPECT_EQ(decode(message(fixture("debezium/heartbeat.value.no_schema.json"), "other")).reason, "heartbeat");
}

TEST_F(DecoderTest, FlattenedRecordIsAnUpsert) {
  auto result = decode(message(fixture("debezium/unwrap_create_plain.json"), "fullfillment.inventory.products"));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::update);
  EXPECT_EQ(event_.table.qualified_name(), "inventory.products");
  EXPECT_EQ(integer(*event_.after, "id"), 110);
}

TEST_F(DecoderTest, FlattenedDeleteRewrite) {
  auto result = decode(message(fixture("debezium/unwrap_delete_rewrite_docs.json"), "server.public.t"));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::remove);
  ASSERT_TRUE(event_.before);
  EXPECT_EQ(integer(*event_.before, "pk"), 2);
  EXPECT_TRUE(sdk::is_null(*event_.before->find("cola")));
  EXPECT_EQ(event_.before->find("__deleted"), nullptr) << "metadata fields are not columns";
}

TEST_F(DecoderTest, FlattenedRecordWithOpAndTableMetadata) {
  auto result = decode(message(std::string(R"({"id":7,"__op":"u","__table":"customers","__schema":"public","__lsn":99})"), ""));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::update);
  EXPECT_EQ(event_.table.qualified_name(), "public.customers");
  EXPECT_EQ(event_.version, 99u);
}

TEST_F(DecoderTest, AFlattenedRecordWithATableAloneTakesItsSchemaFromTheTopic) {
  auto result = decode(message(std::string(R"({"id":7,"__op":"u","__table":"products"})"), "dbserver1.public.products"));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.table.qualified_name(), "public.products");
  // A topic renamed to something else says nothing about the schema.
  decode(message(std::string(R"({"id":7,"__op":"u","__table":"products"})"), "all-changes"));
  EXPECT_EQ(event_.table.qualified_name(), "products");
}

TEST_F(DecoderTest, RecordKeysWithAndWithoutSchema) {
  sdk::Row key;
  ASSERT_TRUE(decoder_.decode_key(fixture("debezium/key_with_schema_tutorial.json"), key));
  EXPECT_EQ(integer(key, "id"), 1001);
  ASSERT_TRUE(decoder_.decode_key(fixture("debezium/pg_tombstone.key.with_schema.json"), key));
  EXPECT_EQ(integer(key, "id"), 111);
  ASSERT_TRUE(decoder_.decode_key(fixture("debezium/pg_tombstone.key.no_schema.json"), key));
  EXPECT_EQ(integer(key, "id"), 111);
  ASSERT_TRUE(decoder_.decode_key(fixture("debezium/heartbeat.key.with_schema.json"), key));
  EXPECT_EQ(text(key, "serverName"), "fulfillment");
}

TEST_F(DecoderTest, DeleteWithoutBeforeUsesTheRecordKey) {
  auto result = decode(message(std::string(R"({"before":null,"after":null,"source":{"schema":"public","table":"customers"},"op":"d"})"),
                               "db.public.customers", fixture("debezium/pg_tombstone.key.no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(integer(event_.key, "id"), 111);
}

TEST_F(DecoderTest, WithoutAlwaysDecodeKeyTheRecordKeyIsReadOnlyInPlaceOfAMissingBeforeImage) {
  decoder_.set_always_decode_key(false);
  const std::string key = fixture("debezium/pg_tombstone.key.no_schema.json");
  auto with_before = decode(message(fixture("debezium/pg_update_replica_full_no_schema.json"), "db.public.customers", key));
  ASSERT_EQ(with_before.status, DecodeStatus::event) << with_before.reason;
  ASSERT_TRUE(event_.before);
  EXPECT_TRUE(event_.key.empty()) << "a before image is there: the key is not needed";

  auto without_before = decode(message(fixture("debezium/pg_update_before_null_no_schema.json"), "db.public.customers", key));
  ASSERT_EQ(without_before.status, DecodeStatus::event) << without_before.reason;
  EXPECT_FALSE(event_.before);
  EXPECT_EQ(integer(event_.key, "id"), 111);

  auto deleted = decode(message(std::string(R"({"before":null,"after":null,"source":{"schema":"public","table":"customers"},"op":"d"})"),
                                "db.public.customers", key));
  ASSERT_EQ(deleted.status, DecodeStatus::event) << deleted.reason;
  EXPECT_EQ(integer(event_.key, "id"), 111);
}

TEST_F(DecoderTest, ByDefaultTheRecordKeyIsDecodedBesideABeforeImage) {
  auto result = decode(message(fixture("debezium/pg_update_replica_full_no_schema.json"), "db.public.customers",
                               fixture("debezium/pg_tombstone.key.no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event) << result.reason;
  ASSERT_TRUE(event_.before);
  EXPECT_EQ(integer(event_.key, "id"), 111) << "explain shows it";
}

TEST_F(DecoderTest, DeleteWithNeitherRowNorKeyFails) {
  auto result = decode(message(std::string(R"({"before":null,"after":null,"source":{"schema":"public","table":"c"},"op":"d"})")));
  EXPECT_EQ(result.status, DecodeStatus::failed);
}

TEST_F(DecoderTest, UnavailableValuesAreMarked) {
  auto result = decode(message(std::string(
      R"({"before":null,"after":{"id":1,"bio":"__debezium_unavailable_value"},"source":{"schema":"public","table":"c"},"op":"u"})")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_TRUE(sdk::is_unavailable(*event_.after->find("bio")));
}

TEST_F(DecoderTest, MalformedInputFailsWithAReason) {
  EXPECT_EQ(decode(message(std::string("{\"op\": \"u\", "))).status, DecodeStatus::failed);
  EXPECT_EQ(decode(message(std::string("[1,2,3]"))).status, DecodeStatus::failed);
  EXPECT_EQ(decode(message(std::string("\"text\""))).status, DecodeStatus::failed);
  EXPECT_EQ(decode(message(std::string(""))).status, DecodeStatus::failed);
  auto bad_op = decode(message(std::string(R"({"before":null,"after":{"id":1},"source":{},"op":"x"})")));
  EXPECT_EQ(bad_op.status, DecodeStatus::failed);
  EXPECT_EQ(bad_op.reason, "unknown op");
  auto message_event = decode(message(std::string(R"({"before":null,"after":{"id":1},"source":{},"op":"m"})")));
  EXPECT_EQ(message_event.status, DecodeStatus::skipped);
  EXPECT_EQ(message_event.skip_reason, SkipReason::message_event);
}

TEST_F(DecoderTest, SchemaChangeRecordsAreSkipped) {
  auto result = decode(message(std::string(R"({"source":{"server":"s"},"ddl":"ALTER TABLE t ADD c int","tableChanges":[]})")));
  EXPECT_EQ(result.status, DecodeStatus::skipped);
  EXPECT_EQ(result.reason, "schema change");
  EXPECT_EQ(result.skip_reason, SkipReason::schema_change);
  EXPECT_EQ(to_string(SkipReason::schema_change), "schema_change");
}

TEST_F(DecoderTest, UnwrapsTopicKeyValueRecords) {
  std::string value = fixture("debezium/pg_delete_replica_full_no_schema.json");
  std::string escaped;
  for (char c : value) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c != '\n') escaped += c;
  }
  auto as_string = decode(message(std::string(R"({"topic":"fullfillment.inventory.products","key":"{\"id\":111}","value":")") +
                                  escaped + "\"}"));
  ASSERT_EQ(as_string.status, DecodeStatus::event) << as_string.reason << " " << as_string.detail;
  EXPECT_EQ(event_.op, sdk::Op::remove);
  EXPECT_EQ(event_.topic, "fullfillment.inventory.products");
  EXPECT_EQ(integer(event_.key, "id"), 111);
  EXPECT_EQ(event_.position, (sdk::Position{3, 42})) << "the position is the wrapper's";

  auto as_object = decode(message(std::string(R"({"topic":"db.public.customers","key":null,"value":)") +
                                  R"({"before":null,"after":{"id":5},"source":{"schema":"public","table":"customers"},"op":"c"}})"));
  ASSERT_EQ(as_object.status, DecodeStatus::event);
  EXPECT_EQ(integer(*event_.after, "id"), 5);

  auto tombstone = decode(message(std::string(R"({"topic":"t","key":"{\"id\":1}","value":null})")));
  EXPECT_EQ(tombstone.status, DecodeStatus::skipped);
  EXPECT_EQ(tombstone.reason, "tombstone");
}

TEST_F(DecoderTest, KeepsOnlyTheColumnsAskedFor) {
  decoder_.set_columns({"id", "description"});
  auto result = decode(message(fixture("debezium/pg_update_replica_full_no_schema.json")));
  ASSERT_EQ(result.status, DecodeStatus::event);
  EXPECT_EQ(event_.before->size(), 2u);
  EXPECT_EQ(event_.after->size(), 2u);
  EXPECT_EQ(text(*event_.after, "description"), "18oz carpenter hammer");
  EXPECT_EQ(event_.after->find("name"), nullptr);
  EXPECT_EQ(event_.table.qualified_name(), "inventory.products") << "the source block is read whole";
  auto flattened = decode(message(fixture("debezium/unwrap_delete_rewrite_docs.json"), "s.public.t"));
  ASSERT_EQ(flattened.status, DecodeStatus::event);
  EXPECT_EQ(event_.op, sdk::Op::remove) << "metadata fields still count";
  EXPECT_TRUE(event_.before->empty());
}

TEST(TableFromTopic, SplitsPrefixSchemaAndTable) {
  EXPECT_EQ(table_from_topic("dbserver1.public.customers").qualified_name(), "public.customers");
  EXPECT_EQ(table_from_topic("customers").qualified_name(), "customers");
}

}  // namespace
}  // namespace invalidator::codec
