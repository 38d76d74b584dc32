#pragma once

// The plugins an installation has, with their declarations: `invalidator plugins`.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "invalidator/configuration.hpp"
#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator {

struct PluginInfo {
  std::string name;  // the `type` in configuration
  sdk::PluginKind kind = sdk::PluginKind::sink;
  std::string version;
  std::uint32_t abi_major = 0;
  std::uint32_t abi_minor = 0;
  std::string origin;  // the library file, or "built-in"
  sdk::ConfigSpec options;
};

class PluginCatalog {
 public:
  // The plugins of `directories`, then $INVALIDATOR_PLUGIN_PATH, the install and build
  // directories.
  static PluginCatalog discover(const std::vector<std::string>& directories = {});
  // As discover(), with the engine.plugin_path of a configuration file; an error lists what
  // is wrong with the file's [engine] table.
  static sdk::Result<PluginCatalog> for_configuration_file(const std::filesystem::path& file);
  // Where plugins are looked for besides engine.plugin_path.
  static std::vector<std::filesystem::path> default_directories();

  PluginCatalog(PluginCatalog&&) noexcept;
  PluginCatalog& operator=(PluginCatalog&&) noexcept;
  ~PluginCatalog();

  const std::vector<PluginInfo>& plugins() const { return plugins_; }
  const std::vector<PluginRefusal>& refusals() const { return refusals_; }
  const PluginInfo* find(std::string_view name) const;

  // A plugin's options as a Markdown table, as in its README.
  static std::string options_markdown(const sdk::ConfigSpec& options);
  // The reference of every option of the core's tables and of each plugin, as Markdown
  // (docs/configuration.md).
  std::string reference_markdown() const;

 private:
  PluginCatalog() = default;
  struct Libraries;
  std::shared_ptr<Libraries> libraries_;  // keeps the plugins' code loaded while their specs are held
  std::vector<PluginInfo> plugins_;
  std::vector<PluginRefusal> refusals_;
};

}  // namespace invalidator
