#include "poll_source.hpp"

#include <condition_variable>
#include <pqxx/pqxx>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/state.hpp"
#include "text_values.hpp"

namespace invalidator::plugins {

namespace {

using Clock = std::chrono::steady_clock;

// How long an emit waits for room before checking for a stop request and offering again.
constexpr std::chrono::milliseconds kEmitSlice{100};

// "schema.table" (or "table") as a quoted SQL name.
std::string quoted_table(pqxx::connection& connection, const std::string& table) {
  auto dot = table.find('.');
  if (dot == std::string::npos) return connection.quote_name(table);
  return connection.quote_name(table.substr(0, dot)) + "." + connection.quote_name(table.substr(dot + 1));
}

std::string joined(const std::vector<std::string>& names, const std::string& separator, const std::string& suffix = "") {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : separator) + name + suffix;
  return out;
}

sdk::TableId table_id(const std::string& table) {
  auto dot = table.find('.');
  if (dot == std::string::npos) return sdk::TableId{"", "public", table};
  return sdk::TableId{"", table.substr(0, dot), table.substr(dot + 1)};
}

// A cursor file line holds one value; a backslash escapes a newline or itself.
std::string escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string unescaped(const std::string& value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) {
      out += value[i + 1] == 'n' ? '\n' : value[i + 1];
      ++i;
    } else {
      out += value[i];
    }
  }
  return out;
}

}  // namespace

sdk::OptionsSpec<PollSourceOptions> PollSource::options() {
  using O = PollSourceOptions;
  sdk::OptionsSpec<O> spec(
      "Query-based change capture for a database without logical replication: every `interval`, reads the rows "
      "of a table (or a query) whose cursor columns are past the last row read, as update events. Sees inserts "
      "and updates (and soft deletes, with `deleted_column`), not hard deletes; its latency is the interval. The "
      "cursor is kept in the state directory once the rows before it were delivered.");
  spec.option("dsn", &O::dsn)
      .description("libpq connection string or URI; write a password as ${ENV_VAR}.")
      .required()
      .secret()
      .example("\"host=db.internal dbname=shop user=reader password=${PGPASSWORD}\"");
  spec.option("table", &O::table)
      .description("The table read, as \"schema.table\": the events' table, which routes match.")
      .required()
      .example("\"public.customers\"");
  spec.option("query", &O::query)
      .description("A SELECT to read instead of the whole table (a join, a filter); it must return the cursor "
                   "columns. Empty: every column of `table`.")
      .default_value("")
      .example("\"SELECT c.id, c.email, c.updated_at FROM customers c WHERE c.tenant = 'eu'\"");
  spec.option("cursor", &O::cursor)
      .description("Columns that order the rows, compared together: a timestamp the application sets on every "
                   "write, then a unique column, so that rows with equal timestamps are neither skipped nor read "
                   "twice. Must not be NULL.")
      .default_value(std::vector<std::string>{"updated_at", "id"});
  spec.option("key", &O::key)
      .description("Columns that identify a row (the events' key). Empty: the table's primary key.")
      .default_value(std::vector<std::string>{});
  spec.option("interval", &O::interval)
      .description("Time between two polls, when the last one read less than `batch` rows: the latency.")
      .default_value(std::chrono::seconds(1))
      .min(1);
  spec.option("batch", &O::batch)
      .description("Most rows read by one query; a full batch is followed by the next query at once.")
      .default_value(1000)
      .min(1);
  spec.option("deleted_column", &O::deleted_column)
      .description("A soft-delete column: a row where it is true (a boolean) or set (a deleted_at timestamp) "
                   "becomes a delete event. Empty: every row is an update.")
      .default_value("")
      .example("\"deleted_at\"");
  spec.option("start", &O::start)
      .description("Where a source without a stored cursor starts: every row of the table (each invalidated "
                   "once), or after the newest row now.")
      .choices({{"beginning", PollStart::beginning}, {"now", PollStart::now}})
      .default_value(PollStart::beginning);
  spec.option("settle", &O::settle)
      .description("Read only rows whose first cursor column (a timestamp) is at least this old. A transaction "
                   "that commits after a later one set its timestamp would otherwise be passed by the cursor "
                   "and never read: make it longer than your longest write transaction. 0: read every row.")
      .default_value(std::chrono::milliseconds(0))
      .min(0);
  spec.option("checkpoint_interval", &O::checkpoint_interval)
      .description("How often the acknowledged cursor is written to the state directory; also when the source "
                   "is closed.")
      .default_value(std::chrono::seconds(1))
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> PollSource::create(PollSourceOptions options,
                                                             const sdk::PluginContext& context) {
  if (options.cursor.empty()) return sdk::Status::error("cursor needs at least one column");
  if (context.state_directory.empty()) {
    return sdk::Status::error("the poll source keeps its cursor in a state directory, and none was given");
  }
  std::filesystem::path cursor_file = context.state_directory / "cursor";
  auto stored = sdk::read_state_file(cursor_file);
  if (!stored) return stored.status();
  std::optional<Cursor> cursor;
  if (*stored) {
    std::string error;
    cursor = parse_cursor(**stored, options.cursor, error);
    if (!cursor) return sdk::Status::error(cursor_file.string() + ": " + error);
    if (context.logger) context.logger->info("resuming after cursor (" + joined(*cursor, ", ") + ")");
  }
  return std::unique_ptr<sdk::Source>(
      new PollSource(std::move(options), context.logger, std::move(cursor_file), std::move(cursor)));
}

PollSource::~PollSource() {
  std::lock_guard lock(acknowledged_mutex_);
  save_cursor();
}

void PollSource::log(sdk::LogLevel level, const std::string& message) const {
  if (logger_) logger_->log(level, message);
}

std::string PollSource::format_cursor(const std::vector<std::string>& columns, const Cursor& cursor) {
  std::string text = "columns " + joined(columns, ",") + "\n";
  for (const auto& value : cursor) text += escaped(value) + "\n";
  return text;
}

std::optional<PollSource::Cursor> PollSource::parse_cursor(const std::string& text,
                                                           const std::vector<std::string>& columns,
                                                           std::string& error) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  const std::string expected_header = "columns " + joined(columns, ",");
  if (lines.empty() || lines[0].rfind("columns ", 0) != 0) {
    error = "not a cursor of columns (" + joined(columns, ", ") + "); remove the file to read from `start` again";
    return std::nullopt;
  }
  if (lines[0] != expected_header) {
    error = "the stored cursor is of columns (" + lines[0].substr(8) + "), the configuration's of (" +
            joined(columns, ",") + "); remove the file to read from `start` again";
    return std::nullopt;
  }
  if (lines.size() != columns.size() + 1) {
    error = "a cursor of " + std::to_string(lines.size() - 1) + " values for " + std::to_string(columns.size()) +
            " columns; remove the file to read from `start` again";
    return std::nullopt;
  }
  Cursor cursor;
  for (std::size_t i = 1; i < lines.size(); ++i) cursor.push_back(unescaped(lines[i]));
  return cursor;
}

sdk::Status PollSource::connect() {
  try {
    connection_ = std::make_unique<pqxx::connection>(options_.dsn);
  } catch (const pqxx::broken_connection& error) {
    connection_.reset();
    return sdk::Status::transient_error(std::string("cannot connect to PostgreSQL: ") + error.what());
  } catch (const std::exception& error) {
    connection_.reset();
    return sdk::Status::error(std::string("cannot connect to PostgreSQL: ") + error.what());
  }
  return prepare_queries();
}

sdk::Status PollSource::prepare_queries() {
  pqxx::connection& connection = *connection_;
  key_columns_ = options_.key;
  if (key_columns_.empty()) {
    pqxx::nontransaction lookup(connection);
    pqxx::result primary_key = lookup.exec_params(
        "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        quoted_table(connection, options_.table));
    for (const auto& row : primary_key) key_columns_.emplace_back(row[0].c_str());
    if (key_columns_.empty()) log(sdk::LogLevel::warn, options_.table + " has no primary key: events carry no key (set `key`)");
  }
  std::vector<std::string> cursor;
  for (const auto& column : options_.cursor) cursor.push_back("polled." + connection.quote_name(column));
  const std::string from = "SELECT * FROM (" +
                           (options_.query.empty() ? "SELECT * FROM " + quoted_table(connection, options_.table)
                                                   : options_.query) +
                           ") AS polled";
  std::vector<std::string> placeholders;
  for (std::size_t i = 1; i <= cursor.size(); ++i) placeholders.push_back("$" + std::to_string(i));
  const std::string settled = options_.settle.count() > 0 ? cursor[0] + " <= now() - interval '" +
                                                                std::to_string(options_.settle.count()) +
                                                                " milliseconds'"
                                                          : "";
  const std::string order = " ORDER BY " + joined(cursor, ", ") + " LIMIT " + std::to_string(options_.batch);
  select_after_ = from + " WHERE (" + joined(cursor, ", ") + ") > (" + joined(placeholders, ", ") + ")" +
                  (settled.empty() ? "" : " AND " + settled) + order;
  select_first_ = from + (settled.empty() ? "" : " WHERE " + settled) + order;
  select_last_ = "SELECT " + joined(cursor, ", ") + from.substr(std::string("SELECT *").size()) +
                 (settled.empty() ? "" : " WHERE " + settled) + " ORDER BY " + joined(cursor, ", ", " DESC") + " LIMIT 1";
  return sdk::Status::success();
}

sdk::Status PollSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  try {
    if (!connection_ || !connection_->is_open()) {
      if (auto connected = connect(); !connected) return stop.stop_requested() ? sdk::Status::success() : connected;
    }
    if (!read_ && options_.start == PollStart::now) {
      pqxx::nontransaction query(*connection_);
      pqxx::result newest = query.exec(select_last_);
      Cursor cursor;
      if (!newest.empty()) {
        for (const auto& field : newest[0]) cursor.emplace_back(field.c_str());
        read_ = cursor;
        log(sdk::LogLevel::info, "starting after the newest row now, (" + joined(cursor, ", ") + ")");
      }
    }
    std::mutex mutex;
    std::condition_variable_any stopped;
    while (!stop.stop_requested() && !pipeline_stopping_) {
      auto read = poll_once(emitter, stop);
      if (!read) return read.status();
      if (pipeline_stopping_) break;
      if (*read == static_cast<std::size_t>(options_.batch)) continue;  // more waiting: read on at once
      std::unique_lock lock(mutex);
      stopped.wait_for(lock, stop, options_.interval, [] { return false; });
    }
  } catch (const pqxx::broken_connection& error) {
    connection_.reset();
    return sdk::Status::transient_error(std::string("lost the connection to PostgreSQL: ") + error.what());
  } catch (const pqxx::sql_error& error) {
    connection_.reset();
    if (!error.sqlstate().empty() && error.sqlstate().rfind("08", 0) == 0) {
      return sdk::Status::transient_error(std::string("lost the connection to PostgreSQL: ") + error.what());
    }
    return sdk::Status::error("polling " + options_.table + " failed: " + error.what() + " (query: " + error.query() + ")");
  } catch (const std::exception& error) {
    connection_.reset();
    return sdk::Status::transient_error(std::string("polling ") + options_.table + " failed: " + error.what());
  }
  return sdk::Status::success();
}

sdk::Result<std::size_t> PollSource::poll_once(sdk::Emitter& emitter, const std::stop_token& stop) {
  pqxx::nontransaction query(*connection_);
  pqxx::result rows = read_ ? query.exec_params(select_after_, pqxx::prepare::make_dynamic_params(*read_))
                            : query.exec(select_first_);
  if (rows.empty()) return std::size_t{0};
  std::vector<int> cursor_at;
  for (const auto& column : options_.cursor) cursor_at.push_back(rows.column_number(column));
  const int deleted_at = options_.deleted_column.empty() ? -1 : rows.column_number(options_.deleted_column);
  const sdk::TableId table = table_id(options_.table);
  // The version is the time of reading: a later read of a row sees a later state of it.
  const auto now_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::size_t emitted = 0;
  for (const auto& row : rows) {
    Cursor cursor;
    for (int at : cursor_at) {
      if (row[at].is_null()) {
        return sdk::Status::error("cursor column '" + std::string(rows.column_name(at)) + "' is NULL in a row of " +
                                  options_.table + ": such rows are never read; make the column NOT NULL");
      }
      cursor.emplace_back(row[at].c_str());
    }
    sdk::ChangeEvent event;
    event.table = table;
    sdk::Row values;
    for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
      const auto& field = row[i];
      values.append(rows.column_name(i), field.is_null() ? sdk::Value{}
                                                           : postgres::typed_text_value(rows.column_type(i),
                                                                                        std::string_view(field.c_str(), field.size())));
    }
    for (const auto& name : key_columns_) {
      if (const sdk::Value* value = values.find(name)) event.key.append(name, *value);
    }
    bool deleted = false;
    if (deleted_at >= 0 && !row[deleted_at].is_null()) {
      const sdk::Value* flag = values.find(rows.column_name(deleted_at));
      deleted = flag == nullptr || !std::holds_alternative<bool>(*flag) || std::get<bool>(*flag);
    }
    event.op = deleted ? sdk::Op::remove : sdk::Op::update;
    if (deleted) event.before = std::move(values);
    else event.after = std::move(values);
    last_version_ = std::max(last_version_ + 1, now_us);
    event.version = last_version_;
    event.commit_time = std::chrono::system_clock::now();
    event.topic = options_.table;
    const std::uint64_t sequence = next_sequence_++;
    event.position = sdk::Position{0, sequence};
    {
      std::lock_guard lock(acknowledged_mutex_);
      in_flight_.emplace_back(sequence, cursor);
    }
    for (;;) {
      auto result = emitter.try_emit(event, Clock::now() + kEmitSlice);
      if (result == sdk::EmitResult::accepted) break;
      if (result == sdk::EmitResult::stopping) pipeline_stopping_ = true;
      if (pipeline_stopping_ || stop.stop_requested()) return emitted;
    }
    read_ = std::move(cursor);
    ++emitted;
  }
  return emitted;
}

void PollSource::acknowledge(const sdk::Position& position) {
  std::lock_guard lock(acknowledged_mutex_);
  while (!in_flight_.empty() && in_flight_.front().first <= position.offset) {
    acknowledged_ = std::move(in_flight_.front().second);
    in_flight_.pop_front();
  }
  if (Clock::now() - saved_at_ >= options_.checkpoint_interval) save_cursor();
}

void PollSource::save_cursor() {
  if (!acknowledged_ || acknowledged_ == saved_) return;
  saved_at_ = Clock::now();
  if (auto written = sdk::write_file_atomically(cursor_file_, format_cursor(options_.cursor, *acknowledged_)); !written) {
    log(sdk::LogLevel::error, "cannot keep the cursor: " + written.message());
    return;
  }
  saved_ = acknowledged_;
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(poll, "0.1.0", invalidator::plugins::PollSource::options,
                          invalidator::plugins::PollSource::create)
