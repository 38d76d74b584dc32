// Each plugin instance is given a state directory of its own under engine.state_dir.
#define INVALIDATOR_PLUGIN_STATIC
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "invalidator/engine.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "support/test_support.hpp"

namespace state_probe {

struct Options {};
std::mutex mutex;
std::filesystem::path given;

class Source final : public invalidator::sdk::Source {
 public:
  invalidator::sdk::Status run(invalidator::sdk::Emitter&, std::stop_token) override {
    return invalidator::sdk::Status::success();
  }
};

invalidator::sdk::OptionsSpec<Options> options() { return invalidator::sdk::OptionsSpec<Options>("Records its context."); }

invalidator::sdk::Result<std::unique_ptr<invalidator::sdk::Source>> create(Options, const invalidator::sdk::PluginContext& context) {
  std::lock_guard guard(mutex);
  given = context.state_directory;
  return std::unique_ptr<invalidator::sdk::Source>(std::make_unique<Source>());
}

}  // namespace state_probe

INVALIDATOR_SOURCE_PLUGIN(state_probe, "1.0.0", state_probe::options, state_probe::create)

namespace invalidator {
namespace {

using invalidator::testing::TempDir;
using invalidator::testing::write_file;

std::filesystem::path state_directory_for(const std::string& config_text, const std::filesystem::path& file) {
  write_file(file, config_text + "[sources.orders]\ntype = \"state_probe\"\n[sinks.cache]\ntype = \"memory\"\n");
  auto engine = EngineBuilder().register_plugin(invalidator_static_plugin_state_probe()).config_file(file).build();
  EXPECT_TRUE(engine) << engine.error();
  std::lock_guard guard(state_probe::mutex);
  return state_probe::given;
}

TEST(StateDirectory, EachInstanceHasItsOwnBesideTheConfigurationByDefault) {
  TempDir dir;
  EXPECT_EQ(state_directory_for("", dir / "pipeline.toml"), dir / "invalidator-state" / "sources" / "orders");
  EXPECT_FALSE(std::filesystem::exists(dir / "invalidator-state")) << "created only when a plugin writes state";
}

TEST(StateDirectory, AnAbsoluteStateDirIsTakenAsItIs) {
  TempDir dir;
  EXPECT_EQ(state_directory_for("[engine]\nstate_dir = \"" + (dir / "state").string() + "\"\n", dir / "p.toml"),
            dir / "state" / "sources" / "orders");
}

}  // namespace
}  // namespace invalidator
