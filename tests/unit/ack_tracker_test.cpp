#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "pipeline/ack_tracker.hpp"

namespace invalidator::pipeline {
namespace {

struct Recorder {
  std::mutex mutex;
  std::vector<sdk::Position> acknowledged;
  AckTracker::Acknowledge callback() {
    return [this](const sdk::Position& position) {
      std::lock_guard guard(mutex);
      acknowledged.push_back(position);
    };
  }
};

TEST(AckTracker, ReleasesForLaterAcknowledgeOnlyWhenAskedAndOnlyTheCompletePrefix) {
  Recorder recorder;
  AckTracker tracker(recorder.callback());
  auto& first = tracker.open({3, 1});
  auto& second = tracker.open({3, 2});
  tracker.retain(second);
  EXPECT_EQ(tracker.release_later(first), std::optional<std::uint64_t>(3)) << "complete: its stream is named";
  EXPECT_EQ(tracker.release_later(second), std::nullopt) << "one hold left";
  EXPECT_TRUE(recorder.acknowledged.empty()) << "nothing is acknowledged before acknowledge_ready";
  tracker.acknowledge_ready(3);
  ASSERT_EQ(recorder.acknowledged.size(), 1u);
  EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{3, 1}));
  EXPECT_EQ(tracker.release_later(second), std::optional<std::uint64_t>(3));
  tracker.acknowledge_ready(3);
  ASSERT_EQ(recorder.acknowledged.size(), 2u);
  EXPECT_EQ(recorder.acknowledged[1], (sdk::Position{3, 2}));
  EXPECT_EQ(tracker.outstanding(), 0u);
}

TEST(AckTracker, OpensABatchInOrderAndReleasesSeveralHoldsAtOnce) {
  Recorder recorder;
  AckTracker tracker(recorder.callback());
  const std::vector<sdk::Position> positions{{1, 5}, {1, 6}, {2, 9}};
  AckTracker::Entry* entries[3] = {};
  tracker.open_all(positions, entries);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(entries[i]->position(), positions[i]);
  tracker.retain(*entries[0], 3);  // three invalidations of position 5
  tracker.release(*entries[0]);    // the opener's hold
  EXPECT_EQ(tracker.release_later(*entries[0], 2), std::nullopt) << "one of the three is still out";
  EXPECT_EQ(tracker.release_later(*entries[0], 1), std::optional<std::uint64_t>(1));
  tracker.release(*entries[1]);
  tracker.acknowledge_ready(1);
  ASSERT_EQ(recorder.acknowledged.size(), 1u);
  EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{1, 6}));
  EXPECT_EQ(tracker.outstanding(), 1u) << "position 9 of stream 2";
}

TEST(AckTracker, AcknowledgesOnlyTheContiguousCompletedPrefix) {
  Recorder recorder;
  AckTracker tracker(recorder.callback());
  auto& first = tracker.open({0, 10});
  auto& second = tracker.open({0, 11});
  auto& third = tracker.open({0, 12});
  tracker.retain(first);   // one invalidation from position 10
  tracker.release(first);  // opener's hold
  tracker.release(second);
  tracker.release(third);  // 11 and 12 are done, 10 is not
  EXPECT_TRUE(recorder.acknowledged.empty());
  tracker.release(first);  // the invalidation of 10 delivered
  ASSERT_EQ(recorder.acknowledged.size(), 1u);
  EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{0, 12})) << "one acknowledgement covers the whole prefix";
  EXPECT_EQ(tracker.outstanding(), 0u);
  EXPECT_EQ(tracker.acknowledged(), 3u);
}

TEST(AckTracker, AStreamWhosePositionsWereAllAcknowledgedIsForgotten) {
  Recorder recorder;
  for (auto completion : {sdk::Completion::cumulative, sdk::Completion::individual}) {
    AckTracker tracker(recorder.callback(), completion);
    // A consumer that held partitions 0..99 for a while, then lost them in a rebalance.
    for (std::uint64_t partition = 0; partition < 100; ++partition) {
      for (std::uint64_t offset = 1; offset <= 3; ++offset) tracker.release(tracker.open({partition, offset}));
    }
    EXPECT_EQ(tracker.streams(), 0u);
    EXPECT_EQ(tracker.outstanding(), 0u);
    auto& held = tracker.open({7, 4});
    EXPECT_EQ(tracker.streams(), 1u);
    tracker.release(held);
    EXPECT_EQ(tracker.streams(), 0u);
  }
}

TEST(AckTracker, OpeningWaitsWhileTheLimitIsReachedAndGoesOnOnceAPositionIsAcknowledged) {
  Recorder recorder;
  AckTracker tracker(recorder.callback(), sdk::Completion::cumulative, 3);
  auto& first = tracker.open({0, 1});
  tracker.release(tracker.open({0, 2}));
  tracker.release(tracker.open({0, 3}));
  ASSERT_EQ(tracker.outstanding(), 3u) << "held behind the first";
  std::mutex mutex;
  std::condition_variable changed;
  bool opened = false;
  std::thread opener([&] {
    tracker.release(tracker.open({0, 4}));
    std::lock_guard guard(mutex);
    opened = true;
    changed.notify_all();
  });
  tracker.release(first);  // the three are acknowledged: room again
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, std::chrono::seconds(60), [&] { return opened; }));
  }
  opener.join();
  EXPECT_EQ(tracker.acknowledged(), 4u);
  // abort(): the limit no longer holds anyone up (the shutdown deadline).
  AckTracker full(recorder.callback(), sdk::Completion::cumulative, 1);
  full.open({0, 1});
  full.abort();
  full.open({0, 2});
  EXPECT_EQ(full.outstanding(), 2u);
}

TEST(AckTracker, StreamsAreIndependent) {
  Recorder recorder;
  AckTracker tracker(recorder.callback());
  auto& stuck = tracker.open({1, 100});
  auto& free_entry = tracker.open({2, 5});
  tracker.retain(stuck);
  tracker.release(stuck);
  tracker.release(free_entry);
  ASSERT_EQ(recorder.acknowledged.size(), 1u);
  EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{2, 5}));
  EXPECT_EQ(tracker.outstanding(), 1u);
}

TEST(AckTracker, ConcurrentCompletionsInAnyOrderAcknowledgeEverythingInOrder) {
  Recorder recorder;
  AckTracker tracker(recorder.callback());
  constexpr int kPositions = 20'000;
  std::vector<AckTracker::Entry*> entries;
  for (int i = 0; i < kPositions; ++i) {
    auto& entry = tracker.open({0, static_cast<std::uint64_t>(i)});
    tracker.retain(entry, 2);  // two invalidations each
    entries.push_back(&entry);
  }
  std::vector<AckTracker::Entry*> work;
  for (auto* entry : entries) {
    work.push_back(entry);
    work.push_back(entry);
    work.push_back(entry);  // the opener's hold too
  }
  std::shuffle(work.begin(), work.end(), std::mt19937(7));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < work.size(); i += 4) tracker.release(*work[i]);
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_FALSE(recorder.acknowledged.empty());
  for (std::size_t i = 1; i < recorder.acknowledged.size(); ++i) {
    EXPECT_LT(recorder.acknowledged[i - 1].offset, recorder.acknowledged[i].offset) << "acknowledgements go forward";
  }
  EXPECT_EQ(recorder.acknowledged.back().offset, static_cast<std::uint64_t>(kPositions - 1));
  EXPECT_EQ(tracker.outstanding(), 0u);
}

// A source may write and fsync in acknowledge(): the tracker's lock is not held meanwhile, so
// decode threads open positions and other streams are acknowledged while one stream waits.
TEST(AckTracker, AcknowledgesOutsideItsLockAndHoldsUpOnlyTheStreamBeingAcknowledged) {
  std::mutex gate_mutex;
  std::condition_variable gate;
  bool entered = false;
  bool open_gate = false;
  Recorder recorder;
  AckTracker tracker([&](const sdk::Position& position) {
    if (position.stream == 1) {
      std::unique_lock lock(gate_mutex);
      entered = true;
      gate.notify_all();
      gate.wait(lock, [&] { return open_gate; });
    }
    recorder.callback()(position);
  });
  auto& slow = tracker.open({1, 1});
  std::thread acknowledging([&] { tracker.release(slow); });
  {
    std::unique_lock lock(gate_mutex);
    ASSERT_TRUE(gate.wait_for(lock, std::chrono::seconds(30), [&] { return entered; }));
  }
  // Stream 1's acknowledgement is under way and blocked. The tracker is not:
  auto& other = tracker.open({2, 5});
  tracker.release(other);
  auto& later_on_one = tracker.open({1, 2});
  tracker.release(later_on_one);  // stream 1: left to the thread already acknowledging it
  {
    std::lock_guard guard(recorder.mutex);
    ASSERT_EQ(recorder.acknowledged.size(), 1u);
    EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{2, 5}));
  }
  {
    std::lock_guard lock(gate_mutex);
    open_gate = true;
  }
  gate.notify_all();
  acknowledging.join();
  std::lock_guard guard(recorder.mutex);
  ASSERT_EQ(recorder.acknowledged.size(), 3u);
  EXPECT_EQ(recorder.acknowledged[1], (sdk::Position{1, 1}));
  EXPECT_EQ(recorder.acknowledged[2], (sdk::Position{1, 2})) << "stream 1 in order, by the thread that held it";
}

TEST(AckTracker, IndividualCompletionReportsEachPositionAsItCompletesInAnyOrder) {
  Recorder recorder;
  AckTracker tracker(recorder.callback(), sdk::Completion::individual);
  auto& first = tracker.open({4, 1});
  auto& second = tracker.open({4, 2});
  auto& third = tracker.open({4, 3});
  tracker.retain(first);
  tracker.release(first);
  tracker.release(third);
  tracker.release_unkept(second);  // rejected to the source instead
  {
    std::lock_guard guard(recorder.mutex);
    ASSERT_EQ(recorder.acknowledged.size(), 1u);
    EXPECT_EQ(recorder.acknowledged[0], (sdk::Position{4, 3})) << "reported before the earlier one";
  }
  EXPECT_EQ(tracker.outstanding(), 3u) << "entries leave in order: the first still holds the rest";
  ASSERT_EQ(tracker.release_later(first), std::optional<std::uint64_t>(4));
  tracker.acknowledge_ready(4);
  std::lock_guard guard(recorder.mutex);
  ASSERT_EQ(recorder.acknowledged.size(), 2u);
  EXPECT_EQ(recorder.acknowledged[1], (sdk::Position{4, 1}));
  EXPECT_EQ(tracker.outstanding(), 0u);
  EXPECT_EQ(tracker.acknowledged(), 3u);
}

}  // namespace
}  // namespace invalidator::pipeline
