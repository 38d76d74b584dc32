#include <gtest/gtest.h>

#include <filesystem>

#include "config/spec_markdown.hpp"
#include "plugin_host/registry.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

namespace fs = std::filesystem;

// Each plugin's README carries its options table between two markers; it must be exactly
// what the plugin's spec generates. Fix a failure with:
//   invalidator plugins --options NAME   (and paste the table between the markers)
TEST(PluginReadmes, OptionTablesMatchTheSpecs) {
  plugin_host::Registry registry;
  registry.load_directory(INVALIDATOR_BUILD_PLUGIN_DIR);
  ASSERT_FALSE(registry.entries().empty());
  for (const auto* entry : registry.entries()) {
    const auto* descriptor = entry->descriptor;
    std::string folder = std::string(sdk::to_string(descriptor->kind)) + "_" + descriptor->name;
    fs::path readme = fs::path(INVALIDATOR_SOURCE_DIR) / "plugins" / folder / "README.md";
    ASSERT_TRUE(fs::exists(readme)) << readme << " is missing";
    std::string text = invalidator::testing::read_file(readme);
    auto begin = text.find(config::kOptionsBegin);
    auto end = text.find(config::kOptionsEnd);
    ASSERT_NE(begin, std::string::npos) << readme << " has no options:begin marker";
    ASSERT_NE(end, std::string::npos) << readme << " has no options:end marker";
    begin += std::string(config::kOptionsBegin).size() + 1;  // and the newline
    std::string documented = text.substr(begin, end - begin);
    EXPECT_EQ(documented, config::options_table(descriptor->spec()))
        << readme << " is stale: run `invalidator plugins --options " << descriptor->name
        << "` and replace the table between the markers (or scripts/update-plugin-docs)";
  }
}

}  // namespace
}  // namespace invalidator
