#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/bounded_queue.hpp"
#include "pipeline/ring_buffer.hpp"

namespace invalidator::pipeline {
namespace {

using namespace std::chrono_literals;

TEST(RingBuffer, KeepsOrderAcrossWrapAroundsAndGrowth) {
  RingBuffer<std::string> ring;
  int next_in = 0;
  int next_out = 0;
  // Depth rises and falls so that the head wraps around before and after each growth.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 37 + 1; ++i) ring.push_back(std::to_string(next_in++));
    for (int i = 0; i < round % 23 + 1 && !ring.empty(); ++i) {
      ASSERT_EQ(ring.front(), std::to_string(next_out++));
      ring.pop_front();
    }
    ASSERT_EQ(ring.size(), static_cast<std::size_t>(next_in - next_out));
  }
  while (!ring.empty()) {
    ASSERT_EQ(ring.front(), std::to_string(next_out++));
    ring.pop_front();
  }
  EXPECT_EQ(next_out, next_in);
}

TEST(BoundedQueue, ProducerWaitsWhileFull) {
  BoundedQueue<int> queue(2);
  ASSERT_TRUE(queue.push(1));
  ASSERT_TRUE(queue.push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    queue.push(3);
    pushed = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed) << "a full queue blocks its producer";
  std::vector<int> out;
  EXPECT_EQ(queue.pop_batch(out, 1), 1u);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(queue.size(), 2u);
}

TEST(BoundedQueue, SaysWhenAPushWouldWait) {
  BoundedQueue<int> queue(2);
  EXPECT_FALSE(queue.full());
  queue.push(1);
  queue.push(2);
  EXPECT_TRUE(queue.full());
  std::vector<int> out;
  queue.pop_batch(out, 1);
  EXPECT_FALSE(queue.full());
  queue.push(3);
  queue.close();
  EXPECT_FALSE(queue.full()) << "a closed queue refuses at once, it never waits";
}

TEST(BoundedQueue, StopReleasesABlockedProducer) {
  BoundedQueue<int> queue(1);
  queue.push(1);
  std::stop_source stop;
  std::thread producer([&] { EXPECT_FALSE(queue.push(2, stop.get_token())); });
  std::this_thread::sleep_for(20ms);
  stop.request_stop();
  producer.join();
}

TEST(BoundedQueue, APushAfterStopIsRefusedAtOnce) {
  // Whether or not there is room; the stop callback must not be run under the queue's lock.
  BoundedQueue<int> queue(1);
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(queue.push(1, stop.get_token()));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(BoundedQueue, CloseDrainsThenEnds) {
  BoundedQueue<int> queue(8);
  queue.push(1);
  queue.push(2);
  queue.close();
  EXPECT_FALSE(queue.push(3));
  std::vector<int> out;
  EXPECT_EQ(queue.pop_batch(out, 10), 2u);
  EXPECT_EQ(queue.pop_batch(out, 10), 0u);
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace invalidator::pipeline
