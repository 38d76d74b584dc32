#include <gtest/gtest.h>

#include <thread>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "invalidator/sdk/testing/source_conformance.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(file);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::TempDir;

using sdk::testing::RecordingEmitter;

std::unique_ptr<sdk::Source> make_source(const std::string& path, bool follow = false) {
  sdk::Config config;
  config.set("path", path);
  config.set("topic", std::string("db.public.customers"));
  config.set("follow", follow);
  config.set("poll_interval", std::chrono::milliseconds{5});
  auto created = invalidator_static_plugin_file().create_source(config, sdk::PluginContext{"events", nullptr});
  EXPECT_TRUE(created) << created.error();
  return created ? std::move(created).value() : nullptr;
}

TEST(FileSource, EmitsOneMessagePerLineWithLineNumbersAsPositions) {
  TempDir dir;
  invalidator::testing::write_file(dir / "in.jsonl", "{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}");
  auto source = make_source((dir / "in.jsonl").string());
  RecordingEmitter emitter;
  ASSERT_TRUE(source->run(emitter, std::stop_token{}));
  auto messages = emitter.emitted();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].value, "{\"a\":1}");
  EXPECT_EQ(messages[1].value, "{\"b\":2}");
  EXPECT_EQ(messages[1].position.offset, 3u) << "blank lines keep their numbers";
  EXPECT_EQ(messages[2].position.offset, 4u);
}

TEST(FileSource, ALineLongerThanMaxLineBytesStopsTheSourceNamingTheLine) {
  TempDir dir;
  invalidator::testing::write_file(dir / "in.jsonl", "{\"a\":1}\n" + std::string(300'000, 'x') + "\n{\"b\":2}\n");
  sdk::Config config;
  config.set("path", (dir / "in.jsonl").string());
  config.set("max_line_bytes", std::int64_t{100'000});
  auto created = invalidator_static_plugin_file().create_source(config, sdk::PluginContext{});
  ASSERT_TRUE(created) << created.error();
  RecordingEmitter emitter;
  auto status = (*created)->run(emitter, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("line 2 of " + (dir / "in.jsonl").string() +
                                  " is longer than max_line_bytes (100000 bytes)"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(emitter.emitted().size(), 1u) << "the line before it, and nothing cut short";
}

TEST(FileSource, AMissingFileIsAnErrorAtCreation) {
  sdk::Config config;
  config.set("path", std::string("/nonexistent/events.jsonl"));
  auto created = invalidator_static_plugin_file().create_source(config, sdk::PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("cannot open /nonexistent/events.jsonl"), std::string::npos);
}

TEST(FileSource, FollowReadsAppendedLinesUntilStopped) {
  TempDir dir;
  auto path = dir / "in.jsonl";
  invalidator::testing::write_file(path, "{\"a\":1}\n");
  auto source = make_source(path.string(), true);
  RecordingEmitter emitter;
  std::stop_source stop;
  std::thread runner([&] { EXPECT_TRUE(source->run(emitter, stop.get_token())); });
  ASSERT_TRUE(emitter.wait_for(1, 10s));
  {
    std::ofstream out(path, std::ios::app);
    out << "{\"b\":2}\n";
  }
  const bool followed = emitter.wait_for(2, 10s);
  stop.request_stop();
  runner.join();
  ASSERT_TRUE(followed);
  EXPECT_EQ(emitter.emitted()[1].value, "{\"b\":2}");
}

// The SDK's source conformance suite over a followed file with a checkpoint.
class FileHarness final : public sdk::testing::SourceHarness {
 public:
  FileHarness() { invalidator::testing::write_file(dir_ / "in.jsonl", ""); }
  std::unique_ptr<sdk::Source> make_source() override {
    sdk::Config config;
    config.set("path", (dir_ / "in.jsonl").string());
    config.set("follow", true);
    config.set("poll_interval", std::chrono::milliseconds{5});
    config.set("checkpoint", (dir_ / "in.checkpoint").string());
    auto created = invalidator_static_plugin_file().create_source(config, sdk::PluginContext{"events", nullptr});
    EXPECT_TRUE(created) << created.error();
    return created ? std::move(created).value() : nullptr;
  }
  void produce(const std::vector<std::string>& values) override {
    std::ofstream out(dir_ / "in.jsonl", std::ios::app);
    for (const auto& value : values) out << value << "\n";
  }
  std::chrono::milliseconds patience() override { return 20s; }

 private:
  TempDir dir_;
};

}  // namespace

using sdk::testing::SourceConformance;
INSTANTIATE_TEST_SUITE_P(File, SourceConformance,
                         ::testing::Values(sdk::testing::SourceConformanceParam{
                             "file", [] { return std::make_unique<FileHarness>(); }}),
                         sdk::testing::source_conformance_name);

}  // namespace invalidator::plugins
