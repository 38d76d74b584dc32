// Runs Invalidator's sink conformance suite against the file cache.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"
#include "key_file_name.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(filecache);

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
    return std::move(invalidator_static_plugin_filecache().create_sink(config, sdk::PluginContext{}).value());
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
  bool supports(sdk::Action) override { return true; }
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
