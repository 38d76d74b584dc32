// What a source can hand over and how it is told what was done (sdk/source.hpp), through a
// whole engine.
#include <gtest/gtest.h>

#include <set>

#include "invalidator/engine.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using namespace invalidator::testing;

TEST(SourceContract, APositionOnlyMarkerMovesTheAcknowledgedPositionPastMessagesThatInvalidateNothing) {
  auto source = std::make_unique<MarkingSource>(std::vector<MarkingSource::Step>{
      {{0, 1}, customer_update(1, "a", "b", 1)}, {{0, 2}, std::nullopt}, {{0, 3}, std::nullopt}});
  auto* source_ptr = source.get();
  auto engine = customers_engine(std::move(source), std::make_unique<ScriptedSink>());
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::lock_guard guard(source_ptr->mutex);
  ASSERT_FALSE(source_ptr->acknowledged.empty());
  EXPECT_EQ(source_ptr->acknowledged.back(), (sdk::Position{0, 3})) << "the last marker is acknowledged";
  EXPECT_EQ(engine->stats().acknowledged, 3u);
  EXPECT_EQ(engine->stats().events, 1u) << "a marker is no event";
}

TEST(SourceContract, IndividualCompletionReportsEachMessageItKept) {
  TempDir dir;
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{sdk::DeliveryResult::retry("slow", 1ms)});
  auto source = std::make_unique<MarkingSource>(
      std::vector<MarkingSource::Step>{{{0, 1}, customer_update(1, "a", "b", 1)},
                                       {{1, 7}, "{this is not json"},
                                       {{2, 9}, std::nullopt},
                                       {{1, 8}, customer_update(2, "c", "d", 2)}},
      sdk::Completion::individual);
  auto* source_ptr = source.get();
  auto engine = build(EngineBuilder()
                          .config_string("[engine]\nstate_dir = \"" + dir.path().string() + "\"\n")
                          .add_source("source", std::move(source))
                          .add_sink("sink", std::move(sink), SinkSettings{.retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::lock_guard guard(source_ptr->mutex);
  std::set<std::pair<std::uint64_t, std::uint64_t>> completed;
  for (const auto& position : source_ptr->completed) completed.insert({position.stream, position.offset});
  // The undecodable message is kept in the dead letters, so it is complete too.
  EXPECT_EQ(completed, (std::set<std::pair<std::uint64_t, std::uint64_t>>{{0, 1}, {1, 7}, {1, 8}, {2, 9}}));
  EXPECT_EQ(source_ptr->completed.size(), 4u) << "each once";
  EXPECT_TRUE(source_ptr->rejected.empty());
  EXPECT_TRUE(source_ptr->acknowledged.empty()) << "nothing cumulative for an individual source";
  EXPECT_NE(read_file(dir / "dead-letters.jsonl").find("{this is not json"), std::string::npos);
}

TEST(SourceContract, WithoutDeadLettersAnUndecodableMessageIsRejectedAndStopsThePipeline) {
  auto source = std::make_unique<MarkingSource>(
      std::vector<MarkingSource::Step>{{{0, 1}, customer_update(1, "a", "b", 1)}, {{1, 7}, "{this is not json"}},
      sdk::Completion::individual);
  auto* source_ptr = source.get();
  auto engine = build(EngineBuilder()
                          .config_string("[engine]\non_error = \"stop\"\n")
                          .add_source("source", std::move(source))
                          .add_sink("sink", std::make_unique<ScriptedSink>())
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  auto stopped = engine->wait();
  ASSERT_FALSE(stopped);
  EXPECT_NE(stopped.message().find("stream (partition) 1, offset 7 cannot be decoded"), std::string::npos)
      << stopped.message();
  std::lock_guard guard(source_ptr->mutex);
  ASSERT_EQ(source_ptr->rejected.size(), 1u);
  EXPECT_EQ(source_ptr->rejected[0], (sdk::Position{1, 7}));
  EXPECT_NE(source_ptr->reasons[0].find("JSON"), std::string::npos) << source_ptr->reasons[0];
  for (const auto& position : source_ptr->completed) EXPECT_NE(position, (sdk::Position{1, 7}));
}

TEST(SourceContract, ATransientFailureStartsTheSourceAgainAfterABackoff) {
  auto source = std::make_unique<MarkingSource>(
      std::vector<MarkingSource::Step>{{{0, 1}, customer_update(1, "a", "b", 1)}}, sdk::Completion::cumulative, 2);
  auto* source_ptr = source.get();
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::move(source), std::move(sink), "[engine]\nsource_restart_backoff = \"1ms\"\n");
  ASSERT_TRUE(engine->start());
  auto status = engine->wait();
  EXPECT_TRUE(status) << status.message();
  EXPECT_EQ(source_ptr->runs.load(), 3);
  EXPECT_EQ(engine->stats().source_restarts, 2u);
  EXPECT_EQ(sink_ptr->calls().size(), 1u) << "the third run's message was delivered";
}

class FailingSource final : public sdk::Source {
 public:
  sdk::Status run(sdk::Emitter&, std::stop_token) override {
    ++runs;
    return sdk::Status::error("authentication failed");
  }
  std::atomic<int> runs{0};
};

TEST(SourceContract, AFatalFailureStopsTheEngineWithoutARestart) {
  auto source = std::make_unique<FailingSource>();
  auto* source_ptr = source.get();
  auto engine = customers_engine(std::move(source), std::make_unique<ScriptedSink>(),
                                 "[engine]\nsource_restart_backoff = \"1ms\"\n");
  ASSERT_TRUE(engine->start());
  auto status = engine->wait();
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("source 'source' failed: authentication failed"), std::string::npos)
      << status.message();
  EXPECT_EQ(source_ptr->runs.load(), 1);
}

}  // namespace
}  // namespace invalidator
