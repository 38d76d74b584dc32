#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/bounded_queue.hpp"
#include "support/test_support.hpp"
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
  ASSERT_TRUE(invalidator::testing::eventually([&] { return queue.waiting_producers() == 1; }));
  EXPECT_FALSE(pushed) << "a full queue blocks its producer";
  std::vector<int> out;
  EXPECT_EQ(queue.pop_batch(out, 1), 1u);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(queue.size(), 2u);
}

TEST(BoundedQueue, APushWithADeadlineAnswersFullAndKeepsTheItem) {
  BoundedQueue<std::string> queue(1);
  queue.push("first");
  std::string item = "second";
  EXPECT_EQ(queue.push_until(std::move(item), {}, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)),
            BoundedQueue<std::string>::Push::full);
  EXPECT_EQ(item, "second") << "not moved from";
  EXPECT_EQ(queue.push_until(std::move(item), {}, std::chrono::steady_clock::time_point{}),
            BoundedQueue<std::string>::Push::full)
      << "a deadline already past: no wait";
  std::vector<std::string> out;
  queue.pop_batch(out, 1);
  EXPECT_EQ(queue.push_until(std::move(item), {}, std::chrono::steady_clock::time_point{}),
            BoundedQueue<std::string>::Push::pushed)
      << "room: pushed whatever the deadline";
  queue.close();
  std::string refused = "third";
  EXPECT_EQ(queue.push_until(std::move(refused), {}, std::nullopt), BoundedQueue<std::string>::Push::closed);
  EXPECT_EQ(refused, "third");
}

TEST(BoundedQueue, StopReleasesABlockedProducer) {
  BoundedQueue<int> queue(1);
  queue.push(1);
  std::stop_source stop;
  std::thread producer([&] { EXPECT_FALSE(queue.push(2, stop.get_token())); });
  ASSERT_TRUE(invalidator::testing::eventually([&] { return queue.waiting_producers() == 1; }));
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
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  EXPECT_EQ(queue.pop_batch(out, 10), 0u);
  EXPECT_TRUE(out.empty()) << "the batch holds what was taken, nothing else";
}

// Records the thread that destroys each payload.
class FreedOn {
 public:
  void record() {
    std::lock_guard guard(mutex_);
    threads_.push_back(std::this_thread::get_id());
  }
  std::size_t count(std::thread::id thread) {
    std::lock_guard guard(mutex_);
    return static_cast<std::size_t>(std::count(threads_.begin(), threads_.end(), thread));
  }

 private:
  std::mutex mutex_;
  std::vector<std::thread::id> threads_;
};

struct Payload {
  FreedOn* freed_on;
  int number;
  ~Payload() { freed_on->record(); }
};

TEST(BoundedQueue, SpentItemsAreHandedBackAndFreedByTheProducer) {
  FreedOn freed_on;
  BoundedQueue<std::unique_ptr<Payload>> queue(4);
  constexpr int kItems = 200;  // many times the ring's slots: the producer comes round to the spent items
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) ASSERT_TRUE(queue.push(std::make_unique<Payload>(Payload{&freed_on, i})));
    queue.close();
  });
  std::vector<std::unique_ptr<Payload>> batch;
  int expected = 0;
  // One at a time: each pop hands back exactly as many spent items as it takes.
  while (queue.pop_batch(batch, 1) > 0) {
    ASSERT_EQ(batch.size(), 1u);
    ASSERT_EQ(batch[0]->number, expected++);
  }
  const std::thread::id producer_id = producer.get_id();
  producer.join();
  EXPECT_EQ(expected, kItems);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(freed_on.count(std::this_thread::get_id()), 1u)
      << "only the last spent item, which the final pop had no slot for, is freed by the consumer";
  EXPECT_GT(freed_on.count(producer_id), static_cast<std::size_t>(kItems / 2))
      << "pushing into a slot frees the spent item handed back into it";
}

}  // namespace
}  // namespace invalidator::pipeline
