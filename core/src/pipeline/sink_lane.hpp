#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/pipeline_config.hpp"
#include "invalidator/sdk/sink.hpp"
#include "pipeline/ack_tracker.hpp"
#include "pipeline/bounded_queue.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/key_index.hpp"
#include "pipeline/stats.hpp"

namespace invalidator::pipeline {

struct LaneItem {
  sdk::Invalidation invalidation;
  AckTracker* tracker = nullptr;
  AckTracker::Entry* entry = nullptr;
  const std::string* topic = nullptr;  // interned by the pipeline, lives as long as it
  std::uint32_t source = 0;
  std::uint32_t route = 0;
  std::chrono::milliseconds redelete_after{0};
};

// Feeds one sink: batches, coalesces duplicate keys, retries with backoff, dead-letters,
// and releases the acknowledgement holds of what it finished.
class SinkLane {
 public:
  // `name` tells lanes of one sink apart in logs ("cache#2"); `sink_id` is the sink's id.
  SinkLane(std::string name, std::string sink_id, sdk::Sink& sink, const config::SinkSettings& settings,
           std::size_t capacity, DeadLetterFile& dead_letter, const std::vector<std::string>& source_ids,
           Counters& counters);
  ~SinkLane();

  void start();
  // Pushes and empties `items`; false once the lane was aborted.
  bool push_all(std::vector<LaneItem>& items);
  // No more input: deliver what is queued, then end.
  void close() { queue_.close(); }
  // Give up on what is not delivered yet (shutdown deadline): it stays unacknowledged.
  void abort();
  void join();

 private:
  void run();
  void take_due_redeletes(std::vector<LaneItem>& items);
  void deliver(std::vector<LaneItem>& items);
  sdk::DeliveryResult deliver_guarded(std::span<const sdk::Invalidation> batch);
  std::chrono::milliseconds backoff(int attempt, std::chrono::milliseconds hint);

  std::string name_;
  std::string sink_id_;
  sdk::Sink& sink_;
  config::BatchSettings batch_;
  config::RetrySettings retry_;
  bool log_invalidations_;
  BoundedQueue<LaneItem> queue_;
  DeadLetterFile& dead_letter_;
  const std::vector<std::string>& source_ids_;
  Counters& counters_;
  // Second deletes waiting for their time (stale-set cure), in due order.
  std::multimap<std::chrono::steady_clock::time_point, LaneItem> redeletes_;
  // Per-batch scratch, kept to avoid allocating for every batch.
  KeyIndex nearest_later_;
  std::vector<std::size_t> owner_, reversed_owner_;
  std::vector<sdk::Invalidation> unique_;
  std::vector<std::uint64_t> versions_;
  std::vector<bool> filled_;
  std::vector<std::pair<AckTracker*, std::uint64_t>> completed_;  // streams to sweep after a batch
  std::stop_source abort_;
  std::thread thread_;
  std::uint64_t jitter_state_ = 0x9e3779b97f4a7c15ULL;
};

}  // namespace invalidator::pipeline
