#pragma once

// What /readyz and /status answer, from an engine's stats: readiness with the components that
// are not ready and why, and the JSON the status page polls.

#include <chrono>
#include <string>
#include <vector>

#include "admin/admin_server.hpp"
#include "admin/recent_errors.hpp"
#include "invalidator/engine.hpp"

namespace invalidator::admin {

// 200 {"status":"ready"} when every source is connected (or finished) and every sink's last
// delivery was answered; else 503 with {"status":"not ready","not_ready":[{component, id,
// reason}]}.
HttpAnswer readiness(const EngineStats& stats);

struct StatusContext {
  std::string_view version;
  std::chrono::system_clock::time_point now;
  std::chrono::steady_clock::duration uptime;
  std::vector<RecentErrors::Entry> errors;
};

// The status page's data: the pipeline as sources, routes and sinks with their counters, the
// totals, and the last warnings and errors. The page works out rates from two polls.
std::string status_json(const EngineStats& stats, const StatusContext& context);

}  // namespace invalidator::admin
