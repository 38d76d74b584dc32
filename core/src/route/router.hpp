#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "invalidator/sdk/result.hpp"
#include "route/route_spec.hpp"
#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"
#include "route/key_template.hpp"

namespace invalidator::route {

// One invalidation bound for one sink.
struct RoutedInvalidation {
  std::size_t sink = 0;   // index into the pipeline's sinks
  std::size_t route = 0;  // index into [[routes]]
  sdk::Invalidation invalidation;
  std::chrono::milliseconds redelete_after{0};  // deliver this delete again after that long
};

// Why a key template rendered no key, so that a cache entry may stay stale.
enum class Unrendered : std::uint8_t {
  absent,               // the column is in neither the row nor the table (a misspelling?)
  null,                 // the column is null in the row
  unavailable,          // an unchanged TOASTed value Debezium left out
  not_in_before_image,  // the row before the change lacks it (PostgreSQL REPLICA IDENTITY DEFAULT)
  missing_header,       // {header:NAME} and the message has no such header
};
inline constexpr std::size_t kUnrenderedReasons = 5;
std::string_view to_string(Unrendered reason);

struct RouteCounters {
  std::atomic<std::uint64_t> matched{0};
  std::atomic<std::uint64_t> unchanged{0};  // updates filtered out by `changed`
  std::atomic<std::uint64_t> unrendered{0};  // keys not rendered, whatever the reason
  std::array<std::atomic<std::uint64_t>, kUnrenderedReasons> unrendered_by_reason{};  // by Unrendered
};

// Matches events against [[routes]] and renders their keys. Routes are compiled once.
// A copy shares the counters and the problems already reported with the original: each
// decoding thread routes with its own copy.
class Router {
 public:
  // `source_ids` and `sink_ids` give the indices routes refer to.
  static sdk::Result<Router> build(const std::vector<RouteSpec>& routes,
                                   const std::vector<std::string>& source_ids,
                                   const std::vector<std::string>& sink_ids);

  // Appends the invalidations `event` from source `source` causes; returns how many.
  std::size_t route(std::size_t source, const sdk::ChangeEvent& event, std::vector<RoutedInvalidation>& out);

  std::size_t route_count() const { return routes_.size(); }
  // Every column a route reads: key and value templates, `changed` lists.
  std::vector<std::string> used_columns() const;

  // Why each route does or does not take `event`, in words: "matched", or the first
  // reason it was passed over. For `invalidator explain`.
  std::vector<std::string> explain(std::size_t source, const sdk::ChangeEvent& event) const;
  const RouteCounters& counters(std::size_t route) const { return *counters_[route]; }

  // What a route joins, for the status page's graph.
  struct Outline {
    std::string table;              // as written: exact or a glob
    std::vector<std::size_t> from;  // source indices
    std::vector<std::size_t> to;    // sink indices
    sdk::Action action = sdk::Action::delete_key;
  };
  Outline outline(std::size_t route) const;

  // Event templates a route could not render, reported once per route, template, column
  // and reason.
  struct RenderProblem {
    std::size_t route;
    std::string template_text;
    std::string column;
    Unrendered reason;
    std::string table;  // "public.customers"
    // In words, with what to do about it: "route 0: key template ... rendered no key ...".
    std::string describe() const;
  };
  // Problems seen since the last call, each reported once for the life of the router.
  std::vector<RenderProblem> take_new_problems();

  // A `changed` column in neither image of an update: not a column of the table, most likely
  // a misspelling, and the route then never sees it change.
  struct ChangedColumnProblem {
    std::size_t route;
    std::string column;
    std::string table;
    std::string describe() const;
  };
  // As take_new_problems(), for `changed` columns.
  std::vector<ChangedColumnProblem> take_new_changed_problems();

 private:
  struct CompiledRoute {
    std::size_t index = 0;
    std::vector<bool> from;  // by source index
    std::string table_pattern;
    bool table_is_glob = false;
    std::vector<sdk::Op> ops;
    std::vector<std::string> changed;
    std::vector<KeyTemplate> keys;
    std::vector<std::size_t> to;
    sdk::Action action = sdk::Action::delete_key;
    std::optional<KeyTemplate> value;
    std::chrono::milliseconds ttl{0};
    std::chrono::milliseconds redelete_after{0};
    std::vector<std::string> on_truncate;
  };

  bool table_matches(const CompiledRoute& route, const sdk::TableId& table) const;
  // Whether an update changed a `changed` column; `absent`, when given, gets the `changed`
  // columns it looked up that neither image has.
  static bool changed_passes(const CompiledRoute& route, const sdk::ChangeEvent& event,
                             std::vector<const std::string*>* absent);
  // Counts a key not rendered, and keeps it to be reported if it is the first of its kind.
  void note_problem(const CompiledRoute& route, const KeyTemplate& key, KeyTemplate::Outcome outcome,
                    const sdk::Row& row, bool before_image, const sdk::ChangeEvent& event);

  // Table names the invalidations' contexts point at. A copy starts empty: each decoding
  // thread interns into its own, which lives as long as that thread's router.
  class TableNames {
   public:
    TableNames() = default;
    TableNames(const TableNames&) {}
    TableNames& operator=(const TableNames&) = delete;
    std::string_view intern(const sdk::TableId& table);

   private:
    std::unordered_set<std::string> names_;  // nodes: views stay valid as it grows
    sdk::TableId last_id_;
    std::string_view last_;
  };
  // The origin every invalidation of `route` for `event` from `source` points at.
  const sdk::InvalidationOrigin* origin_for(std::size_t route_position, std::size_t source, const sdk::ChangeEvent& event);

  std::vector<CompiledRoute> routes_;
  std::vector<std::shared_ptr<RouteCounters>> counters_;
  // Shared by copies, never changed after build(): what contexts name sources and routes by.
  std::shared_ptr<const std::vector<std::string>> source_ids_;
  std::shared_ptr<const std::vector<std::string>> route_labels_;
  TableNames tables_;
  // Per route, the origins made so far. A route naming one table has one per op; a glob
  // route one per table and op it matched. A copy starts empty, as its table names do.
  struct RouteOrigins {
    std::array<std::unique_ptr<sdk::InvalidationOrigin>, 5> by_op;  // exact table: by sdk::Op
    std::vector<std::unique_ptr<sdk::InvalidationOrigin>> matched;   // glob
  };
  struct Origins {
    Origins() = default;
    Origins(const Origins&) {}
    Origins& operator=(const Origins&) = delete;
    std::vector<RouteOrigins> by_route;
  };
  Origins origins_;
  struct Reported {
    std::mutex mutex;
    std::vector<std::string> markers;  // "route/template/column" already reported
  };
  std::shared_ptr<Reported> reported_ = std::make_shared<Reported>();
  std::vector<RenderProblem> new_problems_;
  std::vector<ChangedColumnProblem> new_changed_problems_;
  std::vector<const std::string*> absent_changed_;  // scratch of route()
  // Reports, once, a `changed` column of `route` that neither image of an update has.
  void report_changed_column(const CompiledRoute& route, const std::string& column, const sdk::ChangeEvent& event);
  // Whether `marker` is reported for the first time (by this router or a copy).
  bool first_report(std::string marker);
  std::string scratch_;
  std::vector<std::string> rendered_;
};

}  // namespace invalidator::route
