#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "plugin_host/registry.hpp"

namespace invalidator {

// A configuration read, with its plugins found and every table checked against its spec.
struct LoadedConfiguration {
  std::unique_ptr<plugin_host::Registry> registry;
  config::PipelineConfig pipeline;
  config::Diagnostics diagnostics;  // empty: valid
};

struct LoadOptions {
  std::vector<const sdk::PluginDescriptor*> builtin_plugins;
  bool load_plugin_files = true;
  std::vector<std::string> extra_sources;
  std::vector<std::string> extra_sinks;
};

// Parses `root` (already read from `file`), finds plugins and validates. Does not connect.
LoadedConfiguration load_configuration(const toml::table& root, const std::string& file, const LoadOptions& options);

// Reads and validates a TOML file; syntax errors come back as diagnostics.
LoadedConfiguration load_configuration_file(const std::string& file, const LoadOptions& options);

}  // namespace invalidator
