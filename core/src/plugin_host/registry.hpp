#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline_config.hpp"
#include "invalidator/sdk/plugin.hpp"

namespace boost::dll {
class shared_library;
}

namespace invalidator::plugin_host {

struct PluginEntry {
  const sdk::PluginDescriptor* descriptor = nullptr;
  std::string origin;  // the library file, or "built-in"
  std::shared_ptr<boost::dll::shared_library> library;  // null for built-in plugins
};

// A plugin file that was not accepted, and why, in words an operator can act on.
struct Refusal {
  std::string file;
  std::string plugin_name;  // when the descriptor could be read
  sdk::PluginKind kind = sdk::PluginKind::sink;
  std::string message;
};

// The plugins known to this process: registered in-process, or loaded from libraries.
// A loaded library stays mapped until the process ends, so instances may outlive the registry.
class Registry final : public config::PluginCatalog {
 public:
  Registry();
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a plugin linked into this binary.
  sdk::Status add(const sdk::PluginDescriptor& descriptor);
  // Loads one library; a refusal is recorded and returned as an error.
  sdk::Status load_file(const std::filesystem::path& file);
  // Loads every *.so in a directory; returns how many new plugins were accepted.
  std::size_t load_directory(const std::filesystem::path& directory);
  // engine.plugin_path, then $INVALIDATOR_PLUGIN_PATH, then the install and build directories.
  void load_search_path(const std::vector<std::string>& plugin_path);

  const PluginEntry* entry(sdk::PluginKind kind, std::string_view name) const;
  std::vector<const PluginEntry*> entries() const;
  const std::vector<Refusal>& refusals() const { return refusals_; }

  // config::PluginCatalog
  const sdk::PluginDescriptor* find(sdk::PluginKind kind, std::string_view name) const override;
  std::vector<std::string> names(sdk::PluginKind kind) const override;
  std::string refusal(sdk::PluginKind kind, std::string_view name) const override;

  // The plugin's own instances, unwrapped.
  sdk::Result<std::unique_ptr<sdk::Source>> create_source(std::string_view type, const sdk::Config& config,
                                                          const sdk::PluginContext& context) const;
  sdk::Result<std::unique_ptr<sdk::Sink>> create_sink(std::string_view type, const sdk::Config& config,
                                                      const sdk::PluginContext& context) const;

  // The directories searched by load_search_path, in order, after the configured ones.
  static std::vector<std::filesystem::path> default_directories();

 private:
  sdk::Status accept(const sdk::PluginDescriptor& descriptor, std::string origin,
                     std::shared_ptr<boost::dll::shared_library> library);
  sdk::Status refuse(Refusal refusal);

  std::map<std::pair<sdk::PluginKind, std::string>, PluginEntry, std::less<>> plugins_;
  std::vector<Refusal> refusals_;
  std::vector<std::filesystem::path> loaded_files_;
};

// Checks a descriptor's ABI and toolchain against this host. Empty string: compatible.
std::string check_compatibility(const sdk::PluginDescriptor& descriptor);

}  // namespace invalidator::plugin_host
