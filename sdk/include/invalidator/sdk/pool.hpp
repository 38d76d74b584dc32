#pragma once

#include <condition_variable>
#include <mutex>
#include <vector>

namespace invalidator::sdk {

// A fixed set of resources (a sink's connections) shared by concurrent deliver() calls:
// lease() waits for a free one and the lease gives it back when it ends. The pool does not
// own the resources; they must outlive it.
template <typename Resource>
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool& pool, Resource* resource) : pool_(&pool), resource_(resource) {}
    ~Lease() {
      if (resource_ != nullptr) pool_->give_back(resource_);
    }
    Lease(Lease&& other) noexcept : pool_(other.pool_), resource_(other.resource_) { other.resource_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;

    Resource& operator*() const { return *resource_; }
    Resource* operator->() const { return resource_; }

   private:
    Pool* pool_;
    Resource* resource_;
  };

  void add(Resource& resource) {
    std::lock_guard lock(mutex_);
    idle_.push_back(&resource);
  }

  Lease lease() {
    std::unique_lock lock(mutex_);
    returned_.wait(lock, [&] { return !idle_.empty(); });
    Resource* resource = idle_.back();
    idle_.pop_back();
    return Lease(*this, resource);
  }

 private:
  void give_back(Resource* resource) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(resource);
    }
    returned_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<Resource*> idle_;
};

}  // namespace invalidator::sdk
