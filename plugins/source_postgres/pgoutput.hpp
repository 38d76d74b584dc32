#pragma once

// PostgreSQL's logical replication output plugin, pgoutput (protocol versions 1 and 2), as
// documented in "Logical Replication Message Formats": the messages parsed from their bytes,
// and the row changes among them turned into ChangeEvents against the relations announced
// before them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins::pgoutput {

// A position in the write-ahead log.
using Lsn = std::uint64_t;

// "16/B374D848", as PostgreSQL writes an LSN.
std::string format_lsn(Lsn lsn);
std::optional<Lsn> parse_lsn(std::string_view text);

// PostgreSQL's timestamps count microseconds from 2000-01-01 00:00 UTC.
std::chrono::system_clock::time_point from_postgres_time(std::int64_t microseconds);
std::int64_t to_postgres_time(std::chrono::system_clock::time_point time);

// One column of a tuple, pointing into the message it was parsed from.
struct TupleValue {
  enum class Kind : char { null = 'n', unchanged_toast = 'u', text = 't', binary = 'b' };
  Kind kind = Kind::null;
  std::string_view data;
};
using Tuple = std::vector<TupleValue>;

struct Begin {
  Lsn final_lsn = 0;  // the commit record's LSN
  std::int64_t commit_time = 0;
  std::uint32_t xid = 0;
};
struct Commit {
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;  // after the commit record: what a client confirms once it kept the transaction
  std::int64_t commit_time = 0;
};
struct RelationColumn {
  bool key = false;  // part of the replica identity (every column under REPLICA IDENTITY FULL)
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = 0;
};
struct Relation {
  std::uint32_t oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default (primary key), n nothing, f full, i index
  std::vector<RelationColumn> columns;
};
struct Type {
  std::uint32_t oid = 0;
  std::string schema;
  std::string name;
};
// The old row of an update or delete, as the table's REPLICA IDENTITY lets the server send it.
enum class OldTuple : char { none = 0, key = 'K', full = 'O' };
struct Insert {
  std::uint32_t relation = 0;
  Tuple new_tuple;
};
struct Update {
  std::uint32_t relation = 0;
  OldTuple old_kind = OldTuple::none;
  Tuple old_tuple;
  Tuple new_tuple;
};
struct Delete {
  std::uint32_t relation = 0;
  OldTuple old_kind = OldTuple::none;
  Tuple old_tuple;
};
struct Truncate {
  std::uint8_t options = 0;  // 1 CASCADE, 2 RESTART IDENTITY
  std::vector<std::uint32_t> relations;
};
struct Origin {
  Lsn commit_lsn = 0;
  std::string name;
};
struct LogicalMessage {  // pg_logical_emit_message(); sent only when asked for ('messages')
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string_view content;
};
// Protocol 2: a large transaction sent in pieces before it commits.
struct StreamStart {
  std::uint32_t xid = 0;
  bool first_segment = false;
};
struct StreamStop {};
struct StreamCommit {
  std::uint32_t xid = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  std::int64_t commit_time = 0;
};
struct StreamAbort {
  std::uint32_t xid = 0;
  std::uint32_t subtransaction_xid = 0;  // == xid: the whole transaction
};

using Body = std::variant<Begin, Commit, Relation, Type, Insert, Update, Delete, Truncate, Origin, LogicalMessage,
                          StreamStart, StreamStop, StreamCommit, StreamAbort>;

struct Message {
  char type = 0;                     // the message's type byte, as the documentation names it
  std::optional<std::uint32_t> xid;  // inside a stream block: the (sub)transaction of the change
  Body body;
};

// Parses one pgoutput message (what follows the XLogData header). Between a Stream Start and
// its Stream Stop, row changes, relations, types and messages carry their transaction's id:
// `in_stream` says so. Tuples point into `bytes`, which must outlive them.
sdk::Result<Message> parse(std::string_view bytes, bool in_stream);

// The transaction a change belongs to.
struct TransactionInfo {
  Lsn commit_lsn = 0;
  std::chrono::system_clock::time_point commit_time{};
  std::uint32_t xid = 0;
};

// The relations (tables) announced so far, by OID: a Relation message precedes the first
// change of a table and follows any change of its columns, replacing what was known.
class RelationCache {
 public:
  void remember(Relation relation);
  const Relation* find(std::uint32_t oid) const;

 private:
  std::unordered_map<std::uint32_t, Relation> relations_;
};

// Turns row changes into events. Values arrive as text and become what a Debezium message of
// the same row would hold: booleans, integers and floating point numbers by their column's type,
// everything else (numeric included, to keep its digits) as text; an unchanged TOASTed value
// is *unavailable*, never a value.
class ChangeBuilder {
 public:
  // `events` receives one event (several for a truncate of several tables).
  sdk::Status build(const Insert& change, const RelationCache& relations, const TransactionInfo& transaction,
                    std::vector<sdk::ChangeEvent>& events) const;
  sdk::Status build(const Update& change, const RelationCache& relations, const TransactionInfo& transaction,
                    std::vector<sdk::ChangeEvent>& events) const;
  sdk::Status build(const Delete& change, const RelationCache& relations, const TransactionInfo& transaction,
                    std::vector<sdk::ChangeEvent>& events) const;
  sdk::Status build(const Truncate& change, const RelationCache& relations, const TransactionInfo& transaction,
                    std::vector<sdk::ChangeEvent>& events) const;
};

// A column's text as the value its type calls for.
sdk::Value convert_value(std::uint32_t type_oid, const TupleValue& value);

}  // namespace invalidator::plugins::pgoutput
