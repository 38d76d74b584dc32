#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace invalidator::pipeline {

// A first-in first-out buffer whose slots are reused: once it has grown to the depth a queue
// reaches, pushing and popping allocate nothing. (std::deque allocates a node per element
// for elements over 256 bytes, such as a pipeline's work items.) It grows by doubling, so a
// queue with a large capacity that is seldom full does not hold its capacity in memory.
template <typename T>
class RingBuffer {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  void push_back(T&& item) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(item);
    ++size_;
  }

  T& front() { return slots_[head_]; }

  // The slot keeps what it holds (a moved-from element, or a spent one a consumer swapped in),
  // which the next push into it frees or reuses.
  void pop_front() {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }

 private:
  void grow() {
    std::vector<T> larger(slots_.empty() ? 16 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) larger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(larger);
    head_ = 0;
  }

  std::vector<T> slots_;  // a power of two in size
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace invalidator::pipeline
