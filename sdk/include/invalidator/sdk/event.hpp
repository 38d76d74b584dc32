#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace invalidator::sdk {

// A column value the database did not send (an unchanged TOASTed value, Debezium's
// "__debezium_unavailable_value"). It is never a real value: it renders no key and never
// counts as a change.
struct Unavailable {
  bool operator==(const Unavailable&) const = default;
};

using Value = std::variant<std::monostate, bool, std::int64_t, double, std::string, Unavailable>;

inline bool is_null(const Value& value) { return std::holds_alternative<std::monostate>(value); }
inline bool is_unavailable(const Value& value) { return std::holds_alternative<Unavailable>(value); }

struct Column {
  std::string name;
  Value value;
};

// One row image: columns in the order the source gave them. Rows are narrow, so a linear
// lookup beats hashing.
class Row {
 public:
  Row() = default;
  Row(std::initializer_list<Column> columns) : columns_(columns) {}

  void set(std::string name, Value value) {
    for (auto& column : columns_) {
      if (column.name == name) {
        column.value = std::move(value);
        return;
      }
    }
    columns_.push_back(Column{std::move(name), std::move(value)});
  }
  const Value* find(std::string_view name) const {
    for (const auto& column : columns_) {
      if (column.name == name) return &column.value;
    }
    return nullptr;
  }
  const std::vector<Column>& columns() const { return columns_; }
  bool empty() const { return columns_.empty(); }
  std::size_t size() const { return columns_.size(); }
  void clear() { columns_.clear(); }
  void reserve(std::size_t n) { columns_.reserve(n); }

 private:
  std::vector<Column> columns_;
};

enum class Op { insert, update, remove, snapshot_read, truncate };

constexpr std::string_view to_string(Op op) {
  switch (op) {
    case Op::insert: return "insert";
    case Op::update: return "update";
    case Op::remove: return "delete";
    case Op::snapshot_read: return "read";
    case Op::truncate: return "truncate";
  }
  return "unknown";
}

struct TableId {
  std::string database;
  std::string schema;
  std::string table;

  // "schema.table" when the source has schemas (PostgreSQL), "database.table" otherwise (MySQL).
  std::string qualified_name() const {
    const std::string& prefix = schema.empty() ? database : schema;
    return prefix.empty() ? table : prefix + "." + table;
  }
  bool operator==(const TableId&) const = default;
};

// Where a message came from, for acknowledgement. `stream` is a partition (Kafka), a topic
// (Pulsar) or 0 (a single ordered stream); `offset` grows within a stream. A source
// acknowledges position P meaning "everything up to and including P on this stream is done".
struct Position {
  std::uint64_t stream = 0;
  std::uint64_t offset = 0;
  bool operator==(const Position&) const = default;
};

struct Header {
  std::string name;
  std::string value;
};

// Bytes as received from a transport, to be decoded by the core's codec.
struct RawMessage {
  std::string topic;
  std::optional<std::string> key;    // the record key (Debezium key JSON), if any
  std::optional<std::string> value;  // nullopt: a tombstone
  std::vector<Header> headers;
  Position position;
};

// A decoded row change.
struct ChangeEvent {
  Op op = Op::update;
  TableId table;
  Row key;                    // primary key columns, when the source knows them
  std::optional<Row> before;  // missing: the database did not send the old row
  std::optional<Row> after;
  std::chrono::system_clock::time_point commit_time{};
  std::string transaction_id;
  std::uint64_t version = 0;  // monotonic per source: LSN, offset
  Position position;
  std::string topic;
  std::vector<Header> headers;
};

}  // namespace invalidator::sdk
