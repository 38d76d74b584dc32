// What a sink is told and how its answers are taken (sdk/sink.hpp), through a whole engine.
#include <gtest/gtest.h>

#include <set>

#include "invalidator/engine.hpp"
#include "support/pipeline_fakes.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using namespace invalidator::testing;

TEST(SinkContract, EachInvalidationSaysWhichTableOpSourceRouteAndCommitProducedIt) {
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("customers", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                       customer_update_at(7, "new@x", 4242, 1700000000123)}))
                          .add_sink("sink", std::move(sink))
                          .add_route([] {
                            RouteDefinition unrelated;
                            unrelated.from = {"customers"};
                            unrelated.table = "public.orders";
                            unrelated.keys = {"order:{id}"};
                            unrelated.to = {"sink"};
                            return unrelated;
                          }())
                          .add_route([] {
                            RouteDefinition route = customers_route();
                            route.from = {"customers"};
                            route.keys = {"customer:{id}"};
                            return route;
                          }()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_EQ(calls[0].batch.size(), 1u);
  const sdk::Invalidation& item = calls[0].batch[0];
  EXPECT_EQ(item.key, "customer:7");
  EXPECT_EQ(item.version, 4242u);
  ASSERT_NE(item.origin, nullptr);
  EXPECT_EQ(item.table(), "public.customers");
  EXPECT_EQ(item.origin->op, sdk::Op::update);
  EXPECT_EQ(item.source(), "customers");
  EXPECT_EQ(item.route(), "routes[1]");
  EXPECT_EQ(item.commit_time, std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123)));
}

TEST(SinkContract, ABatchRetriedAsItWasKeepsItsIdAndCountsItsAttempts) {
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{
      sdk::DeliveryResult::retry("down", 1ms), sdk::DeliveryResult::retry("down", 1ms)});
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                    customer_update(1, "a", "b", 1), customer_update(2, "c", "d", 2)}))
                          .add_sink("sink", std::move(sink), SinkSettings{.batch_max_delay = 50ms,
                                                                          .retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0].context.attempt, 1u);
  EXPECT_EQ(calls[1].context.attempt, 2u);
  EXPECT_EQ(calls[2].context.attempt, 3u);
  EXPECT_EQ(calls[1].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[2].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[2].batch.size(), calls[0].batch.size());
  std::set<std::uint64_t> ids;
  for (const auto& call : calls) ids.insert(call.context.batch_id);
  EXPECT_EQ(ids.size(), calls.size() - 2) << "every other batch has an id of its own";
  EXPECT_EQ(engine->stats().acknowledged, 2u);
}

TEST(SinkContract, WhatIsLeftOfAPartlyAppliedBatchIsANewBatch) {
  auto sink = std::make_unique<ScriptedSink>(std::vector<sdk::DeliveryResult>{
      sdk::DeliveryResult::partial({sdk::ItemFailure{1, "busy", true}})});
  auto* sink_ptr = sink.get();
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{
                                                    customer_update(1, "a", "b", 1)}))
                          .add_sink("sink", std::move(sink), SinkSettings{.retry_initial_backoff = 1ms})
                          .add_route(customers_route()));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  auto calls = sink_ptr->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].batch.size(), 3u);  // customer:1, customer:email:b, customer:email:a
  ASSERT_EQ(calls[1].batch.size(), 1u);
  EXPECT_EQ(calls[1].batch[0].key, calls[0].batch[1].key);
  EXPECT_NE(calls[1].context.batch_id, calls[0].context.batch_id);
  EXPECT_EQ(calls[1].context.attempt, 1u);
}

TEST(SinkContract, ABatchFailedWholeIsDeadLetteredAtOnceAndAcknowledged) {
  TempDir dir;
  auto dead_letter = dir / "dead.jsonl";
  auto sink = std::make_unique<ScriptedSink>(
      std::vector<sdk::DeliveryResult>{sdk::DeliveryResult::failed("HTTP 400: bad request")});
  auto* sink_ptr = sink.get();
  auto engine = customers_engine(std::make_unique<ScriptedSource>(std::vector<std::string>{customer_update(1, "a", "b", 1)}),
                                 std::move(sink), "[engine]\ndead_letter = \"" + dead_letter.string() + "\"\n");
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  EXPECT_EQ(sink_ptr->calls().size(), 1u) << "a batch failed whole is not retried";
  EXPECT_EQ(engine->stats().dead_lettered, 3u);
  EXPECT_EQ(engine->stats().delivered, 0u);
  EXPECT_EQ(engine->stats().acknowledged, 1u);
  std::string text = read_file(dead_letter);
  EXPECT_NE(text.find("HTTP 400: bad request"), std::string::npos) << text;
  EXPECT_NE(text.find("customer:email:b"), std::string::npos) << text;
}

TEST(SinkContract, MaxBytesDeliversABatchInPartsInOrder) {
  std::vector<std::string> values;
  for (int i = 0; i < 20; ++i) values.push_back(customer_update(i, "x", "x", static_cast<std::uint64_t>(i + 1)));
  auto sink = std::make_unique<ScriptedSink>();
  auto* sink_ptr = sink.get();
  RouteDefinition route = customers_route();
  route.keys = {"customer:{id}"};  // 10 or 11 bytes each
  auto engine = build(EngineBuilder()
                          .add_source("source", std::make_unique<ScriptedSource>(values))
                          .add_sink("sink", std::move(sink), SinkSettings{.batch_max_bytes = 32, .batch_max_delay = 200ms})
                          .add_route(route));
  ASSERT_TRUE(engine->start());
  ASSERT_TRUE(engine->wait());
  std::vector<std::string> keys;
  for (const auto& call : sink_ptr->calls()) {
    std::size_t bytes = 0;
    for (const auto& item : call.batch) {
      bytes += item.key.size();
      keys.push_back(item.key);
    }
    EXPECT_LE(bytes, 32u);
    EXPECT_GE(call.batch.size(), 1u);
  }
  ASSERT_EQ(keys.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(keys[static_cast<std::size_t>(i)], "customer:" + std::to_string(i));
  EXPECT_EQ(engine->stats().acknowledged, 20u);
}

TEST(SinkContract, SettingsOfASinkAddedInCodeAreCheckedAsInAFile) {
  auto built = EngineBuilder()
                   .without_plugin_files()
                   .add_source("source", std::make_unique<ScriptedSource>(std::vector<std::string>{}))
                   .add_sink("sink", std::make_unique<ScriptedSink>(), SinkSettings{.lanes = 0, .batch_max_events = 0})
                   .add_route(customers_route())
                   .build();
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().find("sinks.sink.lanes: value is below the minimum of 1"), std::string::npos) << built.error();
  EXPECT_NE(built.error().find("sinks.sink.batch.max_events: value is below the minimum of 1"), std::string::npos)
      << built.error();
}

}  // namespace
}  // namespace invalidator
