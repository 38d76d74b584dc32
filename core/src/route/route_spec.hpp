#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "config/diagnostics.hpp"
#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/invalidation.hpp"

namespace invalidator::route {

// One [[routes]] entry, checked: what the router compiles. The configuration reader makes
// these; the router needs nothing else of the configuration.
struct RouteSpec {
  std::size_t index = 0;  // position among [[routes]]
  std::vector<std::string> from;
  std::string table;  // exact "schema.table" or a glob such as "*.customers"
  std::vector<sdk::Op> ops;
  std::vector<std::string> changed;
  std::vector<std::string> keys;
  std::vector<std::string> to;
  sdk::Action action = sdk::Action::delete_key;
  std::string value;  // template, for set
  std::chrono::milliseconds ttl{0};
  std::chrono::milliseconds redelete_after{0};
  std::vector<std::string> on_truncate;
  config::Location where;  // in the configuration file, for messages
};

}  // namespace invalidator::route
