// A configuration file's text, validated as `invalidator validate` does, with the file and
// memory plugins built in: diagnostics or a configuration, never a crash. Nothing is opened.

#include <cstdint>
#include <string>

#include "config/pipeline_config.hpp"
#include "engine_setup.hpp"
#include "invalidator/sdk/plugin.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(file);
INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace invalidator;
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::Diagnostics syntax;
  auto root = config::parse_toml(text, "fuzz.toml", syntax);
  if (!root) return 0;
  LoadOptions options;
  options.builtin_plugins = {&invalidator_static_plugin_file(), &invalidator_static_plugin_memory()};
  options.load_plugin_files = false;
  auto loaded = load_configuration(*root, "fuzz.toml", options);
  (void)loaded.diagnostics.to_string();
  return 0;
}
