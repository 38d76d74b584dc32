#pragma once

#include <span>

#include "invalidator/sdk/cache.hpp"
#include "invalidator/sdk/invalidation.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::sdk {

// Applies invalidations to a cache. The core batches, retries with backoff and dead-letters;
// a sink only applies a batch and reports what happened.
//
// Contract (checked by sdk/testing's conformance suite):
// - deliver() is called by at most concurrency() threads at once, each with its own keys
//   (a key always goes to the same thread), items of a batch in order;
// - each invalidation carries its version, commit time and origin (table, op, source,
//   route), and each call a DeliveryContext: the batch's id, the same while that batch is
//   retried as it was, and the attempt;
// - a sink answers ok, retry (nothing or not all applied: the whole batch again, after a
//   delay it may suggest), partial (per item: retryable or not), or failed (nothing applied
//   and retrying cannot help: every item is dead-lettered);
// - applying the same invalidation twice is harmless;
// - stop() may be called from another thread while deliver() runs: deliver() then returns
//   promptly, reporting what it did not apply as retry; once stopped, deliver() applies
//   nothing and answers retry.
class Sink {
 public:
  virtual ~Sink() = default;
  // Connect, load scripts... An error here fails the pipeline start.
  virtual Status start() { return Status::success(); }
  virtual DeliveryResult deliver(std::span<const Invalidation> batch, const DeliveryContext& context) = 0;
  virtual void stop() {}
  // How many deliver() calls may run at once (the core caps `lanes` by it). A sink holding
  // one connection says 1; a thread-safe one, or one with a pool, says more.
  virtual std::size_t concurrency() const { return 1; }
  // The in-process cache behind this sink, for sinks that are one (the memory sink).
  virtual Cache* cache() { return nullptr; }
};

}  // namespace invalidator::sdk
