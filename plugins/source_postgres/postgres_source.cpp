#include "postgres_source.hpp"

#include <algorithm>

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {

namespace {

using Clock = std::chrono::steady_clock;
using pgoutput::Lsn;

// How long an emit waits for room before the source serves its connection (status updates)
// and offers the event again.
constexpr std::chrono::milliseconds kEmitSlice{100};
// The longest a read waits, so that a stop request or an acknowledgement is acted on soon.
constexpr std::chrono::milliseconds kReadSlice{100};
// Acknowledgements are confirmed to the server this soon (or at status_interval, if sooner),
// so that the slot releases WAL while the source is busy.
constexpr std::chrono::milliseconds kConfirmDelay{1000};

// SQLSTATEs this source acts on.
constexpr std::string_view kObjectInUse = "55006";  // the slot is active for another connection
constexpr std::string_view kDuplicateObject = "42710";

std::uint64_t read_u64(std::string_view bytes, std::size_t at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

void put_u64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

// "schema.table" (or "table", in public) as a quoted SQL name.
std::string quoted_table(const PostgresConnection& connection, const std::string& table) {
  auto dot = table.find('.');
  if (dot == std::string::npos) return connection.quote_identifier(table);
  return connection.quote_identifier(table.substr(0, dot)) + "." + connection.quote_identifier(table.substr(dot + 1));
}

std::string table_list(const std::vector<std::string>& tables) {
  std::string out;
  for (const auto& table : tables) out += (out.empty() ? "" : ", ") + table;
  return out;
}

}  // namespace

sdk::OptionsSpec<PostgresSourceOptions> PostgresSource::options() {
  using O = PostgresSourceOptions;
  sdk::OptionsSpec<O> spec(
      "Reads row changes straight from PostgreSQL's logical replication (the pgoutput plugin, built into "
      "PostgreSQL 10 and later) through a replication slot: no Kafka, no Debezium, no JVM. The slot's flush LSN "
      "moves only past transactions whose invalidations were all delivered or dead-lettered, so a restart, of "
      "Invalidator or of the server, misses nothing. Needs wal_level = logical, and a user with the REPLICATION "
      "attribute (or a superuser).");
  spec.option("dsn", &O::dsn)
      .description("libpq connection string or URI of the database to read; write a password as ${ENV_VAR}. "
                   "replication=database is added.")
      .required()
      .secret()
      .example("\"host=db.internal dbname=shop user=invalidator password=${PGPASSWORD}\"");
  spec.option("slot", &O::slot)
      .description("Logical replication slot (pgoutput) to read. The server keeps every change after the slot's "
                   "confirmed position, however long Invalidator is away: drop a slot you no longer use "
                   "(SELECT pg_drop_replication_slot('name')), or its WAL piles up.")
      .default_value("invalidator");
  spec.option("publication", &O::publication)
      .description("Publication naming the tables whose changes are read (CREATE PUBLICATION ... FOR TABLE ...).")
      .default_value("invalidator");
  spec.option("create_slot", &O::create_slot)
      .description("Create the slot when it does not exist. A new slot starts at the server's current position: "
                   "changes made before it existed are not read.")
      .default_value(true);
  spec.option("create_publication", &O::create_publication)
      .description("Create the publication when it does not exist, for `tables` (FOR ALL TABLES when `tables` is "
                   "empty, which needs a superuser). An existing publication is left as it is.")
      .default_value(false);
  spec.option("tables", &O::tables)
      .description("With create_publication: the tables to publish, as \"schema.table\".")
      .default_value(std::vector<std::string>{})
      .example("[\"public.customers\", \"public.invoices\"]");
  spec.option("protocol_version", &O::protocol_version)
      .description("pgoutput protocol version: 2 (PostgreSQL 14 and later) can stream a large transaction before "
                   "it commits; 1 works with PostgreSQL 10 and later.")
      .default_value(2)
      .min(1)
      .max(2);
  spec.option("streaming", &O::streaming)
      .description("With protocol_version 2: let the server send a transaction larger than its "
                   "logical_decoding_work_mem before it commits. The source keeps the pieces on disk (in its state "
                   "directory) until the commit, and forgets them at an abort: memory stays bounded either way.")
      .default_value(true);
  spec.option("status_interval", &O::status_interval)
      .description("Longest time between two status updates to the server (the flush position, and a sign of "
                   "life: keep it under the server's wal_sender_timeout). Acknowledged positions are confirmed "
                   "within a second anyway.")
      .default_value(std::chrono::seconds(10))
      .min(1);
  spec.option("connect_timeout", &O::connect_timeout)
      .description("How long a connection attempt may take before it is retried.")
      .default_value(std::chrono::seconds(10))
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> PostgresSource::create(PostgresSourceOptions options,
                                                                 const sdk::PluginContext& context) {
  if (options.create_publication && options.tables.empty() && context.logger) {
    context.logger->warn("create_publication without tables publishes every table (FOR ALL TABLES), which needs a "
                         "superuser; list the tables the routes read in `tables`");
  }
  if (options.streaming && options.protocol_version < 2) options.streaming = false;
  std::filesystem::path spill = context.state_directory.empty()
                                    ? std::filesystem::temp_directory_path()
                                    : context.state_directory / "streamed-transactions";
  return std::unique_ptr<sdk::Source>(new PostgresSource(std::move(options), context.logger, std::move(spill)));
}

PostgresSource::~PostgresSource() { confirm_after_stop(); }

void PostgresSource::log(sdk::LogLevel level, const std::string& message) const {
  if (logger_) logger_->log(level, message);
}

// ---------------------------------------------------------------------------------------------
// Preparing a connection: publication, slot, START_REPLICATION.

sdk::Status PostgresSource::prepare(PostgresConnection& connection) {
  if (connection.server_version() < 100000) {
    return sdk::Status::error("PostgreSQL " + std::to_string(connection.server_version()) +
                              " has no pgoutput: logical replication needs PostgreSQL 10 or later");
  }
  if (options_.protocol_version >= 2 && connection.server_version() < 140000) {
    return sdk::Status::error("pgoutput protocol 2 needs PostgreSQL 14 or later; set protocol_version = 1");
  }
  if (auto published = ensure_publication(connection); !published) return published;
  if (auto slot = ensure_slot(connection); !slot) return slot;
  if (auto started = connection.start_replication(start_command(connection)); !started) {
    if (connection.sqlstate() == kObjectInUse) {
      return sdk::Status::transient_error("replication slot '" + options_.slot +
                                          "' is in use by another connection (another Invalidator instance?): "
                                          "retrying, so that this one takes over when it is released (" +
                                          started.message() + ")");
    }
    if (started.is_transient()) return started;
    return sdk::Status::error("cannot start replication from slot '" + options_.slot + "': " + started.message());
  }
  return sdk::Status::success();
}

sdk::Status PostgresSource::ensure_publication(PostgresConnection& connection) {
  auto found = connection.query("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = " +
                                connection.quote_literal(options_.publication));
  if (!found) return found.status();
  if (!found->empty()) return sdk::Status::success();
  const std::string tables = options_.tables.empty() ? "schema.table, ..." : table_list(options_.tables);
  if (!options_.create_publication) {
    return sdk::Status::error("publication '" + options_.publication +
                              "' does not exist in the database: create it (CREATE PUBLICATION " +
                              options_.publication + " FOR TABLE " + tables +
                              "), or set create_publication = true and tables = [...]");
  }
  std::string statement = "CREATE PUBLICATION " + connection.quote_identifier(options_.publication);
  if (options_.tables.empty()) {
    statement += " FOR ALL TABLES";
  } else {
    statement += " FOR TABLE ";
    for (std::size_t i = 0; i < options_.tables.size(); ++i) {
      statement += (i == 0 ? "" : ", ") + quoted_table(connection, options_.tables[i]);
    }
  }
  auto created = connection.query(statement);
  if (!created && connection.sqlstate() != kDuplicateObject) {
    if (created.status().is_transient()) return created.status();
    return sdk::Status::error("cannot create publication '" + options_.publication + "': " + created.status().message());
  }
  log(sdk::LogLevel::info, "created publication " + options_.publication + " for " +
                               (options_.tables.empty() ? std::string("all tables") : table_list(options_.tables)));
  return sdk::Status::success();
}

sdk::Status PostgresSource::ensure_slot(PostgresConnection& connection) {
  auto found = connection.query(
      "SELECT plugin, database = current_database(), confirmed_flush_lsn FROM pg_catalog.pg_replication_slots "
      "WHERE slot_name = " + connection.quote_literal(options_.slot));
  if (!found) return found.status();
  if (!found->empty()) {
    const auto& row = found->front();
    if (row[0].value_or("") != "pgoutput") {
      return sdk::Status::error("replication slot '" + options_.slot + "' uses the output plugin '" +
                                row[0].value_or("(none: a physical slot)") +
                                "'; this source reads pgoutput: name another slot");
    }
    if (row[1].value_or("f") != "t") {
      return sdk::Status::error("replication slot '" + options_.slot +
                                "' belongs to another database: connect to that one, or name another slot");
    }
    log(sdk::LogLevel::info, "reading slot " + options_.slot + " from " + row[2].value_or("its start") +
                                 " (publication " + options_.publication + ", pgoutput protocol " +
                                 std::to_string(options_.protocol_version) + ")");
    return sdk::Status::success();
  }
  if (!options_.create_slot) {
    return sdk::Status::error("replication slot '" + options_.slot + "' does not exist: create it (SELECT "
                              "pg_create_logical_replication_slot('" + options_.slot +
                              "', 'pgoutput')), or set create_slot = true");
  }
  auto created = connection.query("CREATE_REPLICATION_SLOT " + connection.quote_identifier(options_.slot) +
                                  " LOGICAL pgoutput NOEXPORT_SNAPSHOT");
  if (!created) {
    if (connection.sqlstate() == kDuplicateObject) return sdk::Status::success();  // made by another instance
    if (created.status().is_transient()) return created.status();
    return sdk::Status::error("cannot create replication slot '" + options_.slot + "': " + created.status().message());
  }
  std::string at = !created->empty() && created->front().size() > 1 ? created->front()[1].value_or("?") : "?";
  log(sdk::LogLevel::info, "created replication slot " + options_.slot + " at " + at +
                               ": changes committed from now on are read, earlier ones are not");
  return sdk::Status::success();
}

std::string PostgresSource::start_command(const PostgresConnection& connection) const {
  // publication_names is a string holding a list of names: the name quoted as an identifier,
  // inside a string literal.
  std::string names = connection.quote_identifier(options_.publication);
  std::string literal = "'";
  for (char c : names) literal += c == '\'' ? std::string("''") : std::string(1, c);
  literal += "'";
  std::string command = "START_REPLICATION SLOT " + connection.quote_identifier(options_.slot) +
                        " LOGICAL 0/0 (proto_version '" + std::to_string(options_.protocol_version) +
                        "', publication_names " + literal;
  if (options_.streaming) command += ", streaming 'on'";
  return command + ")";
}

// ---------------------------------------------------------------------------------------------
// Acknowledgement.

void PostgresSource::expect(std::uint64_t sequence, Lsn lsn) {
  std::lock_guard lock(transaction_ends_mutex_);
  transaction_ends_.emplace_back(sequence, lsn);
}

void PostgresSource::acknowledge(const sdk::Position& position) {
  Lsn done = 0;
  {
    std::lock_guard lock(transaction_ends_mutex_);
    while (!transaction_ends_.empty() && transaction_ends_.front().first <= position.offset) {
      done = std::max(done, transaction_ends_.front().second);
      transaction_ends_.pop_front();
    }
  }
  Lsn previous = acknowledged_.load();
  while (done > previous && !acknowledged_.compare_exchange_weak(previous, done)) {
  }
}

void PostgresSource::confirm_after_stop() {
  const Lsn acknowledged = acknowledged_.load();
  if (acknowledged <= confirmed_.load()) return;
  std::stop_source never;
  auto connection = PostgresConnection::open(options_.dsn, PostgresConnection::Kind::plain, options_.connect_timeout,
                                             never.get_token());
  if (!connection) {
    log(sdk::LogLevel::warn, "cannot confirm " + pgoutput::format_lsn(acknowledged) + " to slot " + options_.slot +
                                 " at shutdown (" + connection.status().message() +
                                 "): the transactions after " + pgoutput::format_lsn(confirmed_.load()) +
                                 " will be read again");
    return;
  }
  auto advanced = (*connection)->query("SELECT pg_catalog.pg_replication_slot_advance(" +
                                       (*connection)->quote_literal(options_.slot) + ", " +
                                       (*connection)->quote_literal(pgoutput::format_lsn(acknowledged)) + ")");
  if (!advanced) {
    log(sdk::LogLevel::warn, "cannot confirm " + pgoutput::format_lsn(acknowledged) + " to slot " + options_.slot +
                                 " at shutdown (" + advanced.status().message() + "): the transactions after " +
                                 pgoutput::format_lsn(confirmed_.load()) + " will be read again");
    return;
  }
  confirmed_.store(acknowledged);
}

// ---------------------------------------------------------------------------------------------
// Reading one connection's stream.

class PostgresSource::Session {
 public:
  Session(PostgresSource& source, ReplicationStream& connection, sdk::Emitter& emitter, const std::stop_token& stop)
      : source_(source), connection_(connection), emitter_(emitter), stop_(stop) {
    // The server streams every unfinished transaction again to a new connection.
    source_.spill_.clear();
  }

  sdk::Status run() {
    while (!stopped()) {
      if (auto sent = send_status_if_due(); !sent) return sent;
      auto frame = connection_.next_frame(kReadSlice);
      if (!frame) return frame.status();
      if (!*frame) continue;
      if (auto handled = handle_frame(**frame); !handled) return handled;
    }
    (void)send_status();  // best effort: what it confirms is confirmed again later otherwise
    return sdk::Status::success();
  }

 private:
  bool stopped() const { return pipeline_stopping_ || stop_.stop_requested(); }

  sdk::Status handle_frame(std::string_view frame) {
    switch (frame[0]) {
      case 'k': {  // Primary keepalive: wal_end, server clock, reply requested
        if (frame.size() < 18) return sdk::Status::error("a keepalive frame of " + std::to_string(frame.size()) + " bytes");
        const Lsn wal_end = read_u64(frame, 1);
        received_ = std::max(received_, wal_end);
        report_lag();
        // Between transactions, everything before wal_end was sent: an idle slot (or one
        // whose changes are all of unpublished tables) moves on with it.
        if (!in_transaction_ && !stream_xid_ && wal_end > last_marked_) {
          if (auto marked = emit_position(wal_end); !marked) return marked;
        }
        if (frame[17] != 0) return send_status();
        return sdk::Status::success();
      }
      case 'w': {  // XLogData: wal_start, wal_end, server clock, then one pgoutput message
        if (frame.size() < 26) return sdk::Status::error("an XLogData frame of " + std::to_string(frame.size()) + " bytes");
        const Lsn wal_start = read_u64(frame, 1);
        received_ = std::max(received_, read_u64(frame, 9));
        return handle_message(frame.substr(25), wal_start);
      }
      default: return sdk::Status::success();  // nothing else is sent on a logical stream today
    }
  }

  sdk::Status handle_message(std::string_view bytes, Lsn at) {
    auto parsed = pgoutput::parse(bytes, stream_xid_.has_value());
    if (!parsed) return undecodable(parsed.status(), at);
    pgoutput::Message& message = *parsed;
    if (stream_xid_ && is_streamed_content(message.type)) {
      // Relations and types apply to the whole transaction, whichever subtransaction sent them.
      const bool change = message.type != 'R' && message.type != 'Y';
      return source_.spill_.append(*stream_xid_, change ? message.xid.value_or(*stream_xid_) : *stream_xid_, bytes);
    }
    return std::visit([&](auto& body) { return handle(body, at); }, message.body);
  }

  static bool is_streamed_content(char type) {
    return type == 'R' || type == 'Y' || type == 'I' || type == 'U' || type == 'D' || type == 'T' || type == 'M';
  }

  sdk::Status undecodable(const sdk::Status& why, Lsn at) const {
    return sdk::Status::error("cannot decode the pgoutput message at " + pgoutput::format_lsn(at) + " from slot '" +
                              source_.options_.slot + "': " + why.message() +
                              "; stopping rather than skipping a change (the slot still holds it)");
  }

  sdk::Status handle(pgoutput::Begin& begin, Lsn) {
    in_transaction_ = true;
    transaction_ = pgoutput::TransactionInfo{begin.final_lsn, pgoutput::from_postgres_time(begin.commit_time), begin.xid};
    return sdk::Status::success();
  }
  sdk::Status handle(pgoutput::Commit& commit, Lsn) {
    in_transaction_ = false;
    return finish_transaction(commit.end_lsn);
  }
  sdk::Status handle(pgoutput::Relation& relation, Lsn) {
    relations_.remember(std::move(relation));
    return sdk::Status::success();
  }
  sdk::Status handle(pgoutput::Type&, Lsn) { return sdk::Status::success(); }  // values are read as text
  sdk::Status handle(pgoutput::Origin&, Lsn) { return sdk::Status::success(); }
  sdk::Status handle(pgoutput::LogicalMessage&, Lsn) { return sdk::Status::success(); }  // not asked for
  // Defined before the handlers that call it: clang 14 does not instantiate a member template
  // first named in a generic lambda ahead of its definition, and the link fails.
  template <typename Change>
  sdk::Status change_events(const Change& change, const pgoutput::RelationCache& relations, Lsn at) {
    events_.clear();
    if (auto built = builder_.build(change, relations, transaction_, events_); !built) return undecodable(built, at);
    for (auto& event : events_) {
      // The last event of a transaction carries its end: held back until the next message
      // says whether another change follows.
      if (pending_) {
        if (auto emitted = emit_event(*pending_, std::nullopt); !emitted || stopped()) return emitted;
      }
      pending_ = std::move(event);
    }
    return sdk::Status::success();
  }

  template <typename Change>
    requires std::is_same_v<Change, pgoutput::Insert> || std::is_same_v<Change, pgoutput::Update> ||
             std::is_same_v<Change, pgoutput::Delete> || std::is_same_v<Change, pgoutput::Truncate>
  sdk::Status handle(Change& change, Lsn at) {
    return change_events(change, relations_, at);
  }
  sdk::Status handle(pgoutput::StreamStart& start, Lsn) {
    stream_xid_ = start.xid;
    return sdk::Status::success();
  }
  sdk::Status handle(pgoutput::StreamStop&, Lsn) {
    stream_xid_.reset();
    return sdk::Status::success();
  }
  sdk::Status handle(pgoutput::StreamAbort& abort, Lsn) {
    source_.spill_.abort(abort.xid, abort.subtransaction_xid);
    return sdk::Status::success();
  }
  sdk::Status handle(pgoutput::StreamCommit& commit, Lsn at) {
    transaction_ = pgoutput::TransactionInfo{commit.commit_lsn, pgoutput::from_postgres_time(commit.commit_time), commit.xid};
    // The relations the stream announced, over those known outside it: pgoutput describes
    // each relation inside a streamed transaction, apart from the other transactions.
    pgoutput::RelationCache relations = relations_;
    auto replayed = source_.spill_.replay(commit.xid, [&](std::string_view bytes) -> sdk::Status {
      auto parsed = pgoutput::parse(bytes, true);
      if (!parsed) return undecodable(parsed.status(), at);
      return std::visit(
          [&](auto& body) -> sdk::Status {
            using Body = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<Body, pgoutput::Relation>) {
              relations.remember(std::move(body));
            } else if constexpr (std::is_same_v<Body, pgoutput::Insert> || std::is_same_v<Body, pgoutput::Update> ||
                                 std::is_same_v<Body, pgoutput::Delete> || std::is_same_v<Body, pgoutput::Truncate>) {
              if (stopped()) return sdk::Status::success();
              return change_events(body, relations, at);
            }
            return sdk::Status::success();
          },
          parsed->body);
    });
    if (!replayed) return replayed;
    return finish_transaction(commit.end_lsn);
  }

  sdk::Status finish_transaction(Lsn end) {
    sdk::Status outcome = sdk::Status::success();
    if (pending_) {
      outcome = emit_event(*pending_, end);
      pending_.reset();
    } else {
      outcome = emit_position(end);  // a transaction whose changes made no event
    }
    last_marked_ = std::max(last_marked_, end);
    return outcome;
  }

  sdk::Status emit_event(sdk::ChangeEvent& event, std::optional<Lsn> transaction_end) {
    const std::uint64_t sequence = source_.next_sequence_++;
    event.position = sdk::Position{0, sequence};
    event.topic = source_.options_.slot;
    if (transaction_end) source_.expect(sequence, *transaction_end);
    return offer([&](sdk::Emitter::Deadline deadline) { return emitter_.try_emit(event, deadline); });
  }

  sdk::Status emit_position(Lsn lsn) {
    const std::uint64_t sequence = source_.next_sequence_++;
    source_.expect(sequence, lsn);
    last_marked_ = std::max(last_marked_, lsn);
    const sdk::Position position{0, sequence};
    return offer([&](sdk::Emitter::Deadline deadline) { return emitter_.try_emit_position(position, deadline); });
  }

  // Offers until the pipeline takes it, serving the connection meanwhile: the status updates
  // keep the server from timing the connection out while it waits.
  template <typename TryOnce>
  sdk::Status offer(TryOnce try_once) {
    for (;;) {
      switch (try_once(Clock::now() + kEmitSlice)) {
        case sdk::EmitResult::accepted: return sdk::Status::success();
        case sdk::EmitResult::stopping: pipeline_stopping_ = true; return sdk::Status::success();
        case sdk::EmitResult::full: break;
      }
      if (stop_.stop_requested()) return sdk::Status::success();
      if (auto sent = send_status_if_due(); !sent) return sent;
    }
  }

  sdk::Status send_status_if_due() {
    const auto now = Clock::now();
    const bool acknowledged_more = source_.acknowledged_.load() > source_.confirmed_.load();
    const auto confirm_delay = std::min<std::chrono::milliseconds>(kConfirmDelay, source_.options_.status_interval);
    if (now >= last_status_ + source_.options_.status_interval || (acknowledged_more && now >= last_status_ + confirm_delay)) {
      return send_status();
    }
    return sdk::Status::success();
  }

  // Standby Status Update: written up to what was received, flushed and applied up to what
  // was acknowledged.
  sdk::Status send_status() {
    const Lsn flushed = source_.acknowledged_.load();
    std::string frame;
    frame.reserve(34);
    frame.push_back('r');
    put_u64(frame, std::max(received_, flushed));
    put_u64(frame, flushed);
    put_u64(frame, flushed);
    put_u64(frame, static_cast<std::uint64_t>(pgoutput::to_postgres_time(std::chrono::system_clock::now())));
    frame.push_back(0);  // no reply wanted
    last_status_ = Clock::now();
    if (auto sent = connection_.send_frame(frame); !sent) return sent;
    if (flushed > source_.confirmed_.load()) source_.confirmed_.store(flushed);
    report_lag();
    return sdk::Status::success();
  }

  // Bytes of WAL between what was acknowledged and the server's end as it last told (each
  // keepalive and each change carry it). Nothing before a first acknowledgement: where the
  // slot stood is not known until then.
  void report_lag() {
    const Lsn acknowledged = source_.acknowledged_.load();
    if (acknowledged == 0) return;
    emitter_.report_lag("", received_ > acknowledged ? received_ - acknowledged : 0, sdk::LagUnit::bytes);
  }

  PostgresSource& source_;
  ReplicationStream& connection_;
  sdk::Emitter& emitter_;
  const std::stop_token& stop_;
  bool pipeline_stopping_ = false;

  pgoutput::RelationCache relations_;
  pgoutput::ChangeBuilder builder_;
  std::vector<sdk::ChangeEvent> events_;
  std::optional<sdk::ChangeEvent> pending_;  // the latest change, its transaction's last one until shown otherwise
  bool in_transaction_ = false;
  pgoutput::TransactionInfo transaction_;
  std::optional<std::uint32_t> stream_xid_;  // inside a Stream Start .. Stream Stop block
  Lsn received_ = 0;
  Lsn last_marked_ = 0;  // the highest LSN an emitted position stands for
  Clock::time_point last_status_{};
};

sdk::Status PostgresSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  auto connection = PostgresConnection::open(options_.dsn, PostgresConnection::Kind::replication,
                                             options_.connect_timeout, stop);
  if (!connection) return stop.stop_requested() ? sdk::Status::success() : connection.status();
  if (auto prepared = prepare(**connection); !prepared) return stop.stop_requested() ? sdk::Status::success() : prepared;
  return read_stream(**connection, emitter, stop);
}

sdk::Status PostgresSource::read_stream(ReplicationStream& stream, sdk::Emitter& emitter, const std::stop_token& stop) {
  Session session(*this, stream, emitter, stop);
  return session.run();
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(postgres, "0.1.0", invalidator::plugins::PostgresSource::options,
                          invalidator::plugins::PostgresSource::create)
