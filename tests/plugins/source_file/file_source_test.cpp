#include <gtest/gtest.h>

#include <thread>

#include "invalidator/sdk/plugin.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(file);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::TempDir;

class CollectingEmitter final : public sdk::Emitter {
 public:
  bool emit(sdk::RawMessage message) override {
    messages.push_back(std::move(message));
    return true;
  }
  bool emit(sdk::ChangeEvent) override { return true; }
  std::vector<sdk::RawMessage> messages;
};

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
  CollectingEmitter emitter;
  ASSERT_TRUE(source->run(emitter, std::stop_token{}));
  ASSERT_EQ(emitter.messages.size(), 3u);
  EXPECT_EQ(emitter.messages[0].value, "{\"a\":1}");
  EXPECT_EQ(emitter.messages[1].value, "{\"b\":2}");
  EXPECT_EQ(emitter.messages[1].position.offset, 3u) << "blank lines keep their numbers";
  EXPECT_EQ(emitter.messages[2].position.offset, 4u);
  EXPECT_EQ(emitter.messages[0].topic, "db.public.customers");
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
  CollectingEmitter emitter;
  std::stop_source stop;
  std::thread runner([&] { EXPECT_TRUE(source->run(emitter, stop.get_token())); });
  std::this_thread::sleep_for(30ms);
  {
    std::ofstream out(path, std::ios::app);
    out << "{\"b\":2}\n";
  }
  for (int i = 0; i < 200 && emitter.messages.size() < 2; ++i) std::this_thread::sleep_for(5ms);
  stop.request_stop();
  runner.join();
  ASSERT_EQ(emitter.messages.size(), 2u);
  EXPECT_EQ(emitter.messages[1].value, "{\"b\":2}");
}

}  // namespace
}  // namespace invalidator::plugins
