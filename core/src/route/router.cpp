#include "route/router.hpp"

#include <algorithm>

#include "invalidator/sdk/pattern.hpp"

namespace invalidator::route {

sdk::Result<Router> Router::build(const std::vector<RouteSpec>& routes,
                                  const std::vector<std::string>& source_ids,
                                  const std::vector<std::string>& sink_ids) {
  Router router;
  std::vector<std::string> labels;
  auto index_of = [](const std::vector<std::string>& ids, const std::string& id) -> std::optional<std::size_t> {
    auto found = std::find(ids.begin(), ids.end(), id);
    if (found == ids.end()) return std::nullopt;
    return static_cast<std::size_t>(found - ids.begin());
  };
  for (const auto& spec : routes) {
    CompiledRoute route;
    route.index = spec.index;
    route.from.assign(source_ids.size(), false);
    for (const auto& id : spec.from) {
      auto index = index_of(source_ids, id);
      if (!index) return sdk::Status::error("route " + std::to_string(spec.index) + ": unknown source '" + id + "'");
      route.from[*index] = true;
    }
    for (const auto& id : spec.to) {
      auto index = index_of(sink_ids, id);
      if (!index) return sdk::Status::error("route " + std::to_string(spec.index) + ": unknown sink '" + id + "'");
      route.to.push_back(*index);
    }
    route.table_pattern = spec.table;
    route.table_is_glob = spec.table.find('*') != std::string::npos;
    route.ops = spec.ops;
    route.changed = spec.changed;
    for (const auto& text : spec.keys) {
      auto compiled = KeyTemplate::compile(text);
      if (!compiled) return sdk::Status::error(compiled.error());
      route.keys.push_back(std::move(compiled).value());
    }
    if (!spec.value.empty()) {
      auto compiled = KeyTemplate::compile(spec.value);
      if (!compiled) return sdk::Status::error(compiled.error());
      route.value = std::move(compiled).value();
    }
    route.action = spec.action;
    route.ttl = spec.ttl;
    route.redelete_after = spec.redelete_after;
    route.on_truncate = spec.on_truncate;
    router.routes_.push_back(std::move(route));
    router.counters_.push_back(std::make_shared<RouteCounters>());
    labels.push_back("routes[" + std::to_string(spec.index) + "]");
  }
  router.source_ids_ = std::make_shared<const std::vector<std::string>>(source_ids);
  router.route_labels_ = std::make_shared<const std::vector<std::string>>(std::move(labels));
  return router;
}

std::string_view Router::TableNames::intern(const sdk::TableId& table) {
  // Consecutive events nearly always name one table: three comparisons spare building its name.
  if (!last_.empty() && table == last_id_) return last_;
  last_ = *names_.insert(table.qualified_name()).first;
  last_id_ = table;
  return last_;
}

const sdk::InvalidationOrigin* Router::origin_for(std::size_t route_position, std::size_t source,
                                                 const sdk::ChangeEvent& event) {
  if (origins_.by_route.size() < routes_.size()) origins_.by_route.resize(routes_.size());
  const CompiledRoute& route = routes_[route_position];
  RouteOrigins& known = origins_.by_route[route_position];
  auto make = [&](std::string_view table) {
    return std::make_unique<sdk::InvalidationOrigin>(sdk::InvalidationOrigin{
        .table = table,
        .op = event.op,
        .source = source < source_ids_->size() ? std::string_view((*source_ids_)[source]) : std::string_view{},
        .route = (*route_labels_)[route_position]});
  };
  if (!route.table_is_glob) {
    // The event's table matched the route's exact name: that text is the table's name, and
    // the op alone tells the route's origins apart (no name to build or compare per event).
    auto& slot = known.by_op[static_cast<std::size_t>(event.op)];
    if (!slot) slot = make(route.table_pattern);
    return slot.get();
  }
  const std::string_view table = tables_.intern(event.table);
  for (const auto& origin : known.matched) {
    if (origin->table.data() == table.data() && origin->op == event.op) return origin.get();  // interned: by address
  }
  known.matched.push_back(make(table));
  return known.matched.back().get();
}

namespace {
// Whether "prefix.table" (or "table" alone when there is no prefix) equals `pattern`, without
// building the name: this runs for every event and route.
bool qualified_name_equals(std::string_view pattern, std::string_view prefix, std::string_view table) {
  if (prefix.empty()) return pattern == table;
  return pattern.size() == prefix.size() + 1 + table.size() && pattern.starts_with(prefix) &&
         pattern[prefix.size()] == '.' && pattern.ends_with(table);
}
}  // namespace

bool Router::table_matches(const CompiledRoute& route, const sdk::TableId& table) const {
  // A route names "schema.table" for PostgreSQL and "db.table" for MySQL; accept either.
  auto matches = [&](const std::string& prefix) {
    if (!route.table_is_glob) return qualified_name_equals(route.table_pattern, prefix, table.table);
    thread_local std::string name;  // keeps its buffer from one event to the next
    name.assign(prefix);
    if (!prefix.empty()) name += '.';
    name += table.table;
    return sdk::glob_match(route.table_pattern, name);
  };
  if (matches(table.schema)) return true;
  if (!table.database.empty() && table.database != table.schema && matches(table.database)) return true;
  // A bare table name in the route matches that table in any schema.
  return route.table_pattern == table.table;
}

bool Router::changed_passes(const CompiledRoute& route, const sdk::ChangeEvent& event,
                            std::vector<const std::string*>* absent) {
  if (route.changed.empty() || event.op != sdk::Op::update) return true;
  if (!event.before || !event.after) return true;  // cannot tell: invalidate (safe side)
  for (const auto& column : route.changed) {
    const sdk::Value* old_value = event.before->find(column);
    const sdk::Value* new_value = event.after->find(column);
    if (new_value != nullptr && sdk::is_unavailable(*new_value)) continue;  // TOAST: unchanged
    if (old_value == nullptr && new_value == nullptr) {
      // Not a column of this table's rows: most likely a misspelling. Found here, where the
      // lookups are made anyway, rather than by looking each column up again.
      if (absent != nullptr) absent->push_back(&column);
      continue;
    }
    if (old_value == nullptr || new_value == nullptr) return true;
    if (sdk::is_unavailable(*old_value)) return true;
    if (*old_value != *new_value) return true;
  }
  // A change of a column a key is built from (the primary key, an email) moves the row to
  // another key: the old one names what is no longer there, whatever `changed` lists.
  for (const auto& key : route.keys) {
    for (const auto& column : key.columns()) {
      const sdk::Value* old_value = event.before->find(column);
      const sdk::Value* new_value = event.after->find(column);
      if (old_value == nullptr && new_value == nullptr) continue;
      if (new_value != nullptr && sdk::is_unavailable(*new_value)) continue;  // TOAST: unchanged
      if (old_value == nullptr || new_value == nullptr || *old_value != *new_value) return true;
    }
  }
  return false;
}

std::string_view to_string(Unrendered reason) {
  switch (reason) {
    case Unrendered::absent: return "absent";
    case Unrendered::null: return "null";
    case Unrendered::unavailable: return "unavailable";
    case Unrendered::not_in_before_image: return "not_in_before_image";
    case Unrendered::missing_header: return "missing_header";
  }
  return "absent";
}

std::string Router::RenderProblem::describe() const {
  std::string text = "route " + std::to_string(route) + " (" + table + "): key template \"" + template_text +
                     "\" rendered no key";
  const std::string alter = "ALTER TABLE " + table + " REPLICA IDENTITY FULL";
  switch (reason) {
    case Unrendered::absent:
      return text + ": column '" + column + "' is in neither the row nor the row before; check its spelling";
    case Unrendered::null:
      return text + ": column '" + column + "' is null (in the row before a delete, a column outside the primary "
                    "key is null when the table has REPLICA IDENTITY DEFAULT; if so: " + alter + ")";
    case Unrendered::unavailable:
      return text + ": column '" + column + "' is unavailable (an unchanged TOASTed value); " + alter +
             " makes PostgreSQL log it";
    case Unrendered::not_in_before_image:
      return text + " for the row before the change: column '" + column +
             "' is not in it, so the old key may stay cached. The table has REPLICA IDENTITY DEFAULT (PostgreSQL "
             "logs only the primary key of the old row); fix: " + alter;
    case Unrendered::missing_header:
      return text + ": the message has no header '" + column.substr(std::string_view("header:").size()) + "'";
  }
  return text;
}

void Router::note_problem(const CompiledRoute& route, const KeyTemplate& key, KeyTemplate::Outcome outcome,
                          const sdk::Row& row, bool before_image, const sdk::ChangeEvent& event) {
  std::string column;
  if (outcome == KeyTemplate::Outcome::missing_header) {
    for (const auto& name : key.headers()) {
      if (std::none_of(event.headers.begin(), event.headers.end(), [&](const sdk::Header& h) { return h.name == name; })) {
        column = "header:" + name;
        break;
      }
    }
  }
  for (const auto& name : key.columns()) {
    if (!column.empty()) break;
    const sdk::Value* value = row.find(name);
    if (value == nullptr || sdk::is_null(*value) || sdk::is_unavailable(*value)) {
      column = name;
      break;
    }
  }
  Unrendered reason = Unrendered::absent;
  switch (outcome) {
    case KeyTemplate::Outcome::null_column: reason = Unrendered::null; break;
    case KeyTemplate::Outcome::unavailable_column: reason = Unrendered::unavailable; break;
    case KeyTemplate::Outcome::missing_header: reason = Unrendered::missing_header; break;
    default:
      // Absent from the old row but present in the new one: the old row was logged in part.
      if (before_image && (!event.after || event.after->find(column) != nullptr)) {
        reason = Unrendered::not_in_before_image;
      }
      break;
  }
  auto& counters = *counters_[route.index];
  counters.unrendered.fetch_add(1, std::memory_order_relaxed);
  counters.unrendered_by_reason[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (!first_report(std::to_string(route.index) + "/" + key.text() + "/" + column + "/" + std::string(to_string(reason)))) {
    return;
  }
  new_problems_.push_back(RenderProblem{route.index, key.text(), column, reason, event.table.qualified_name()});
}

bool Router::first_report(std::string marker) {
  std::lock_guard guard(reported_->mutex);
  auto& markers = reported_->markers;
  if (std::find(markers.begin(), markers.end(), marker) != markers.end()) return false;
  markers.push_back(std::move(marker));
  return true;
}

std::string Router::ChangedColumnProblem::describe() const {
  return "route " + std::to_string(route) + " (" + table + "): `changed` names column '" + column +
         "', which is in neither the row nor the row before: probably a misspelling (the route passes updates only "
         "when another of its `changed` columns changes)";
}

void Router::report_changed_column(const CompiledRoute& route, const std::string& column, const sdk::ChangeEvent& event) {
  if (first_report("changed/" + std::to_string(route.index) + "/" + column)) {
    new_changed_problems_.push_back(ChangedColumnProblem{route.index, column, event.table.qualified_name()});
  }
}

std::vector<Router::ChangedColumnProblem> Router::take_new_changed_problems() {
  std::vector<ChangedColumnProblem> problems;
  problems.swap(new_changed_problems_);
  return problems;
}

std::vector<std::string> Router::used_columns() const {
  std::vector<std::string> columns;
  auto add = [&](const std::string& name) {
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
  };
  for (const auto& route : routes_) {
    for (const auto& key : route.keys) {
      for (const auto& name : key.columns()) add(name);
    }
    if (route.value) {
      for (const auto& name : route.value->columns()) add(name);
    }
    for (const auto& name : route.changed) add(name);
  }
  return columns;
}

std::vector<std::string> Router::explain(std::size_t source, const sdk::ChangeEvent& event) const {
  std::vector<std::string> verdicts;
  for (const auto& route : routes_) {
    std::string verdict;
    if (source >= route.from.size() || !route.from[source]) {
      verdict = "listens to other sources";
    } else if (std::find(route.ops.begin(), route.ops.end(), event.op) == route.ops.end()) {
      verdict = "op '" + std::string(sdk::to_string(event.op)) + "' is not in its ops";
    } else if (!table_matches(route, event.table)) {
      verdict = "table '" + event.table.qualified_name() + "' does not match '" + route.table_pattern + "'";
    } else if (!changed_passes(route, event, nullptr)) {
      verdict = "none of its `changed` columns changed";
    } else {
      verdict = "matched";
    }
    verdicts.push_back("route " + std::to_string(route.index) + ": " + verdict);
  }
  return verdicts;
}

std::vector<Router::RenderProblem> Router::take_new_problems() {
  std::vector<RenderProblem> problems;
  problems.swap(new_problems_);
  return problems;
}

std::size_t Router::route(std::size_t source, const sdk::ChangeEvent& event, std::vector<RoutedInvalidation>& out) {
  std::size_t produced = 0;
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    auto& route = routes_[r];
    if (source >= route.from.size() || !route.from[source]) continue;
    if (std::find(route.ops.begin(), route.ops.end(), event.op) == route.ops.end()) continue;
    if (!table_matches(route, event.table)) continue;
    auto& counters = *counters_[r];
    absent_changed_.clear();
    const bool passes = changed_passes(route, event, &absent_changed_);
    for (const std::string* column : absent_changed_) report_changed_column(route, *column, event);
    if (!passes) {
      counters.unchanged.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    counters.matched.fetch_add(1, std::memory_order_relaxed);

    rendered_.clear();
    const sdk::InvalidationOrigin* origin = origin_for(r, source, event);
    if (event.op == sdk::Op::truncate) {
      for (const auto& pattern : route.on_truncate) rendered_.push_back(pattern);
      for (std::size_t sink : route.to) {
        for (const auto& pattern : rendered_) {
          out.push_back(RoutedInvalidation{sink, route.index,
                                           sdk::Invalidation{.action = sdk::Action::delete_pattern,
                                                             .key = pattern,
                                                             .value = std::nullopt,
                                                             .version = event.version,
                                                             .ttl = std::chrono::milliseconds{0},
                                                             .commit_time = event.commit_time,
                                                             .origin = origin},
                                           std::chrono::milliseconds{0}});
          ++produced;
        }
      }
      continue;
    }

    // Render against the new and the old image: a changed key column stales both keys.
    // Without a before image the record key stands in for it.
    const sdk::Row* old_image = nullptr;
    if (event.before) old_image = &*event.before;
    else if (!event.key.empty() && event.op != sdk::Op::insert) old_image = &event.key;
    const sdk::Row* new_image = event.after ? &*event.after : nullptr;
    std::size_t new_key_count = 0;  // rendered_[0, new_key_count) come from the new image
    auto render_image = [&](const sdk::Row* image) {
      if (image == nullptr) return;
      for (const auto& key : route.keys) {
        // Mostly an update leaves a key's columns as they were: against the old image the
        // key renders as it did against the new one (rendered, or counted as not).
        if (image == old_image && new_image != nullptr && key.renders_alike(*new_image, *old_image)) continue;
        auto outcome = key.render(*image, scratch_, event.headers);
        if (outcome != KeyTemplate::Outcome::rendered) {
          // The record key standing in for a missing before image knows only key columns: a
          // key built from another column cannot be rendered for the old row, which is
          // counted and reported (the fix is REPLICA IDENTITY FULL), never passed over.
          note_problem(route, key, outcome, *image, image == old_image, event);
          continue;
        }
        if (std::find(rendered_.begin(), rendered_.end(), scratch_) == rendered_.end()) {
          rendered_.push_back(scratch_);
        }
      }
    };
    render_image(new_image);
    new_key_count = rendered_.size();
    render_image(old_image);

    std::optional<std::string> value;
    sdk::Action action = route.action;
    if (action == sdk::Action::set_value) {
      // A deleted row has no value to write, and a partial value is never written.
      if (event.op == sdk::Op::remove || new_image == nullptr ||
          route.value->render(*new_image, scratch_, event.headers) != KeyTemplate::Outcome::rendered) {
        action = sdk::Action::delete_key;
      } else {
        value = scratch_;
      }
    }
    for (std::size_t t = 0; t < route.to.size(); ++t) {
      std::size_t sink = route.to[t];
      const bool last_sink = t + 1 == route.to.size();
      for (std::size_t k = 0; k < rendered_.size(); ++k) {
        // A key only the old row had is gone, whatever the route writes to the new one.
        bool old_only = k >= new_key_count && action == sdk::Action::set_value;
        sdk::Action item_action = old_only ? sdk::Action::delete_key : action;
        out.push_back(RoutedInvalidation{
            sink, route.index,
            sdk::Invalidation{.action = item_action,
                              .key = last_sink ? std::move(rendered_[k]) : rendered_[k],
                              .value = old_only ? std::nullopt : value,
                              .version = event.version,
                              .ttl = route.ttl,
                              .commit_time = event.commit_time,
                              .origin = origin},
            item_action == sdk::Action::delete_key ? route.redelete_after : std::chrono::milliseconds{0}});
        ++produced;
      }
    }
  }
  return produced;
}

Router::Outline Router::outline(std::size_t route) const {
  const CompiledRoute& compiled = routes_.at(route);
  Outline out{compiled.table_pattern, {}, compiled.to, compiled.action};
  for (std::size_t source = 0; source < compiled.from.size(); ++source) {
    if (compiled.from[source]) out.from.push_back(source);
  }
  return out;
}

}  // namespace invalidator::route
