#include "pgoutput.hpp"

#include "text_values.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace invalidator::plugins::pgoutput {

namespace {

// Seconds from 1970-01-01 to 2000-01-01.
constexpr std::int64_t kPostgresEpochOffsetSeconds = 946'684'800;

// Reads the big-endian fields of one message; every read past the end leaves it failed, so
// that a truncated or corrupt message is an error, never a read out of bounds.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool failed() const { return failed_; }
  std::size_t remaining() const { return failed_ ? 0 : bytes_.size() - at_; }

  std::uint64_t integer(std::size_t width) {
    if (!has(width)) return 0;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(bytes_[at_ + i]);
    at_ += width;
    return value;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(integer(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(integer(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(integer(4)); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::uint64_t u64() { return integer(8); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  char byte() { return static_cast<char>(u8()); }

  // A NUL-terminated string.
  std::string_view text() {
    if (failed_) return {};
    auto end = bytes_.find('\0', at_);
    if (end == std::string_view::npos) {
      failed_ = true;
      return {};
    }
    auto value = bytes_.substr(at_, end - at_);
    at_ = end + 1;
    return value;
  }
  std::string_view bytes(std::size_t count) {
    if (!has(count)) return {};
    auto value = bytes_.substr(at_, count);
    at_ += count;
    return value;
  }
  std::string_view rest() {
    if (failed_) return {};
    auto value = bytes_.substr(at_);
    at_ = bytes_.size();
    return value;
  }

 private:
  bool has(std::size_t count) {
    if (failed_ || bytes_.size() - at_ < count) {
      failed_ = true;
      return false;
    }
    return true;
  }

  std::string_view bytes_;
  std::size_t at_ = 0;
  bool failed_ = false;
};

Tuple read_tuple(Reader& in) {
  Tuple tuple;
  const std::uint16_t count = in.u16();
  tuple.reserve(count);
  for (std::uint16_t i = 0; i < count && !in.failed(); ++i) {
    TupleValue value;
    const char kind = in.byte();
    switch (kind) {
      case 'n': value.kind = TupleValue::Kind::null; break;
      case 'u': value.kind = TupleValue::Kind::unchanged_toast; break;
      case 't':
      case 'b':
        value.kind = kind == 't' ? TupleValue::Kind::text : TupleValue::Kind::binary;
        value.data = in.bytes(in.u32());
        break;
      default: in.bytes(in.remaining() + 1); return tuple;  // unknown kind: fail the message
    }
    tuple.push_back(value);
  }
  return tuple;
}

// Update and Delete: an optional old tuple ('K' or 'O'), then (Update) 'N' and the new one.
OldTuple read_old_tuple(Reader& in, Tuple& old_tuple, char& next) {
  next = in.byte();
  if (next != 'K' && next != 'O') return OldTuple::none;
  const auto kind = static_cast<OldTuple>(next);
  old_tuple = read_tuple(in);
  next = 0;
  return kind;
}

// Commit and Stream Commit: flags (unused), commit LSN, end LSN, commit time.
template <typename AnyCommit>
void read_commit(Reader& in, AnyCommit& commit) {
  in.u8();
  commit.commit_lsn = in.u64();
  commit.end_lsn = in.u64();
  commit.commit_time = in.i64();
}

std::string describe_type(char type) {
  if (type >= 0x20 && type < 0x7f) return std::string("'") + type + "'";
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(type));
  return hex;
}

}  // namespace

std::string format_lsn(Lsn lsn) {
  char text[24];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return text;
}

std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::uint32_t high = 0, low = 0;
  auto parse_half = [](std::string_view half, std::uint32_t& out) {
    auto [end, error] = std::from_chars(half.data(), half.data() + half.size(), out, 16);
    return !half.empty() && error == std::errc{} && end == half.data() + half.size();
  };
  if (!parse_half(text.substr(0, slash), high) || !parse_half(text.substr(slash + 1), low)) return std::nullopt;
  return (static_cast<Lsn>(high) << 32) | low;
}

std::chrono::system_clock::time_point from_postgres_time(std::int64_t microseconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(kPostgresEpochOffsetSeconds) +
                                               std::chrono::microseconds(microseconds));
}

std::int64_t to_postgres_time(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count() -
         kPostgresEpochOffsetSeconds * 1'000'000;
}

sdk::Result<Message> parse(std::string_view bytes, bool in_stream) {
  Reader in(bytes);
  Message message;
  message.type = in.byte();
  if (in.failed()) return sdk::Status::error("an empty pgoutput message");
  // Inside a stream block these carry the id of the transaction they belong to.
  auto streamed_xid = [&] {
    if (in_stream) message.xid = in.u32();
  };
  switch (message.type) {
    case 'B': {
      Begin begin;
      begin.final_lsn = in.u64();
      begin.commit_time = in.i64();
      begin.xid = in.u32();
      message.body = begin;
      break;
    }
    case 'C': {
      Commit commit;
      read_commit(in, commit);
      message.body = commit;
      break;
    }
    case 'O': {
      Origin origin;
      origin.commit_lsn = in.u64();
      origin.name = in.text();
      message.body = std::move(origin);
      break;
    }
    case 'R': {
      streamed_xid();
      Relation relation;
      relation.oid = in.u32();
      relation.schema = in.text();
      relation.name = in.text();
      relation.replica_identity = in.byte();
      const std::uint16_t count = in.u16();
      for (std::uint16_t i = 0; i < count && !in.failed(); ++i) {
        RelationColumn column;
        column.key = (in.u8() & 1) != 0;
        column.name = in.text();
        column.type_oid = in.u32();
        column.type_modifier = in.i32();
        relation.columns.push_back(std::move(column));
      }
      message.body = std::move(relation);
      break;
    }
    case 'Y': {
      streamed_xid();
      Type type;
      type.oid = in.u32();
      type.schema = in.text();
      type.name = in.text();
      message.body = std::move(type);
      break;
    }
    case 'I': {
      streamed_xid();
      Insert insert;
      insert.relation = in.u32();
      if (in.byte() != 'N') return sdk::Status::error("pgoutput Insert without its 'N' tuple");
      insert.new_tuple = read_tuple(in);
      message.body = std::move(insert);
      break;
    }
    case 'U': {
      streamed_xid();
      Update update;
      update.relation = in.u32();
      char next = 0;
      update.old_kind = read_old_tuple(in, update.old_tuple, next);
      if (next == 0) next = in.byte();
      if (next != 'N') return sdk::Status::error("pgoutput Update without its 'N' tuple");
      update.new_tuple = read_tuple(in);
      message.body = std::move(update);
      break;
    }
    case 'D': {
      streamed_xid();
      Delete removal;
      removal.relation = in.u32();
      char next = 0;
      removal.old_kind = read_old_tuple(in, removal.old_tuple, next);
      if (removal.old_kind == OldTuple::none) {
        return sdk::Status::error("pgoutput Delete without an old tuple ('K' or 'O')");
      }
      message.body = std::move(removal);
      break;
    }
    case 'T': {
      streamed_xid();
      Truncate truncate;
      const std::uint32_t count = in.u32();
      truncate.options = in.u8();
      for (std::uint32_t i = 0; i < count && !in.failed(); ++i) truncate.relations.push_back(in.u32());
      message.body = std::move(truncate);
      break;
    }
    case 'M': {
      streamed_xid();
      LogicalMessage logical;
      logical.transactional = (in.u8() & 1) != 0;
      logical.lsn = in.u64();
      logical.prefix = in.text();
      logical.content = in.bytes(in.u32());
      message.body = std::move(logical);
      break;
    }
    case 'S': {
      StreamStart start;
      start.xid = in.u32();
      start.first_segment = in.u8() == 1;
      message.body = start;
      break;
    }
    case 'E': message.body = StreamStop{}; break;
    case 'c': {
      StreamCommit commit;
      commit.xid = in.u32();
      read_commit(in, commit);
      message.body = commit;
      break;
    }
    case 'A': {
      StreamAbort abort;
      abort.xid = in.u32();
      abort.subtransaction_xid = in.u32();
      message.body = abort;
      break;
    }
    default:
      return sdk::Status::error("unknown pgoutput message type " + describe_type(message.type) +
                                " (a protocol version this source does not speak? use proto_version 1 or 2)");
  }
  if (in.failed()) {
    return sdk::Status::error("pgoutput message " + describe_type(message.type) + " is cut short (" +
                              std::to_string(bytes.size()) + " bytes)");
  }
  return message;
}

void RelationCache::remember(Relation relation) {
  const auto oid = relation.oid;
  relations_.insert_or_assign(oid, std::move(relation));
}

const Relation* RelationCache::find(std::uint32_t oid) const {
  auto found = relations_.find(oid);
  return found == relations_.end() ? nullptr : &found->second;
}

sdk::Value convert_value(std::uint32_t type_oid, const TupleValue& value) {
  switch (value.kind) {
    case TupleValue::Kind::null: return std::monostate{};
    case TupleValue::Kind::unchanged_toast: return sdk::Unavailable{};
    case TupleValue::Kind::binary: return std::string(value.data);
    case TupleValue::Kind::text: break;
  }
  return postgres::typed_text_value(type_oid, value.data);
}

namespace {

sdk::Result<const Relation*> relation_of(std::uint32_t oid, const RelationCache& relations) {
  const Relation* relation = relations.find(oid);
  if (relation == nullptr) {
    return sdk::Status::error("pgoutput change of relation " + std::to_string(oid) +
                              " before any Relation message describing it");
  }
  return relation;
}

sdk::Status fill_row(const Relation& relation, const Tuple& tuple, sdk::Row& row) {
  if (tuple.size() != relation.columns.size()) {
    return sdk::Status::error("pgoutput tuple of " + std::to_string(tuple.size()) + " columns for " + relation.schema +
                              "." + relation.name + ", which has " + std::to_string(relation.columns.size()));
  }
  row.reserve(tuple.size());
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    row.append(relation.columns[i].name, convert_value(relation.columns[i].type_oid, tuple[i]));
  }
  return sdk::Status::success();
}

// The replica identity's columns (the primary key, unless the table says otherwise).
void fill_key(const Relation& relation, const Tuple& tuple, sdk::Row& key) {
  for (std::size_t i = 0; i < tuple.size() && i < relation.columns.size(); ++i) {
    if (relation.columns[i].key) key.append(relation.columns[i].name, convert_value(relation.columns[i].type_oid, tuple[i]));
  }
}

sdk::ChangeEvent& new_event(sdk::Op op, const Relation& relation, const TransactionInfo& transaction,
                            std::vector<sdk::ChangeEvent>& events) {
  sdk::ChangeEvent& event = events.emplace_back();
  event.op = op;
  event.table.schema = relation.schema;
  event.table.table = relation.name;
  event.commit_time = transaction.commit_time;
  event.transaction_id = std::to_string(transaction.xid);
  event.version = transaction.commit_lsn;
  return event;
}

}  // namespace

sdk::Status ChangeBuilder::build(const Insert& change, const RelationCache& relations,
                                 const TransactionInfo& transaction, std::vector<sdk::ChangeEvent>& events) const {
  auto relation = relation_of(change.relation, relations);
  if (!relation) return relation.status();
  sdk::ChangeEvent& event = new_event(sdk::Op::insert, **relation, transaction, events);
  event.after.emplace();
  if (auto filled = fill_row(**relation, change.new_tuple, *event.after); !filled) return filled;
  fill_key(**relation, change.new_tuple, event.key);
  return sdk::Status::success();
}

sdk::Status ChangeBuilder::build(const Update& change, const RelationCache& relations,
                                 const TransactionInfo& transaction, std::vector<sdk::ChangeEvent>& events) const {
  auto relation = relation_of(change.relation, relations);
  if (!relation) return relation.status();
  sdk::ChangeEvent& event = new_event(sdk::Op::update, **relation, transaction, events);
  event.after.emplace();
  if (auto filled = fill_row(**relation, change.new_tuple, *event.after); !filled) return filled;
  switch (change.old_kind) {
    case OldTuple::full:
      // REPLICA IDENTITY FULL: the whole old row.
      event.before.emplace();
      if (auto filled = fill_row(**relation, change.old_tuple, *event.before); !filled) return filled;
      fill_key(**relation, change.old_tuple, event.key);
      break;
    case OldTuple::key:
      // The key changed: only the old key's columns are real (the others arrive as nulls),
      // so the old key stands in for the row before, as the router expects of a key.
      fill_key(**relation, change.old_tuple, event.key);
      break;
    case OldTuple::none: fill_key(**relation, change.new_tuple, event.key); break;
  }
  return sdk::Status::success();
}

sdk::Status ChangeBuilder::build(const Delete& change, const RelationCache& relations,
                                 const TransactionInfo& transaction, std::vector<sdk::ChangeEvent>& events) const {
  auto relation = relation_of(change.relation, relations);
  if (!relation) return relation.status();
  sdk::ChangeEvent& event = new_event(sdk::Op::remove, **relation, transaction, events);
  if (change.old_kind == OldTuple::full) {
    event.before.emplace();
    if (auto filled = fill_row(**relation, change.old_tuple, *event.before); !filled) return filled;
  }
  fill_key(**relation, change.old_tuple, event.key);
  return sdk::Status::success();
}

sdk::Status ChangeBuilder::build(const Truncate& change, const RelationCache& relations,
                                 const TransactionInfo& transaction, std::vector<sdk::ChangeEvent>& events) const {
  for (auto oid : change.relations) {
    auto relation = relation_of(oid, relations);
    if (!relation) return relation.status();
    new_event(sdk::Op::truncate, **relation, transaction, events);
  }
  return sdk::Status::success();
}

}  // namespace invalidator::plugins::pgoutput
