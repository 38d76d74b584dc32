#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/sink_conformance.hpp"
#include "memory_sink.hpp"
#include "plugin_host/registry.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugins {
namespace {

using sdk::testing::SinkConformance;
using sdk::testing::SinkConformanceParam;
using sdk::testing::SinkHarness;

// The conformance suite against a memory sink created by `create`; the cache under test is
// the sink's own, reached through Sink::cache().
class MemoryHarness final : public SinkHarness {
 public:
  using Create = std::function<std::unique_ptr<sdk::Sink>()>;
  explicit MemoryHarness(Create create) : create_(std::move(create)) {}
  std::unique_ptr<sdk::Sink> make_sink() override {
    auto sink = create_();
    cache_ = sink->cache();
    return sink;
  }
  void put(const std::string& key, const std::string& value) override { cache_->put(key, value); }
  std::optional<std::string> read(const std::string& key) override { return cache_->get(key); }
  bool supports(sdk::Action) override { return true; }

 private:
  Create create_;
  sdk::Cache* cache_ = nullptr;
};

sdk::Config unlimited() {
  sdk::Config config;
  config.set("max_entries", std::int64_t{0});
  return config;
}

// The static path: the plugin compiled into this test and registered in-process.
std::unique_ptr<sdk::Sink> create_static() {
  return std::move(invalidator_static_plugin_memory().create_sink(unlimited(), sdk::PluginContext{}).value());
}

// The dynamic path: the same source built as a library and loaded through the plugin host.
std::unique_ptr<sdk::Sink> create_loaded() {
  static plugin_host::Registry registry;
  if (!registry.find(sdk::PluginKind::sink, "memory")) {
    auto loaded = registry.load_file(std::string(INVALIDATOR_BUILD_PLUGIN_DIR) + "/libinvalidator_sink_memory.so");
    EXPECT_TRUE(loaded) << loaded.message();
  }
  return std::move(registry.create_sink("memory", unlimited(), sdk::PluginContext{}).value());
}

INSTANTIATE_TEST_SUITE_P(Memory, SinkConformance,
                         ::testing::Values(SinkConformanceParam{"static", [] { return std::make_unique<MemoryHarness>(create_static); }},
                                           SinkConformanceParam{"loaded", [] { return std::make_unique<MemoryHarness>(create_loaded); }}),
                         sdk::testing::conformance_name);

TEST(MemorySink, AppliesEveryAction) {
  MemorySink sink(MemorySink::default_limits());
  auto* cache = sink.cache();
  cache->put("customer:1", "a");
  cache->put("customer:2", "b");
  cache->put("order:1", "c");
  cache->put("ttl", "d");
  std::vector<sdk::Invalidation> batch{
      {sdk::Action::set_value, "fresh", std::string("v"), 5, std::chrono::milliseconds{0}},
      {sdk::Action::delete_pattern, "customer:*", std::nullopt, 6, std::chrono::milliseconds{0}},
      {sdk::Action::expire, "ttl", std::nullopt, 7, std::chrono::milliseconds{1}},
  };
  ASSERT_TRUE(sink.deliver(batch, {}).is_ok());
  EXPECT_EQ(cache->get("fresh"), "v");
  EXPECT_EQ(cache->get("customer:1"), std::nullopt);
  EXPECT_EQ(cache->get("customer:2"), std::nullopt);
  EXPECT_EQ(cache->get("order:1"), "c");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(cache->get("ttl"), std::nullopt);
}

TEST(MemorySink, AnOlderSetDoesNotOverwriteANewerOne) {
  MemorySink sink(MemorySink::default_limits());
  std::vector<sdk::Invalidation> newer{{sdk::Action::set_value, "k", std::string("new"), 10, {}}};
  std::vector<sdk::Invalidation> older{{sdk::Action::set_value, "k", std::string("old"), 9, {}}};
  ASSERT_TRUE(sink.deliver(newer, {}).is_ok());
  ASSERT_TRUE(sink.deliver(older, {}).is_ok());
  EXPECT_EQ(sink.cache()->get("k"), "new");
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(MemorySink, TheJournalKeepsEveryAppliedInvalidationBeyondTheSink) {
  const auto directory = std::filesystem::temp_directory_path() / ("memory-journal-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  sdk::Config config;
  config.set("journal", std::string("audit/invalidations.log"));
  sdk::PluginContext context;
  context.state_directory = directory;
  std::vector<sdk::Invalidation> first{{sdk::Action::delete_key, "customer:1", std::nullopt, 1, {}},
                                       {sdk::Action::set_value, "customer:2", std::string("v"), 2, {}}};
  std::vector<sdk::Invalidation> second{{sdk::Action::delete_pattern, "order:*", std::nullopt, 3, {}}};
  {
    auto sink = std::move(invalidator_static_plugin_memory().create_sink(config, context).value());
    ASSERT_TRUE(sink->start());
    ASSERT_TRUE(sink->deliver(first, {}).is_ok());
  }
  {  // a sink made again appends; it does not start the file over
    auto sink = std::move(invalidator_static_plugin_memory().create_sink(config, context).value());
    ASSERT_TRUE(sink->start());
    ASSERT_TRUE(sink->deliver(second, {}).is_ok());
  }
  EXPECT_EQ(read_file(directory / "audit/invalidations.log"),
            "delete customer:1\nset customer:2\ndelete_pattern order:*\n");
  std::filesystem::remove_all(directory);
}

TEST(MemorySink, AJournalThatCannotBeWrittenHoldsTheBatchForARetry) {
  // /dev/full takes the open and refuses every write with ENOSPC, as a full disk does.
  sdk::Config config;
  config.set("journal", std::string("/dev/full"));
  auto sink = std::move(invalidator_static_plugin_memory().create_sink(config, sdk::PluginContext{}).value());
  ASSERT_TRUE(sink->start());
  std::vector<sdk::Invalidation> batch{{sdk::Action::delete_key, "customer:1", std::nullopt, 1, {}}};
  const auto result = sink->deliver(batch, {});
  EXPECT_EQ(result.kind(), sdk::DeliveryResult::Kind::retry);
  EXPECT_NE(result.reason().find("/dev/full"), std::string::npos) << result.reason();
}

TEST(MemorySink, AJournalThatCannotBeOpenedRefusesTheSinkAndSaysWhy) {
  sdk::Config config;
  config.set("journal", std::string("/proc/no-such-directory/invalidations.log"));
  auto created = invalidator_static_plugin_memory().create_sink(config, sdk::PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("cannot open the journal /proc/no-such-directory/invalidations.log"), std::string::npos)
      << created.error();
}

}  // namespace
}  // namespace invalidator::plugins
