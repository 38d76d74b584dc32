#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "codec/key_matcher.hpp"
#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"

namespace invalidator::codec {

enum class DecodeStatus {
  event,         // `out` holds a change event
  skipped,       // a record that is not a row change: tombstone, heartbeat, transaction marker...
  failed,        // malformed or unrecognised: dead-letter it
};

// Why a record that is not a row change was skipped: a label of the skipped-events metric.
enum class SkipReason : std::uint8_t { tombstone, heartbeat, message_event, transaction_marker, schema_change };
inline constexpr std::size_t kSkipReasons = 5;
std::string_view to_string(SkipReason reason);

struct DecodeResult {
  DecodeStatus status = DecodeStatus::failed;
  SkipReason skip_reason = SkipReason::tombstone;  // for `skipped`
  std::string_view reason;  // static text: why skipped or failed
  std::string detail;       // parser message, for failures
};

namespace detail {
struct DecodedFields;
}  // namespace detail

// Decodes Debezium JSON in all its shapes: the change envelope with or without the
// `schemas.enable` wrapper, record keys with or without schema, MySQL and PostgreSQL
// sources, and the flattened output of the ExtractNewRecordState transform. Also unwraps
// {"topic","key","value"} records, so that a captured stream can be replayed (dead-letter
// files are read by pipeline/dead_letter.hpp before anything is decoded).
// One decoder per thread; it reuses its buffers across messages.
class DebeziumDecoder {
 public:
  DebeziumDecoder();
  ~DebeziumDecoder();
  DebeziumDecoder(const DebeziumDecoder&) = delete;
  DebeziumDecoder& operator=(const DebeziumDecoder&) = delete;

  DecodeResult decode(const sdk::RawMessage& message, sdk::ChangeEvent& out);

  // Keeps only these columns of row images (what the routes use); empty: all. Skipping a
  // column is far cheaper than reading it.
  void set_columns(std::vector<std::string> columns) { columns_ = KeyMatcher(std::move(columns)); }

  // Whether the record key is decoded into the event's key when the event has a before
  // image too (routes read the key only in place of a missing before image). On by default;
  // the pipeline turns it off, which spares a second parse per message.
  void set_always_decode_key(bool always) { always_decode_key_ = always; }

  // Reads a Debezium key (with or without schema) into `row`. False if it is not an object.
  bool decode_key(std::string_view json, sdk::Row& row);

 private:
  // The steps of decode(). Reads a message's JSON into fields_: a result when it ends there
  // (a tombstone, malformed JSON), none when there is a record to decode.
  std::optional<DecodeResult> read_fields_of(const sdk::RawMessage& message);
  // A Debezium envelope: op, before, after, source.
  DecodeResult decode_envelope(const sdk::RawMessage& message, bool key_after_rows, sdk::ChangeEvent& out);
  // Anything else: a wrapped record, a record that is no row change,
  // or a flattened row (decode_flattened).
  DecodeResult decode_other(const sdk::RawMessage& message, sdk::ChangeEvent& out);
  DecodeResult decode_flattened(const sdk::RawMessage& message, sdk::ChangeEvent& out);

  std::unique_ptr<detail::DecodedFields> fields_, payload_fields_, key_fields_;
  simdjson::ondemand::parser parser_;
  simdjson::ondemand::parser key_parser_;
  std::string padded_;
  std::string key_padded_;
  int depth_ = 0;  // of wrapped records being decoded
  KeyMatcher columns_{{}};
  bool always_decode_key_ = true;
};

// "dbserver1.public.customers" -> schema "public", table "customers" (the Debezium topic
// naming scheme <prefix>.<schema or db>.<table>).
sdk::TableId table_from_topic(std::string_view topic);

}  // namespace invalidator::codec
