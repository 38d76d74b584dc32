#include "codec/debezium_decoder.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

namespace invalidator::codec {

namespace ondemand = simdjson::ondemand;

namespace {

constexpr std::string_view kUnavailable = "__debezium_unavailable_value";

// Points simdjson at `json`, copying into `scratch` only when the input lacks the padding
// simdjson reads past the end.
simdjson::simdjson_result<ondemand::document> iterate(ondemand::parser& parser, std::string_view json,
                                                       std::string& scratch) {
  scratch.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  scratch.assign(json.data(), json.size());
  return parser.iterate(scratch.data(), scratch.size(), scratch.capacity());
}

simdjson::error_code read_value(ondemand::value value, sdk::Value& out) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case ondemand::json_type::null:
      out = std::monostate{};
      return simdjson::SUCCESS;
    case ondemand::json_type::boolean: {
      bool b = false;
      if (auto error = value.get_bool().get(b)) return error;
      out = b;
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::number: {
      ondemand::number number;
      if (auto error = value.get_number().get(number)) return error;
      if (number.is_int64()) out = number.get_int64();
      else if (number.is_uint64()) out = static_cast<double>(number.get_uint64());
      else out = number.get_double();
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::string: {
      std::string_view text;
      if (auto error = value.get_string().get(text)) return error;
      if (text == kUnavailable) out = sdk::Unavailable{};
      else out = std::string(text);
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::object: {
      // Structured column types (geometry, JSON payloads) keep their JSON text.
      std::string_view raw;
      ondemand::object object;
      if (auto error = value.get_object().get(object)) return error;
      if (auto error = object.raw_json().get(raw)) return error;
      out = std::string(raw);
      return simdjson::SUCCESS;
    }
    case ondemand::json_type::array: {
      std::string_view raw;
      ondemand::array array;
      if (auto error = value.get_array().get(array)) return error;
      if (auto error = array.raw_json().get(raw)) return error;
      out = std::string(raw);
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

simdjson::error_code read_row(ondemand::object object, sdk::Row& row) {
  row.clear();
  for (auto field : object) {
    std::string_view name;
    if (auto error = field.unescaped_key().get(name)) return error;
    sdk::Value value;
    if (auto error = read_value(field.value(), value)) return error;
    row.set(std::string(name), std::move(value));
  }
  return simdjson::SUCCESS;
}

// Fills a row from a value that is an object or null; `present` says which.
simdjson::error_code read_optional_row(ondemand::value value, std::optional<sdk::Row>& row) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == ondemand::json_type::null) {
    row.reset();
    return simdjson::SUCCESS;
  }
  ondemand::object object;
  if (auto error = value.get_object().get(object)) return error;
  row.emplace();
  return read_row(object, *row);
}

bool truthy(const sdk::Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text == "true";
  if (const auto* flag = std::get_if<bool>(&value)) return *flag;
  return false;
}

std::optional<std::int64_t> as_integer(const sdk::Value& value) {
  if (const auto* integer = std::get_if<std::int64_t>(&value)) return *integer;
  if (const auto* text = std::get_if<std::string>(&value)) {
    std::int64_t parsed = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), parsed);
    if (ec == std::errc{} && end == text->data() + text->size()) return parsed;
  }
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

// Everything one pass over a Debezium object can tell.
struct Fields {
  bool has_payload = false;
  bool has_schema = false;
  bool payload_null = false;
  bool has_before = false, has_after = false, has_source = false;
  std::optional<sdk::Row> before, after;
  std::string op;
  bool has_op = false;
  sdk::Row source;
  sdk::Row flat;  // every other top-level field: columns of a flattened record
  std::size_t field_count = 0;
};

simdjson::error_code read_fields(ondemand::object object, Fields& fields, int depth);

simdjson::error_code read_field(std::string_view name, ondemand::value value, Fields& fields, int depth) {
  if (name == "before") {
    fields.has_before = true;
    return read_optional_row(value, fields.before);
  }
  if (name == "after") {
    fields.has_after = true;
    return read_optional_row(value, fields.after);
  }
  if (name == "source") {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    if (type == ondemand::json_type::object) {
      fields.has_source = true;
      ondemand::object source;
      if (auto error = value.get_object().get(source)) return error;
      return read_row(source, fields.source);
    }
  }
  if (name == "op") {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    if (type == ondemand::json_type::string) {
      std::string_view op;
      if (auto error = value.get_string().get(op)) return error;
      fields.op = std::string(op);
      fields.has_op = true;
      fields.flat.set("op", std::string(op));
      return simdjson::SUCCESS;
    }
  }
  if (name == "payload" && depth == 0) {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    fields.has_payload = true;
    if (type == ondemand::json_type::object) {
      ondemand::object payload;
      if (auto error = value.get_object().get(payload)) return error;
      Fields inner;
      if (auto error = read_fields(payload, inner, depth + 1)) return error;
      inner.has_payload = true;
      inner.has_schema = fields.has_schema;
      fields = std::move(inner);
      fields.has_payload = true;
      return simdjson::SUCCESS;
    }
    if (type == ondemand::json_type::null) {
      fields.payload_null = true;
      return simdjson::SUCCESS;
    }
  }
  if (name == "schema" && depth == 0) {
    fields.has_schema = true;
    return simdjson::SUCCESS;  // not read: on-demand skips it
  }
  sdk::Value column;
  if (auto error = read_value(value, column)) return error;
  fields.flat.set(std::string(name), std::move(column));
  return simdjson::SUCCESS;
}

simdjson::error_code read_fields(ondemand::object object, Fields& fields, int depth) {
  for (auto field : object) {
    std::string_view name;
    if (auto error = field.unescaped_key().get(name)) return error;
    ++fields.field_count;
    if (auto error = read_field(name, field.value(), fields, depth)) return error;
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
DecodeResult skipped(std::string_view reason) { return with_status(DecodeStatus::skipped, reason); }
DecodeResult failed(std::string_view reason, std::string detail = {}) {
  return with_status(DecodeStatus::failed, reason, std::move(detail));
}

void fill_table_from_source(const sdk::Row& source, sdk::TableId& table) {
  if (const auto* db = source.find("db")) table.database = as_text(*db);
  if (const auto* schema = source.find("schema")) table.schema = as_text(*schema);
  if (const auto* name = source.find("table")) table.table = as_text(*name);
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
  const sdk::Value* kind = row.find("kind");
  bool dead_letter = kind != nullptr && as_text(*kind) == "message";
  if (!dead_letter && !only_keys(row, {"topic", "key", "value", "headers", "partition", "offset", "timestamp"})) {
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

DecodeResult replayed_invalidation(const sdk::Row& row) {
  DecodeResult result = with_status(DecodeStatus::invalidation);
  const sdk::Value* action = row.find("action");
  const sdk::Value* key = row.find("key");
  const sdk::Value* sink = row.find("sink");
  if (!action || !key || !sink || !std::holds_alternative<std::string>(*key)) {
    return failed("unknown envelope", "a dead-lettered invalidation needs action, key and sink");
  }
  std::string action_text = as_text(*action);
  if (action_text == "delete") result.invalidation.action = sdk::Action::delete_key;
  else if (action_text == "set") result.invalidation.action = sdk::Action::set_value;
  else if (action_text == "expire") result.invalidation.action = sdk::Action::expire;
  else if (action_text == "delete_pattern") result.invalidation.action = sdk::Action::delete_pattern;
  else return failed("unknown envelope", "unknown invalidation action '" + action_text + "'");
  result.invalidation.key = std::get<std::string>(*key);
  result.invalidation.value = wrapped_text(row.find("value"));
  if (const auto* version = row.find("version")) {
    result.invalidation.version = static_cast<std::uint64_t>(as_integer(*version).value_or(0));
  }
  if (const auto* ttl = row.find("ttl_ms")) result.invalidation.ttl = std::chrono::milliseconds(as_integer(*ttl).value_or(0));
  if (const auto* route = row.find("route")) result.route = static_cast<std::size_t>(as_integer(*route).value_or(0));
  result.sink = as_text(*sink);
  return result;
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
  Fields fields;
  if (read_fields(object, fields, 0)) return false;
  // With a schema wrapper, read_fields has already descended into the payload.
  row = std::move(fields.flat);
  return true;
}

DecodeResult DebeziumDecoder::decode(const sdk::RawMessage& message, sdk::ChangeEvent& out) {
  out = sdk::ChangeEvent{};
  out.position = message.position;
  out.topic = message.topic;
  out.headers = message.headers;

  if (!message.value) return skipped("tombstone");
  std::string_view json = *message.value;
  if (message.topic.rfind("__debezium-heartbeat", 0) == 0) return skipped("heartbeat");

  ondemand::document document;
  if (auto error = iterate(parser_, json, padded_).get(document)) {
    return failed("malformed JSON", simdjson::error_message(error));
  }
  ondemand::json_type top_type;
  if (auto error = document.type().get(top_type)) return failed("malformed JSON", simdjson::error_message(error));
  if (top_type == ondemand::json_type::null) return skipped("tombstone");
  if (top_type != ondemand::json_type::object) return failed("not a JSON object");

  Fields fields;
  {
    ondemand::object object;
    if (auto error = document.get_object().get(object)) return failed("malformed JSON", simdjson::error_message(error));
    if (auto error = read_fields(object, fields, 0)) return failed("malformed JSON", simdjson::error_message(error));
  }

  if (fields.payload_null && fields.flat.empty()) {
    return skipped("tombstone");  // {"schema":...,"payload":null}
  }

  if (message.key) {
    decode_key(*message.key, out.key);
  }

  // Envelope: op, before, after, source.
  if (fields.has_op && (fields.has_source || fields.has_before || fields.has_after)) {
    auto op = op_from_code(fields.op);
    if (!op) {
      if (fields.op == "m") return skipped("message event (op m)");
      return failed("unknown op", "op '" + fields.op + "' is not c, u, d, r, t or m");
    }
    out.op = *op;
    fill_table_from_source(fields.source, out.table);
    if (out.table.table.empty()) out.table = table_from_topic(message.topic);
    if (const auto* lsn = fields.source.find("lsn")) {
      if (auto value = as_integer(*lsn)) out.version = static_cast<std::uint64_t>(*value);
    }
    if (out.version == 0) out.version = message.position.offset;
    if (const auto* tx = fields.source.find("txId")) out.transaction_id = as_text(*tx);
    const sdk::Value* ts = fields.source.find("ts_ms");
    if (ts == nullptr) ts = fields.flat.find("ts_ms");
    if (ts != nullptr) {
      if (auto millis = as_integer(*ts)) {
        out.commit_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(*millis));
      }
    }
    out.before = std::move(fields.before);
    out.after = std::move(fields.after);
    if (out.op == sdk::Op::truncate) return with_status(DecodeStatus::event);
    if (!out.before && !out.after && out.key.empty()) {
      return failed("no row and no key", "the event carries neither before, after nor a record key");
    }
    if (out.op == sdk::Op::remove && !out.before && out.key.empty()) {
      return failed("delete without key", "a delete with no before image needs the record key");
    }
    return with_status(DecodeStatus::event);
  }

  // A record wrapping a message: {"topic","key","value"}, or a dead-lettered message.
  if (auto wrapped = unwrap_record(fields, message)) {
    if (depth_ > 0) return failed("unknown envelope", "a wrapped record inside a wrapped record");
    ++depth_;
    DecodeResult inner = decode(*wrapped, out);
    --depth_;
    return inner;
  }
  if (const auto* kind = fields.flat.find("kind"); kind && as_text(*kind) == "invalidation") {
    return replayed_invalidation(fields.flat);
  }

  // Records that are not row changes.
  if (const auto* status = fields.flat.find("status"); status && fields.flat.find("id") &&
      (as_text(*status) == "BEGIN" || as_text(*status) == "END")) {
    return skipped("transaction marker");
  }
  if (fields.flat.find("ddl") || fields.flat.find("tableChanges") || fields.flat.find("historyRecord")) {
    return skipped("schema change");
  }
  if (fields.field_count == 1 && fields.flat.find("ts_ms")) return skipped("heartbeat");
  if (fields.has_op) return failed("unknown envelope", "an op without before, after or source");
  if (fields.flat.empty()) return failed("unknown envelope", "an empty object");

  // The flattened output of ExtractNewRecordState: the row itself plus __ metadata fields.
  sdk::Row row;
  row.reserve(fields.flat.size());
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
    row.set(column.name, column.value);
  }
  if (table.table.empty()) {
    auto from_topic = table_from_topic(message.topic);
    table.table = from_topic.table;
    if (table.schema.empty() && table.database.empty()) table.schema = from_topic.schema;
  }
  out.table = std::move(table);
  if (out.version == 0) out.version = message.position.offset;
  if (deleted || op == sdk::Op::remove) {
    out.op = sdk::Op::remove;
    out.before = std::move(row);
  } else {
    // Without __op an insert and an update look alike; update invalidates both images.
    out.op = op.value_or(sdk::Op::update);
    out.after = std::move(row);
  }
  return with_status(DecodeStatus::event);
}

}  // namespace invalidator::codec
