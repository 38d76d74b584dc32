#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
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
// lookup beats hashing. A cleared row keeps its storage: refilling it for the next event
// reuses the strings' buffers instead of allocating again.
class Row {
 public:
  Row() = default;
  Row(std::initializer_list<Column> columns) : columns_(columns), size_(columns_.size()) {}
  Row(const Row& other) : columns_(other.columns().begin(), other.columns().end()), size_(other.size_) {}
  Row& operator=(const Row& other) {
    if (this != &other) {
      clear();
      for (const auto& column : other.columns()) append(column.name, column.value);
    }
    return *this;
  }
  Row(Row&& other) noexcept : columns_(std::move(other.columns_)), size_(other.size_) { other.size_ = 0; }
  Row& operator=(Row&& other) noexcept {
    columns_ = std::move(other.columns_);
    size_ = other.size_;
    other.size_ = 0;
    return *this;
  }

  // Replaces the value of `name`, or appends it.
  void set(std::string_view name, Value value) {
    for (std::size_t i = 0; i < size_; ++i) {
      if (columns_[i].name == name) {
        columns_[i].value = std::move(value);
        return;
      }
    }
    append(name, std::move(value));
  }
  // Appends without looking for an existing column of that name (a decoder's fast path).
  void append(std::string_view name, Value value) {
    Column& column = next_slot();
    assign_name(column, name);
    column.value = std::move(value);
  }
  // Appends a string value, reusing the slot's buffer when it held a string before.
  void append_text(std::string_view name, std::string_view text) {
    Column& column = next_slot();
    assign_name(column, name);
    if (auto* existing = std::get_if<std::string>(&column.value)) {
      existing->assign(text);
    } else {
      column.value.template emplace<std::string>(text);
    }
  }
  const Value* find(std::string_view name) const {
    for (std::size_t i = 0; i < size_; ++i) {
      if (columns_[i].name == name) return &columns_[i].value;
    }
    return nullptr;
  }
  std::span<const Column> columns() const { return {columns_.data(), size_}; }
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }
  void reserve(std::size_t n) { columns_.reserve(n); }

 private:
  // A row refilled for the next event mostly has the same columns in the same slots: a
  // comparison is cheaper than rewriting the name.
  static void assign_name(Column& column, std::string_view name) {
    if (column.name != name) column.name.assign(name);
  }
  Column& next_slot() {
    if (size_ == columns_.size()) columns_.emplace_back();
    return columns_[size_++];
  }

  std::vector<Column> columns_;  // [0, size_) in use; the rest kept for reuse
  std::size_t size_ = 0;
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

// Spare bytes the decoder reads past the end of a message (SIMD loads). A source whose
// RawMessage::value has this much unused capacity (value.reserve(size + kDecodePadding))
// is decoded in place; otherwise the decoder copies the message first.
inline constexpr std::size_t kDecodePadding = 64;

// Bytes as received from a transport, to be decoded by the core's codec.
struct RawMessage {
  std::string topic;
  std::optional<std::string> key;    // the record key (Debezium key JSON), if any
  std::optional<std::string> value;  // nullopt: a tombstone
  std::vector<Header> headers;
  Position position;

  // Member by member: cheaper than std::swap's three moves, which queues exchanging spent
  // messages for new ones do for each.
  friend void swap(RawMessage& a, RawMessage& b) noexcept {
    using std::swap;
    a.topic.swap(b.topic);
    swap(a.key, b.key);
    swap(a.value, b.value);
    a.headers.swap(b.headers);
    swap(a.position, b.position);
  }
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
