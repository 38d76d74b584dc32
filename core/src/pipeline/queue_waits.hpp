#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <stop_token>

namespace invalidator::pipeline {

// The waits the pipeline's queues share. Each is called with `lock` held on the queue's mutex
// and returns with it held; the caller checks the queue's state again afterwards.

// A producer waits until `may_go()` (room, the queue closed, or `stop` requested), or until
// `deadline` when given. The stop
// callback is registered only here, as registering one costs atomic operations every push
// would otherwise pay. It takes the mutex, so it is made and destroyed with the mutex
// released: made, it may run at once in this thread; destroyed, it waits for a run of it in
// another thread.
template <typename MayGo>
void wait_as_producer(std::unique_lock<std::mutex>& lock, std::condition_variable& not_full,
                      const std::stop_token& stop, std::size_t& waiting_producers,
                      std::optional<std::chrono::steady_clock::time_point> deadline, MayGo may_go) {
  std::mutex& mutex = *lock.mutex();
  lock.unlock();
  {
    std::stop_callback wake(stop, [&mutex, &not_full] {
      std::lock_guard guard(mutex);
      not_full.notify_all();
    });
    lock.lock();
    ++waiting_producers;
    if (deadline) {
      not_full.wait_until(lock, *deadline, may_go);
    } else {
      not_full.wait(lock, may_go);
    }
    --waiting_producers;
    lock.unlock();
  }
  lock.lock();
}

// A consumer waits until `ready()` (something to take, or the queue closed), or until
// `wake_at` when given. `waiting_consumers` tells producers that a push must wake it.
template <typename Ready>
void wait_as_consumer(std::unique_lock<std::mutex>& lock, std::condition_variable& not_empty,
                      std::size_t& waiting_consumers,
                      std::optional<std::chrono::steady_clock::time_point> wake_at, Ready ready) {
  if (ready()) return;
  ++waiting_consumers;
  if (wake_at) {
    not_empty.wait_until(lock, *wake_at, ready);
  } else {
    not_empty.wait(lock, ready);
  }
  --waiting_consumers;
}

}  // namespace invalidator::pipeline
