#include <gtest/gtest.h>

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

}  // namespace
}  // namespace invalidator::pipeline
