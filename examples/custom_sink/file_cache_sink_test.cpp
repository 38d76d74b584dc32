// Runs Invalidator's sink conformance suite against the file cache.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(filecache);

namespace filecache {
std::string file_name(std::string_view key);  // the sink's own, from its library
}

namespace {

namespace fs = std::filesystem;
namespace sdk = invalidator::sdk;
namespace conformance = invalidator::sdk::testing;
using invalidator::sdk::testing::SinkConformance;

using filecache::file_name;

class FileCacheHarness final : public conformance::SinkHarness {
 public:
  FileCacheHarness() {
    std::string pattern = (fs::temp_directory_path() / "filecache-XXXXXX").string();
    directory_ = ::mkdtemp(pattern.data());
  }
  ~FileCacheHarness() override { fs::remove_all(directory_); }

  std::unique_ptr<sdk::Sink> make_sink() override {
    sdk::Config config;
    config.set("directory", directory_.string());
    auto created = invalidator_static_plugin_filecache().create_sink(config, sdk::PluginContext{});
    return created ? std::move(created).value() : nullptr;
  }
  void put(const std::string& key, const std::string& value) override {
    std::ofstream(directory_ / file_name(key)) << value;
  }
  std::optional<std::string> read(const std::string& key) override {
    std::ifstream in(directory_ / file_name(key));
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  bool supports(sdk::Action action) override { return action != sdk::Action::delete_pattern; }
  // The directory disappearing (an unmounted volume) is the outage.
  bool begin_outage() override {
    fs::rename(directory_, fs::path(directory_.string() + ".away"));
    return true;
  }
  void end_outage() override { fs::rename(fs::path(directory_.string() + ".away"), directory_); }

 private:
  fs::path directory_;
};

INSTANTIATE_TEST_SUITE_P(FileCache, SinkConformance,
                         ::testing::Values(conformance::SinkConformanceParam{
                             "filecache", [] { return std::make_unique<FileCacheHarness>(); }}),
                         conformance::conformance_name);

}  // namespace
