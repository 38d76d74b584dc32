#pragma once

// The sink conformance suite. Every sink, ours or a user's, should pass it against a real
// server. Include this header in exactly one test file, then instantiate it (the suite's
// name must be unqualified, hence the using-declaration):
//
//   using invalidator::sdk::testing::SinkConformance;
//   INSTANTIATE_TEST_SUITE_P(Redis, SinkConformance,
//       ::testing::Values(invalidator::sdk::testing::SinkConformanceParam{
//           "redis", [] { return std::make_unique<MyRedisHarness>(); }}),
//       invalidator::sdk::testing::conformance_name);

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "invalidator/sdk/invalidation.hpp"
#include "invalidator/sdk/sink.hpp"

namespace invalidator::sdk::testing {

// Connects the suite to one sink and the cache behind it.
class SinkHarness {
 public:
  virtual ~SinkHarness() = default;
  // A new instance, not yet started, of the sink under test.
  virtual std::unique_ptr<Sink> make_sink() = 0;
  // Writes a key directly into the cache (what a reader's write-back would do).
  virtual void put(const std::string& key, const std::string& value) = 0;
  // Reads a key directly from the cache.
  virtual std::optional<std::string> read(const std::string& key) = 0;
  virtual bool supports(Action action) { return action == Action::delete_key; }
  // Makes the cache unreachable (stop the server) and reachable again. Harnesses that cannot
  // return false from begin_outage and the outage test is skipped.
  virtual bool begin_outage() { return false; }
  virtual void end_outage() {}
  // Prefix for keys, so that several runs can share one server.
  virtual std::string key_prefix() { return "conformance:"; }
};

struct SinkConformanceParam {
  std::string name;
  std::function<std::unique_ptr<SinkHarness>()> make_harness;
};

// Names the parameter in test output instead of dumping its bytes.
inline void PrintTo(const SinkConformanceParam& param, std::ostream* out) { *out << param.name; }

inline std::string conformance_name(const ::testing::TestParamInfo<SinkConformanceParam>& info) {
  return info.param.name;
}

class SinkConformance : public ::testing::TestWithParam<SinkConformanceParam> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make_harness();
    ASSERT_NE(harness_, nullptr);
    sink_ = harness_->make_sink();
    ASSERT_NE(sink_, nullptr);
    auto started = sink_->start();
    ASSERT_TRUE(started.ok()) << started.message();
  }
  void TearDown() override {
    if (sink_) sink_->stop();
    sink_.reset();
    harness_.reset();
  }

  std::string key(const std::string& name) { return harness_->key_prefix() + name; }

  static Invalidation remove(std::string key_name, std::uint64_t version = 1) {
    Invalidation invalidation;
    invalidation.action = Action::delete_key;
    invalidation.key = std::move(key_name);
    invalidation.version = version;
    return invalidation;
  }
  static Invalidation write(std::string key_name, std::string value, std::uint64_t version = 1) {
    Invalidation invalidation;
    invalidation.action = Action::set_value;
    invalidation.key = std::move(key_name);
    invalidation.value = std::move(value);
    invalidation.version = version;
    return invalidation;
  }

  // Delivers until the sink says ok, as the core would; a sink may legitimately ask for a
  // retry, but must get there within a bounded number of attempts on a healthy server.
  DeliveryResult deliver_until_done(std::span<const Invalidation> batch, int attempts = 50) {
    DeliveryResult result = sink_->deliver(batch, {});
    for (int attempt = 1; attempt < attempts && result.kind() == DeliveryResult::Kind::retry; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      result = sink_->deliver(batch, {});
    }
    return result;
  }

  std::unique_ptr<SinkHarness> harness_;
  std::unique_ptr<Sink> sink_;
};

TEST_P(SinkConformance, StartsAndStopsCleanly) {
  // Started (in SetUp), it delivers.
  harness_->put(key("started"), "v");
  std::vector<Invalidation> first{remove(key("started"))};
  auto delivered = deliver_until_done(first);
  ASSERT_TRUE(delivered.is_ok()) << delivered.reason();
  EXPECT_EQ(harness_->read(key("started")), std::nullopt);
  // Stopped, it applies nothing more and says so with a retry, for the core to keep the
  // work; stopping twice is harmless.
  sink_->stop();
  sink_->stop();
  harness_->put(key("after-stop"), "v");
  std::vector<Invalidation> late{remove(key("after-stop"))};
  auto refused = sink_->deliver(late, {});
  EXPECT_EQ(refused.kind(), DeliveryResult::Kind::retry) << "a stopped sink answered " << refused.reason();
  EXPECT_EQ(harness_->read(key("after-stop")), "v") << "a stopped sink applied an invalidation";
}

TEST_P(SinkConformance, DeletesAPresentKey) {
  harness_->put(key("present"), "v");
  ASSERT_EQ(harness_->read(key("present")), "v");
  std::vector<Invalidation> batch{remove(key("present"))};
  auto result = deliver_until_done(batch);
  ASSERT_TRUE(result.is_ok()) << result.reason();
  EXPECT_EQ(harness_->read(key("present")), std::nullopt);
}

TEST_P(SinkConformance, DeleteOfAMissingKeyIsOk) {
  std::vector<Invalidation> batch{remove(key("never-written"))};
  auto result = deliver_until_done(batch);
  EXPECT_TRUE(result.is_ok()) << result.reason();
  EXPECT_TRUE(result.failures().empty());
}

TEST_P(SinkConformance, RedeliveryIsIdempotent) {
  harness_->put(key("twice"), "v");
  harness_->put(key("kept"), "k");
  std::vector<Invalidation> batch{remove(key("twice"))};
  ASSERT_TRUE(deliver_until_done(batch).is_ok());
  ASSERT_TRUE(deliver_until_done(batch).is_ok());
  EXPECT_EQ(harness_->read(key("twice")), std::nullopt);
  EXPECT_EQ(harness_->read(key("kept")), "k");
}

TEST_P(SinkConformance, DeliversABatchOfTenThousand) {
  constexpr int kCount = 10'000;
  std::vector<Invalidation> batch;
  batch.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    harness_->put(key("bulk:" + std::to_string(i)), "v");
    batch.push_back(remove(key("bulk:" + std::to_string(i)), static_cast<std::uint64_t>(i + 1)));
  }
  auto result = deliver_until_done(batch);
  ASSERT_TRUE(result.is_ok()) << result.reason();
  int left = 0;
  for (int i = 0; i < kCount; ++i) {
    if (harness_->read(key("bulk:" + std::to_string(i)))) ++left;
  }
  EXPECT_EQ(left, 0);
}

TEST_P(SinkConformance, KeepsTheOrderOfTwoActionsOnOneKey) {
  if (!harness_->supports(Action::set_value)) GTEST_SKIP() << "sink does not support set";
  std::vector<Invalidation> set_then_delete{write(key("order"), "new", 1), remove(key("order"), 2)};
  ASSERT_TRUE(deliver_until_done(set_then_delete).is_ok());
  EXPECT_EQ(harness_->read(key("order")), std::nullopt);

  std::vector<Invalidation> delete_then_set{remove(key("order2"), 3), write(key("order2"), "fresh", 4)};
  ASSERT_TRUE(deliver_until_done(delete_then_set).is_ok());
  EXPECT_EQ(harness_->read(key("order2")), "fresh");
}

TEST_P(SinkConformance, ReportsRetryOnceStopped) {
  harness_->put(key("after-stop"), "v");
  sink_->stop();
  std::vector<Invalidation> batch{remove(key("after-stop"))};
  auto result = sink_->deliver(batch, {});
  // A stopped sink must not claim success for work it did not do.
  if (result.is_ok()) {
    EXPECT_EQ(harness_->read(key("after-stop")), std::nullopt);
  } else {
    EXPECT_EQ(result.kind(), DeliveryResult::Kind::retry) << "a stopped sink reports retry";
  }
}

TEST_P(SinkConformance, ReportsRetryDuringAnOutageAndRecovers) {
  harness_->put(key("outage"), "v");
  if (!harness_->begin_outage()) GTEST_SKIP() << "the harness cannot make this cache unreachable";
  std::vector<Invalidation> batch{remove(key("outage"))};
  auto during = sink_->deliver(batch, {});
  EXPECT_EQ(during.kind(), DeliveryResult::Kind::retry) << "an unreachable cache is a retry";
  harness_->end_outage();
  auto after = deliver_until_done(batch, 250);
  EXPECT_TRUE(after.is_ok()) << after.reason();
}

TEST_P(SinkConformance, StopsCleanlyInTheMiddleOfABatch) {
  constexpr int kCount = 50'000;
  std::vector<Invalidation> batch;
  batch.reserve(kCount);
  for (int i = 0; i < kCount; ++i) batch.push_back(remove(key("mid:" + std::to_string(i))));
  harness_->put(key("mid:0"), "v");
  std::mutex mutex;
  std::condition_variable changed;
  bool returned = false;
  DeliveryResult result = DeliveryResult::ok();
  std::thread deliverer([&] {
    DeliveryResult outcome = sink_->deliver(batch, {});
    std::lock_guard guard(mutex);
    result = std::move(outcome);
    returned = true;
    changed.notify_all();
  });
  // Under way: the batch's first key is gone (or the whole batch is already done).
  for (int i = 0; i < 30'000 && harness_->read(key("mid:0")); ++i) {
    std::unique_lock lock(mutex);
    if (changed.wait_for(lock, std::chrono::milliseconds(1), [&] { return returned; })) break;
  }
  sink_->stop();
  bool returned_after_stop = false;
  {
    // A deadline for a hang, not a measure of speed: the rest of the batch is not applied.
    std::unique_lock lock(mutex);
    returned_after_stop = changed.wait_for(lock, std::chrono::seconds(30), [&] { return returned; });
  }
  EXPECT_TRUE(returned_after_stop) << "deliver() did not return after stop()";
  deliverer.join();
  EXPECT_NE(result.kind(), DeliveryResult::Kind::partial)
      << "stopping is not a per-item failure; unfinished work is a retry";
  EXPECT_NE(result.kind(), DeliveryResult::Kind::failed) << result.reason();
}

}  // namespace invalidator::sdk::testing
