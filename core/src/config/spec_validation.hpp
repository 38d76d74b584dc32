#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/diagnostics.hpp"
#include "invalidator/sdk/config_spec.hpp"

namespace invalidator::config {

Location location_of(const toml::node& node, const std::string& file);

// Checks `table` against `spec`: unknown keys (with "did you mean"), missing required options,
// wrong types, bad durations and sizes, values out of range. Every problem is added to `out`;
// what is valid lands in the returned Config with defaults filled in. Keys listed in
// `reserved` belong to the caller and are skipped.
sdk::Config validate_table(const toml::table& table, const sdk::ConfigSpec& spec,
                           const std::string& path, const std::string& file, Diagnostics& out,
                           const std::vector<std::string>& reserved = {});

// What is wrong with a declaration itself: a default that is not a valid value of its option
// (wrong type, out of bounds, not among its choices), a required option with a default, a
// name declared twice. Empty: nothing.
std::vector<std::string> declaration_problems(const sdk::ConfigSpec& spec);

// Checks one value against one option (type, range, choices), with ${VAR} expanded.
std::optional<sdk::ConfigValue> check_option(const toml::node& node, const sdk::OptionSpec& option,
                                             const std::string& path, const std::string& file, Diagnostics& out);

// A string value with ${VAR} expanded, or nullopt with a diagnostic.
std::optional<std::string> expanded_string(const toml::node& node, const std::string& path,
                                           const std::string& file, Diagnostics& out);

}  // namespace invalidator::config
