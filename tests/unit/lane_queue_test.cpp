#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/lane_queue.hpp"
#include "support/test_support.hpp"

namespace invalidator::pipeline {
namespace {

using namespace std::chrono_literals;

LaneBatch batch_of(int first, int count) {
  LaneBatch batch;
  for (int i = first; i < first + count; ++i) {
    sdk::Invalidation invalidation;
    invalidation.key = "key:" + std::to_string(i);
    batch.add(std::move(invalidation), ItemOrigin{nullptr, nullptr, nullptr, static_cast<std::uint32_t>(i), 0, 0ms});
  }
  return batch;
}

std::vector<std::string> keys_of(const LaneBatch& batch) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    keys.push_back(batch.invalidations[i].key);
    // The origin travels with its invalidation.
    EXPECT_EQ("key:" + std::to_string(batch.origins[i].source), batch.invalidations[i].key);
  }
  return keys;
}

TEST(LaneQueue, BatchesComeOutInOrderWholeAndJoinedWhileTheyFit) {
  LaneQueue queue(100);
  LaneBatch batch = batch_of(0, 3);
  ASSERT_TRUE(queue.push(batch));
  EXPECT_TRUE(batch.empty());
  batch = batch_of(3, 2);
  ASSERT_TRUE(queue.push(batch));
  batch = batch_of(5, 4);
  ASSERT_TRUE(queue.push(batch));
  EXPECT_EQ(queue.size(), 9u);

  LaneBatch out;
  // The third would fit only in part: it waits for the next delivery, whole.
  EXPECT_EQ(queue.pop(out, 7, 0ms), 5u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:0", "key:1", "key:2", "key:3", "key:4"}));
  out.clear();
  EXPECT_EQ(queue.pop(out, 7, 0ms), 4u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:5", "key:6", "key:7", "key:8"}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(LaneQueue, ABatchLargerThanADeliveryIsSplit) {
  LaneQueue queue(100);
  LaneBatch batch = batch_of(0, 10);
  ASSERT_TRUE(queue.push(batch));
  LaneBatch out;
  EXPECT_EQ(queue.pop(out, 4, 0ms), 4u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:0", "key:1", "key:2", "key:3"}));
  out.clear();
  EXPECT_EQ(queue.pop(out, 4, 0ms), 4u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:4", "key:5", "key:6", "key:7"}));
  out.clear();
  EXPECT_EQ(queue.pop(out, 4, 0ms), 2u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:8", "key:9"}));
}

TEST(LaneQueue, StorageOfTakenBatchesGoesBackToTheProducers) {
  LaneQueue queue(1000);
  LaneBatch out;
  LaneBatch batch;
  std::size_t returned_with_room = 0;
  for (int round = 0; round < 40; ++round) {
    batch = batch_of(round * 50, 50);
    ASSERT_TRUE(queue.push(batch));
    EXPECT_TRUE(batch.empty());
    // Once the ring's slots have all been through the lane, what a push gives back is a
    // delivered batch's storage, with room for another.
    if (round >= 20 && batch.invalidations.capacity() >= 50 && batch.origins.capacity() >= 50) ++returned_with_room;
    ASSERT_EQ(queue.pop(out, 100, 0ms), 50u);
    EXPECT_EQ(out.invalidations.front().key, "key:" + std::to_string(round * 50));
    out.clear();
  }
  EXPECT_EQ(returned_with_room, 20u);
}

// The lane does not empty its delivered batch: pop takes it back, and the producer that
// pushes into its slot next frees it. Whatever way the next batch is taken, `out` then holds
// that batch only.
TEST(LaneQueue, ADeliveredBatchIsHandedBackAndTheProducerGetsIt) {
  LaneQueue queue(100);
  LaneBatch out = batch_of(100, 3);  // as a lane leaves it after delivering
  LaneBatch batch = batch_of(0, 2);
  ASSERT_TRUE(queue.push(batch));
  batch = batch_of(2, 2);
  ASSERT_TRUE(queue.push(batch));
  EXPECT_EQ(queue.pop(out, 10, 0ms), 4u) << "taken whole and joined";
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:0", "key:1", "key:2", "key:3"}));

  batch = batch_of(4, 6);
  ASSERT_TRUE(queue.push(batch));
  EXPECT_TRUE(batch.empty()) << "a push gives back storage emptied of what the lane delivered";
  EXPECT_EQ(queue.pop(out, 4, 0ms), 4u) << "split";
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:4", "key:5", "key:6", "key:7"}));
  EXPECT_EQ(queue.pop(out, 4, 0ms), 2u);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"key:8", "key:9"}));

  auto soon = std::chrono::steady_clock::now() + 1ms;
  EXPECT_EQ(queue.pop(out, 4, 0ms, soon), 0u) << "woken by its deadline, nothing queued";
  EXPECT_TRUE(out.empty());
}

TEST(LaneQueue, StorageKeptForReuseIsBoundedByTheCapacity) {
  LaneQueue queue(100);
  LaneBatch out;
  std::size_t most_handed_back = 0;
  for (int round = 0; round < 40; ++round) {
    LaneBatch batch = batch_of(round * 10, 10);
    batch.invalidations.reserve(1000);  // far more than the queue keeps for reuse (2 x 100)
    ASSERT_TRUE(queue.push(batch));
    most_handed_back = std::max(most_handed_back, batch.invalidations.capacity());
    ASSERT_EQ(queue.pop(out, 100, 0ms), 10u);
    out.clear();
  }
  EXPECT_LE(most_handed_back, 200u);
}

TEST(LaneQueue, ProducerWaitsWhileCapacityInvalidationsAreQueued) {
  LaneQueue queue(4);
  LaneBatch batch = batch_of(0, 4);
  ASSERT_TRUE(queue.push(batch));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    LaneBatch more = batch_of(4, 1);
    EXPECT_TRUE(queue.push(more));
    pushed = true;
  });
  ASSERT_TRUE(invalidator::testing::eventually([&] { return queue.waiting_producers() == 1; }));
  EXPECT_FALSE(pushed.load());
  LaneBatch out;
  EXPECT_EQ(queue.pop(out, 2, 0ms), 2u);
  producer.join();
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(queue.size(), 3u);
}

// A consumer lingering an hour for `max_items`, once one invalidation is queued; `pushes` then
// runs and what the consumer took is returned. Without the wake-up a full batch (or a full
// queue) owes it, the test hangs until ctest's timeout.
template <typename Pushes>
std::vector<std::string> taken_by_a_lingering_consumer(LaneQueue& queue, std::size_t max_items, Pushes pushes) {
  LaneBatch taken;
  std::thread consumer([&] { queue.pop(taken, max_items, std::chrono::hours(1)); });
  LaneBatch first = batch_of(0, 1);
  EXPECT_TRUE(queue.push(first));
  while (queue.lingering_consumers() == 0) std::this_thread::yield();
  pushes();
  consumer.join();
  return keys_of(taken);
}

TEST(LaneQueue, ALingeringConsumerTakesItsBatchOnceFull) {
  LaneQueue queue(100);
  auto taken = taken_by_a_lingering_consumer(queue, 5, [&] {
    LaneBatch more = batch_of(1, 2);
    EXPECT_TRUE(queue.push(more));  // 3 queued: not enough to wake it
    more = batch_of(3, 2);
    EXPECT_TRUE(queue.push(more));
  });
  EXPECT_EQ(taken, (std::vector<std::string>{"key:0", "key:1", "key:2", "key:3", "key:4"}));
  EXPECT_EQ(queue.size(), 0u);
}

// A batch larger than the queue holds: a full queue ends the lingering, or the producer
// waiting for room and the consumer waiting for more would wait for each other.
TEST(LaneQueue, ALingeringConsumerTakesAFullQueue) {
  LaneQueue queue(3);
  std::thread producer;
  auto taken = taken_by_a_lingering_consumer(queue, 8, [&] {
    LaneBatch more = batch_of(1, 2);
    EXPECT_TRUE(queue.push(more));
    producer = std::thread([&] {
      LaneBatch last = batch_of(3, 1);
      EXPECT_TRUE(queue.push(last));  // waits for room
    });
  });
  producer.join();
  EXPECT_EQ(taken, (std::vector<std::string>{"key:0", "key:1", "key:2"}));
  EXPECT_EQ(queue.size(), 1u);
}

TEST(LaneQueue, StopReleasesABlockedProducerAndCloseDrainsThenEnds) {
  LaneQueue queue(1);
  LaneBatch batch = batch_of(0, 1);
  ASSERT_TRUE(queue.push(batch));
  std::stop_source stop;
  std::thread producer([&] {
    LaneBatch more = batch_of(1, 1);
    EXPECT_FALSE(queue.push(more, stop.get_token()));
    EXPECT_EQ(more.size(), 1u) << "a refused batch is left as it was";
  });
  ASSERT_TRUE(invalidator::testing::eventually([&] { return queue.waiting_producers() == 1; }));
  stop.request_stop();
  producer.join();

  queue.close();
  LaneBatch refused = batch_of(2, 1);
  EXPECT_FALSE(queue.push(refused));
  EXPECT_FALSE(queue.drained());
  LaneBatch out;
  EXPECT_EQ(queue.pop(out, 10, 1s), 1u);
  EXPECT_TRUE(queue.drained());
  out.clear();
  EXPECT_EQ(queue.pop(out, 10, 1s), 0u);
}

}  // namespace
}  // namespace invalidator::pipeline
