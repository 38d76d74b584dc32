#include "codec/debezium_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>

namespace invalidator::codec {

namespace ondemand = simdjson::ondemand;

namespace detail {
// What the decoder takes from a `source` block, read straight into place (a row of the
// block, searched afterwards for each field, cost copies and comparisons for every event).
struct SourceBlock {
  std::string db, schema, table, transaction_id;
  std::optional<std::int64_t> lsn, ts_ms;

  void reset() {
    db.clear();
    schema.clear();
    table.clear();
    transaction_id.clear();
    lsn.reset();
    ts_ms.reset();
  }
};

// Everything one pass over a Debezium object can tell. Reused from message to message.
struct DecodedFields {
  bool has_payload = false;
  bool has_schema = false;
  bool payload_null = false;
  bool has_before = false, has_after = false, has_source = false, has_op = false;
  bool before_is_row = false, after_is_row = false;  // false: the field was null
  sdk::Row before, after;
  std::string op;
  SourceBlock source;
  sdk::Row flat;  // every other top-level field: columns of a flattened record
  std::optional<std::int64_t> ts_ms;  // the envelope's ts_ms, when it comes after op
  std::size_t field_count = 0;

  // op and one of before, after, source came: an envelope, whose other fields are not columns.
  bool envelope_seen() const { return has_op && (has_before || has_after || has_source); }

  void reset() {
    has_payload = has_schema = payload_null = false;
    has_before = has_after = has_source = has_op = false;
    before_is_row = after_is_row = false;
    before.clear();
    after.clear();
    op.clear();
    source.reset();
    flat.clear();
    ts_ms.reset();
    field_count = 0;
  }
};

}  // namespace detail

using Fields = detail::DecodedFields;

std::string_view to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::tombstone: return "tombstone";
    case SkipReason::heartbeat: return "heartbeat";
    case SkipReason::message_event: return "message_event";
    case SkipReason::transaction_marker: return "transaction_marker";
    case SkipReason::schema_change: return "schema_change";
  }
  return "unknown";
}

namespace {

constexpr std::string_view kUnavailable = "__debezium_unavailable_value";
// What the decoder takes from the `source` block; the rest (connector, version, name,
// snapshot, sequence, xmin...) is skipped unparsed.
const KeyMatcher kSourceFieldsRead({"db", "schema", "table", "lsn", "txId", "ts_ms"});
enum SourceField : std::size_t { source_db, source_schema, source_table, source_lsn, source_tx_id, source_ts_ms };

// Points simdjson at `json`, copying into `scratch` only when the input lacks the padding
// simdjson reads past the end.
simdjson::simdjson_result<ondemand::document> iterate(ondemand::parser& parser, std::string_view json,
                                                       std::string& scratch) {
  scratch.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  scratch.assign(json.data(), json.size());
  return parser.iterate(scratch.data(), scratch.size(), scratch.capacity());
}

simdjson::simdjson_result<ondemand::document> iterate(ondemand::parser& parser, const std::string& json,
                                                       std::string& scratch) {
  static_assert(sdk::kDecodePadding >= simdjson::SIMDJSON_PADDING);
  if (json.capacity() - json.size() >= simdjson::SIMDJSON_PADDING) {
    return parser.iterate(json.data(), json.size(), json.capacity());
  }
  return iterate(parser, std::string_view(json), scratch);
}

simdjson::error_code append_column(sdk::Row& row, std::string_view name, ondemand::value value) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case ondemand::json_type::null:
      row.append(name, std::monostate{});
      return simdjson::SUCCESS;
    case ondemand::json_type::boolean: {
      bool b = false;
      if (auto error = value.get_bool().get(b)) return error;
      row.append(name, b);
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::number: {
      ondemand::number number;
      if (auto error = value.get_number().get(number)) return error;
      if (number.is_int64()) row.append(name, number.get_int64());
      // Above INT64_MAX (MySQL's BIGINT UNSIGNED): kept as its decimal digits, which a key
      // renders exactly; a double would round it to another row's id.
      else if (number.is_uint64()) row.append(name, std::to_string(number.get_uint64()));
      else row.append(name, number.get_double());
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::string: {
      std::string_view text;
      if (auto error = value.get_string().get(text)) return error;
      if (text == kUnavailable) row.append(name, sdk::Unavailable{});
      else row.append_text(name, text);
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::object: {
      // Structured column types (geometry, JSON payloads) keep their JSON text.
      std::string_view raw;
      ondemand::object object;
      if (auto error = value.get_object().get(object)) return error;
      if (auto error = object.raw_json().get(raw)) return error;
      row.append_text(name, raw);
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::array: {
      std::string_view raw;
      ondemand::array array;
      if (auto error = value.get_array().get(array)) return error;
      if (auto error = array.raw_json().get(raw)) return error;
      row.append_text(name, raw);
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

bool wanted(const std::vector<std::string>* columns, std::string_view name) {
  if (columns == nullptr) return true;
  for (const auto& column : *columns) {
    if (column == name) return true;
  }
  return false;
}

// Reads an object's fields into `row`; with `columns`, only those (the others are skipped
// unparsed, which is most of the cost of a wide row).
simdjson::error_code read_row(ondemand::object object, sdk::Row& row,
                              const KeyMatcher* columns = nullptr) {
  row.clear();
  for (auto field : object) {
    ondemand::field current;
    if (auto error = std::move(field).get(current)) return error;
    std::string_view name;
    if (columns != nullptr) {
      // Keys are compared as they stand in the JSON: unescaping copies every key of every row.
      const std::string* column = columns->find(current.key());
      if (column == nullptr) continue;
      name = *column;
    } else if (auto error = current.unescaped_key().get(name)) {
      return error;
    }
    if (auto error = append_column(row, name, current.value())) return error;
  }
  return simdjson::SUCCESS;
}

// The whole of `text` as a decimal integer, or none.
std::optional<std::int64_t> parse_decimal(std::string_view text) {
  std::int64_t parsed = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec == std::errc{} && end == text.data() + text.size()) return parsed;
  return std::nullopt;
}

// A text field as the decoder has always read it: a string as it is, an integer in decimal,
// anything else (null, a boolean, a fraction) as nothing.
simdjson::error_code read_text(ondemand::value value, std::string& out) {
  out.clear();
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == ondemand::json_type::string) {
    std::string_view text;
    if (auto error = value.get_string().get(text)) return error;
    out.assign(text);
  } else if (type == ondemand::json_type::number) {
    ondemand::number number;
    if (auto error = value.get_number().get(number)) return error;
    if (number.is_int64()) out = std::to_string(number.get_int64());
  }
  return simdjson::SUCCESS;
}

// An integer field: a JSON integer, or a string of decimal digits; anything else is none.
simdjson::error_code read_integer(ondemand::value value, std::optional<std::int64_t>& out) {
  out.reset();
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == ondemand::json_type::number) {
    ondemand::number number;
    if (auto error = value.get_number().get(number)) return error;
    if (number.is_int64()) out = number.get_int64();
  } else if (type == ondemand::json_type::string) {
    std::string_view text;
    if (auto error = value.get_string().get(text)) return error;
    out = parse_decimal(text);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code read_source(ondemand::object object, detail::SourceBlock& source) {
  source.reset();
  for (auto field : object) {
    ondemand::field current;
    if (auto error = std::move(field).get(current)) return error;
    const std::string* name = kSourceFieldsRead.find(current.key());
    if (name == nullptr) continue;  // skipped unparsed
    simdjson::error_code error = simdjson::SUCCESS;
    switch (static_cast<SourceField>(name - kSourceFieldsRead.names().data())) {
      case source_db: error = read_text(current.value(), source.db); break;
      case source_schema: error = read_text(current.value(), source.schema); break;
      case source_table: error = read_text(current.value(), source.table); break;
      case source_lsn: error = read_integer(current.value(), source.lsn); break;
      case source_tx_id: error = read_text(current.value(), source.transaction_id); break;
      case source_ts_ms: error = read_integer(current.value(), source.ts_ms); break;
    }
    if (error) return error;
  }
  return simdjson::SUCCESS;
}

// Fills `row` from a value that is an object or null; `is_row` says which.
simdjson::error_code read_row_or_null(ondemand::value value, sdk::Row& row, bool& is_row,
                                      const KeyMatcher* columns) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  row.clear();
  is_row = type != ondemand::json_type::null;
  if (!is_row) return simdjson::SUCCESS;
  ondemand::object object;
  if (auto error = value.get_object().get(object)) return error;
  return read_row(object, row, columns);
}

bool truthy(const sdk::Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text == "true";
  if (const auto* flag = std::get_if<bool>(&value)) return *flag;
  return false;
}

std::optional<std::int64_t> as_integer(const sdk::Value& value) {
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return *integer;
  if (const auto* text = std::get_if<std::string>(&value)) return parse_decimal(*text);
  return std::nullopt;
}

std::string as_text(const sdk::Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return std::to_string(*integer);
  return {};
}

std::optional<sdk::Op> op_from_code(std::string_view code) {
  if (code == "c") return sdk::Op::insert;
  if (code == "u") return sdk::Op::update;
  if (code == "d") return sdk::Op::remove;
  if (code == "r") return sdk::Op::snapshot_read;
  if (code == "t") return sdk::Op::truncate;
  return std::nullopt;
}

simdjson::error_code read_fields(ondemand::object object, Fields& fields, Fields* payload,
                                 const KeyMatcher* columns);

simdjson::error_code read_field(std::string_view name, ondemand::value value, Fields& fields, Fields* payload,
                                const KeyMatcher* columns) {
  if (name == "before") {
    fields.has_before = true;
    return read_row_or_null(value, fields.before, fields.before_is_row, columns);
  }
  if (name == "after") {
    fields.has_after = true;
    return read_row_or_null(value, fields.after, fields.after_is_row, columns);
  }
  if (name == "source") {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    if (type == ondemand::json_type::object) {
      fields.has_source = true;
      ondemand::object source;
      if (auto error = value.get_object().get(source)) return error;
      return read_source(source, fields.source);
    }
  }
  if (name == "op") {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    if (type == ondemand::json_type::string) {
      std::string_view op;
      if (auto error = value.get_string().get(op)) return error;
      fields.op.assign(op);
      fields.has_op = true;
      if (!fields.envelope_seen()) fields.flat.append_text("op", op);
      return simdjson::SUCCESS;
    }
  }
  if (name == "payload" && payload != nullptr) {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    fields.has_payload = true;
    if (type == ondemand::json_type::object) {
      ondemand::object object;
      if (auto error = value.get_object().get(object)) return error;
      payload->reset();
      if (auto error = read_fields(object, *payload, nullptr, columns)) return error;
      // The schema wrapper is done with: what matters is the payload's fields.
      bool had_schema = fields.has_schema;
      std::swap(fields, *payload);
      fields.has_schema = had_schema;
      fields.has_payload = true;
      return simdjson::SUCCESS;
    }
    if (type == ondemand::json_type::null) {
      fields.payload_null = true;
      return simdjson::SUCCESS;
    }
  }
  if (name == "schema" && payload != nullptr) {
    fields.has_schema = true;
    return simdjson::SUCCESS;  // not read: on-demand skips it
  }
  if (fields.envelope_seen()) {
    // ts_ms, transaction, ts_us...: only the envelope's time is read; the rest is skipped
    // unparsed, where collecting them as columns cost a tenth of the decoding.
    if (name == "ts_ms") return read_integer(value, fields.ts_ms);
    return simdjson::SUCCESS;
  }
  return append_column(fields.flat, name, value);
}

simdjson::error_code read_fields(ondemand::object object, Fields& fields, Fields* payload,
                                 const KeyMatcher* columns) {
  for (auto field : object) {
    std::string_view name;
    if (auto error = field.unescaped_key().get(name)) return error;
    ++fields.field_count;
    if (auto error = read_field(name, field.value(), fields, payload, columns)) return error;
  }
  return simdjson::SUCCESS;
}

DecodeResult with_status(DecodeStatus status, std::string_view reason = {}, std::string detail = {}) {
  DecodeResult result;
  result.status = status;
  result.reason = reason;
  result.detail = std::move(detail);
  return result;
}
DecodeResult skipped(SkipReason why, std::string_view reason) {
  DecodeResult result = with_status(DecodeStatus::skipped, reason);
  result.skip_reason = why;
  return result;
}
DecodeResult failed(std::string_view reason, std::string detail = {}) {
  return with_status(DecodeStatus::failed, reason, std::move(detail));
}

bool only_keys(const sdk::Row& row, std::initializer_list<std::string_view> allowed) {
  for (const auto& column : row.columns()) {
    if (std::find(allowed.begin(), allowed.end(), column.name) == allowed.end()) return false;
  }
  return true;
}

// The text a wrapper holds for a key or value: a JSON string's content, an embedded object's
// JSON, or nothing for null.
std::optional<std::string> wrapped_text(const sdk::Value* value) {
  if (value == nullptr || sdk::is_null(*value)) return std::nullopt;
  if (const auto* text = std::get_if<std::string>(value)) return *text;
  std::string rendered;
  if (const auto* integer = std::get_if<std::int64_t>(value)) rendered = std::to_string(*integer);
  return rendered;
}

std::optional<sdk::RawMessage> unwrap_record(const Fields& fields, const sdk::RawMessage& message) {
  if (fields.has_op || fields.has_before || fields.has_after || fields.has_source) return std::nullopt;
  const sdk::Row& row = fields.flat;
  const sdk::Value* topic = row.find("topic");
  if (topic == nullptr || !std::holds_alternative<std::string>(*topic) || row.find("value") == nullptr) {
    return std::nullopt;
  }
  if (!only_keys(row, {"topic", "key", "value", "headers", "partition", "offset", "timestamp"})) {
    return std::nullopt;
  }
  sdk::RawMessage inner;
  inner.topic = std::get<std::string>(*topic);
  inner.key = wrapped_text(row.find("key"));
  inner.value = wrapped_text(row.find("value"));
  inner.position = message.position;
  inner.headers = message.headers;
  return inner;
}

}  // namespace

sdk::TableId table_from_topic(std::string_view topic) {
  sdk::TableId table;
  auto last = topic.rfind('.');
  if (last == std::string_view::npos) {
    table.table = std::string(topic);
    return table;
  }
  table.table = std::string(topic.substr(last + 1));
  std::string_view rest = topic.substr(0, last);
  auto previous = rest.rfind('.');
  table.schema = std::string(previous == std::string_view::npos ? rest : rest.substr(previous + 1));
  return table;
}

bool DebeziumDecoder::decode_key(std::string_view json, sdk::Row& row) {
  row.clear();
  ondemand::document document;
  if (iterate(key_parser_, json, key_padded_).get(document)) return false;
  ondemand::object object;
  if (document.get_object().get(object)) return false;
  key_fields_->reset();
  if (read_fields(object, *key_fields_, payload_fields_.get(), nullptr)) return false;
  // With a schema wrapper, read_fields has already descended into the payload.
  std::swap(row, key_fields_->flat);
  return true;
}

DebeziumDecoder::DebeziumDecoder()
    : fields_(std::make_unique<detail::DecodedFields>()),
      payload_fields_(std::make_unique<detail::DecodedFields>()),
      key_fields_(std::make_unique<detail::DecodedFields>()) {}
DebeziumDecoder::~DebeziumDecoder() = default;

namespace {
// Empties an event for the next message, keeping the storage of its rows and strings.
void reset_event(sdk::ChangeEvent& out, const sdk::RawMessage& message) {
  out.op = sdk::Op::update;
  out.table.database.clear();
  out.table.schema.clear();
  out.table.table.clear();
  out.key.clear();
  if (out.before) out.before->clear();
  if (out.after) out.after->clear();
  out.commit_time = {};
  out.transaction_id.clear();
  out.version = 0;
  out.position = message.position;
  // Consecutive messages nearly always share a topic and carry no headers.
  if (out.topic != message.topic) out.topic.assign(message.topic);
  if (!out.headers.empty() || !message.headers.empty()) out.headers = message.headers;
}

// Moves a filled row into the event; the event's previous storage goes back for reuse.
void place_row(std::optional<sdk::Row>& target, sdk::Row& filled, bool present) {
  if (!present) {
    target.reset();
    return;
  }
  if (!target) target.emplace();
  std::swap(*target, filled);
}
}  // namespace

DecodeResult DebeziumDecoder::decode(const sdk::RawMessage& message, sdk::ChangeEvent& out) {
  reset_event(out, message);
  if (auto done = read_fields_of(message)) return *done;
  // With a before image the record key is not read by anything downstream: it is decoded
  // then only when asked to (the explain command shows it).
  const bool key_after_rows = message.key && !always_decode_key_;
  if (message.key && !key_after_rows) decode_key(*message.key, out.key);
  const Fields& fields = *fields_;
  if (fields.has_op && (fields.has_source || fields.has_before || fields.has_after)) {
    return decode_envelope(message, key_after_rows, out);
  }
  if (key_after_rows) decode_key(*message.key, out.key);
  return decode_other(message, out);
}

std::optional<DecodeResult> DebeziumDecoder::read_fields_of(const sdk::RawMessage& message) {
  if (!message.value) return skipped(SkipReason::tombstone, "tombstone");
  if (message.topic.rfind("__debezium-heartbeat", 0) == 0) return skipped(SkipReason::heartbeat, "heartbeat");

  ondemand::document document;
  if (auto error = iterate(parser_, *message.value, padded_).get(document)) {
    return failed("malformed JSON", simdjson::error_message(error));
  }
  ondemand::json_type top_type;
  if (auto error = document.type().get(top_type)) return failed("malformed JSON", simdjson::error_message(error));
  if (top_type == ondemand::json_type::null) return skipped(SkipReason::tombstone, "tombstone");
  if (top_type != ondemand::json_type::object) return failed("not a JSON object");

  Fields& fields = *fields_;
  fields.reset();
  ondemand::object object;
  if (auto error = document.get_object().get(object)) return failed("malformed JSON", simdjson::error_message(error));
  const KeyMatcher* columns = columns_.names().empty() ? nullptr : &columns_;
  if (auto error = read_fields(object, fields, payload_fields_.get(), columns)) {
    return failed("malformed JSON", simdjson::error_message(error));
  }
  if (fields.payload_null && fields.flat.empty()) return skipped(SkipReason::tombstone, "tombstone");  // {"schema":...,"payload":null}
  return std::nullopt;
}

DecodeResult DebeziumDecoder::decode_envelope(const sdk::RawMessage& message, bool key_after_rows,
                                              sdk::ChangeEvent& out) {
  Fields& fields = *fields_;
  auto op = op_from_code(fields.op);
  if (!op) {
    if (fields.op == "m") return skipped(SkipReason::message_event, "message event (op m)");
    return failed("unknown op", "op '" + fields.op + "' is not c, u, d, r, t or m");
  }
  out.op = *op;
  out.table.database.assign(fields.source.db);
  out.table.schema.assign(fields.source.schema);
  out.table.table.assign(fields.source.table);
  if (out.table.table.empty()) out.table = table_from_topic(message.topic);
  if (fields.source.lsn) out.version = static_cast<std::uint64_t>(*fields.source.lsn);
  if (out.version == 0) out.version = message.position.offset;
  out.transaction_id.assign(fields.source.transaction_id);
  std::optional<std::int64_t> millis = fields.source.ts_ms;
  if (!millis) millis = fields.ts_ms;
  if (!millis) {
    if (const sdk::Value* ts = fields.flat.find("ts_ms")) millis = as_integer(*ts);
  }
  // A commit time the clock cannot hold (beyond ±292 years of nanoseconds) is not a commit
  // time: it is left unknown rather than overflowing (found by fuzzing).
  constexpr std::int64_t kMaxMillis = std::numeric_limits<std::int64_t>::max() / 1'000'000;
  if (millis && *millis > -kMaxMillis && *millis < kMaxMillis) {
    out.commit_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(*millis));
  }
  place_row(out.before, fields.before, fields.has_before && fields.before_is_row);
  place_row(out.after, fields.after, fields.has_after && fields.after_is_row);
  if (key_after_rows && !out.before) decode_key(*message.key, out.key);
  if (out.op == sdk::Op::truncate) return with_status(DecodeStatus::event);
  if (!out.before && !out.after && out.key.empty()) {
    return failed("no row and no key", "the event carries neither before, after nor a record key");
  }
  if (out.op == sdk::Op::remove && !out.before && out.key.empty()) {
    return failed("delete without key", "a delete with no before image needs the record key");
  }
  return with_status(DecodeStatus::event);
}

DecodeResult DebeziumDecoder::decode_other(const sdk::RawMessage& message, sdk::ChangeEvent& out) {
  const Fields& fields = *fields_;
  // A record wrapping a message: {"topic","key","value"}.
  if (auto wrapped = unwrap_record(fields, message)) {
    if (depth_ > 0) return failed("unknown envelope", "a wrapped record inside a wrapped record");
    ++depth_;
    DecodeResult inner = decode(*wrapped, out);  // reuses fields_: nothing of the wrapper is needed after
    --depth_;
    return inner;
  }
  // Records that are not row changes.
  if (const auto* status = fields.flat.find("status"); status && fields.flat.find("id") &&
      (as_text(*status) == "BEGIN" || as_text(*status) == "END")) {
    return skipped(SkipReason::transaction_marker, "transaction marker");
  }
  if (fields.flat.find("ddl") || fields.flat.find("tableChanges") || fields.flat.find("historyRecord")) {
    return skipped(SkipReason::schema_change, "schema change");
  }
  if (fields.field_count == 1 && fields.flat.find("ts_ms")) return skipped(SkipReason::heartbeat, "heartbeat");
  if (fields.has_op) return failed("unknown envelope", "an op without before, after or source");
  if (fields.flat.empty()) return failed("unknown envelope", "an empty object");
  return decode_flattened(message, out);
}

DecodeResult DebeziumDecoder::decode_flattened(const sdk::RawMessage& message, sdk::ChangeEvent& out) {
  // The output of ExtractNewRecordState: the row itself plus __ metadata fields.
  Fields& fields = *fields_;
  sdk::Row& row = fields.before;  // unused by a flattened record: its storage is reused
  row.clear();
  bool deleted = false;
  std::optional<sdk::Op> op;
  sdk::TableId table;
  for (auto& column : fields.flat.columns()) {
    const std::string& name = column.name;
    if (name.size() > 2 && name[0] == '_' && name[1] == '_') {
      if (name == "__deleted") deleted = truthy(column.value);
      else if (name == "__op") op = op_from_code(as_text(column.value));
      else if (name == "__table") table.table = as_text(column.value);
      else if (name == "__schema") table.schema = as_text(column.value);
      else if (name == "__db") table.database = as_text(column.value);
      else if (name == "__lsn") {
        if (auto value = as_integer(column.value)) out.version = static_cast<std::uint64_t>(*value);
      } else if (name == "__source_ts_ms" || name == "__ts_ms") {
        if (auto millis = as_integer(column.value)) {
          out.commit_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(*millis));
        }
      }
      continue;
    }
    if (columns_.names().empty() || wanted(&columns_.names(), column.name)) row.append(column.name, column.value);
  }
  if (table.table.empty()) {
    auto from_topic = table_from_topic(message.topic);
    table.table = from_topic.table;
    if (table.schema.empty() && table.database.empty()) table.schema = from_topic.schema;
  } else if (table.schema.empty() && table.database.empty()) {
    // add.fields=table alone: the schema (or database) is the topic's, prefix.schema.table,
    // so that routes on "public.products" or "*.products" match. Only when the topic does
    // end with that table, which a renamed topic may not.
    auto from_topic = table_from_topic(message.topic);
    if (from_topic.table == table.table) table.schema = std::move(from_topic.schema);
  }
  out.table = std::move(table);
  if (out.version == 0) out.version = message.position.offset;
  bool removed = deleted || op == sdk::Op::remove;
  // Without __op an insert and an update look alike; update invalidates both images.
  out.op = removed ? sdk::Op::remove : op.value_or(sdk::Op::update);
  place_row(out.before, row, removed);
  place_row(out.after, row, !removed);
  return with_status(DecodeStatus::event);
}

}  // namespace invalidator::codec
