#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/pipeline_config.hpp"
#include "invalidator/sdk/backoff.hpp"
#include "invalidator/sdk/sink.hpp"
#include "pipeline/ack_tracker.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/coalescer.hpp"
#include "pipeline/lane_batch.hpp"
#include "pipeline/lane_queue.hpp"
#include "pipeline/sink_metrics.hpp"
#include "pipeline/stats.hpp"

namespace invalidator::pipeline {

// Feeds one sink: batches, coalesces duplicate keys, retries with backoff, gives up on what
// fails for good (dead-lettered, or the pipeline stopped), and releases the acknowledgement
// holds of what it finished.
class SinkLane {
 public:
  // Called once when an invalidation fails for good and there are no dead letters
  // (engine.on_error = "stop"); the lane then delivers nothing more.
  using StopPipeline = std::function<void(const std::string& error)>;
  // `name` tells lanes of one sink apart in logs ("cache#2"); `sink_id` is the sink's id.
  SinkLane(std::string name, std::string sink_id, sdk::Sink& sink, const config::SinkSettings& settings,
           std::size_t capacity, DeadLetterFile& dead_letter, const std::vector<std::string>& source_ids,
           Counters& counters, bool batch_scheduling, std::shared_ptr<spdlog::logger> logger,
           StopPipeline stop_pipeline = {});
  ~SinkLane();

  void start();
  // Queues what `batch` holds and leaves it empty; false once the lane was aborted.
  bool push(LaneBatch& batch);
  // The most invalidations the lane hands to its sink at once (batch.max_events): a batch
  // pushed is at most this large.
  std::size_t max_batch() const { return batch_.max_events; }
  // No more input: deliver what is queued, then end.
  void close() { queue_.close(); }
  // Give up on what is not delivered yet (shutdown deadline): it stays unacknowledged.
  void abort();
  void join();
  // What this lane did, for /metrics (read from any thread).
  const SinkMetrics& metrics() const { return metrics_; }
  // Invalidations queued, not yet handed to the sink.
  std::size_t queued() const { return queue_.size(); }

 private:
  void run();
  // Second deletes due now, counted up to `at_most`.
  std::size_t due_redeletes(std::size_t at_most) const;
  void take_due_redeletes(LaneBatch& batch);
  // Coalesces, delivers in chunks of at most batch.max_bytes, and releases what was settled.
  void deliver(LaneBatch& batch);
  // The end of the chunk starting at `begin` (batch.max_bytes).
  std::size_t chunk_end(const std::vector<sdk::Invalidation>& unique, std::size_t begin) const;
  // Delivers unique[begin, end) until each is delivered or dead-lettered, with retries and
  // backoff; false when the lane was aborted first.
  bool deliver_until_settled(const LaneBatch& batch, std::size_t begin, std::size_t end);
  // Applies a sink's answer to remaining_: marks what is done, gives up on what failed for
  // good, leaves what is to be retried. Returns why something remains.
  std::string settle(const LaneBatch& batch, const sdk::DeliveryResult& result);
  // An invalidation failed for good: its dead letter is queued for write_dead_letters(), or,
  // without dead letters, the pipeline is to stop.
  void give_up(const LaneBatch& batch, std::size_t unique_index, const std::string& reason);
  // Writes the queued dead letters and flushes them to disk, then counts them done; a failed
  // write is retried with backoff, the positions behind it held. False when aborted first.
  bool write_dead_letters(const LaneBatch& batch);
  const ItemOrigin& first_origin_of(const LaneBatch& batch, std::size_t unique_index) const;
  // Releases the acknowledgement holds of what was settled, scheduling second deletes.
  void release_settled(LaneBatch& batch);
  sdk::DeliveryResult deliver_guarded(std::span<const sdk::Invalidation> batch, const sdk::DeliveryContext& context);
  // Counts, by action, the invalidations of `batch` at `indices` as delivered or dead-lettered.
  void count_by_action(const LaneBatch& batch, const std::vector<std::size_t>& indices,
                       std::array<std::atomic<std::uint64_t>, kActionCount>& counts);
  // How long after its commit each settled invalidation of the batch was settled.
  void record_staleness(const std::vector<sdk::Invalidation>& unique);
  bool wait_unless_aborted(std::chrono::milliseconds delay);
  std::uint64_t next_batch_id();

  std::string name_;
  std::string sink_id_;
  sdk::Sink& sink_;
  config::BatchSettings batch_;
  config::RetrySettings retry_;
  sdk::Backoff backoff_;
  bool log_invalidations_;
  LaneQueue queue_;
  DeadLetterFile& dead_letter_;
  const std::vector<std::string>& source_ids_;
  Counters& counters_;
  SinkMetrics metrics_;
  admin::Histogram::Tally staleness_tally_{kStalenessSecondsBuckets};
  std::vector<std::size_t> counted_;  // scratch of count_by_action's callers
  bool batch_scheduling_;
  std::shared_ptr<spdlog::logger> logger_;
  StopPipeline stop_pipeline_;
  std::string fatal_;  // why the pipeline is to stop (engine.on_error = "stop")
  std::string dead_letter_lines_;  // written after each delivery attempt, one write and fsync
  std::vector<std::pair<std::size_t, std::string>> dead_lettering_;  // unique index, reason
  // Second deletes waiting for their time (stale-set cure), in due order.
  struct Redelete {
    sdk::Invalidation invalidation;
    ItemOrigin origin;
  };
  std::multimap<std::chrono::steady_clock::time_point, Redelete> redeletes_;
  bool redeletes_went_last_ = false;  // batches of one: whose turn it is
  // Per-batch scratch, kept to avoid allocating for every batch.
  Coalescer coalescer_;
  std::vector<std::size_t> remaining_;  // unique indices not settled yet, in batch order
  std::vector<std::size_t> still_;
  enum class Outcome : std::uint8_t { applied, retry, gave_up };
  std::vector<Outcome> outcome_;
  std::unordered_set<std::string_view> retried_keys_;
  std::vector<bool> done_;
  std::vector<sdk::Invalidation> retrying_;
  std::vector<std::pair<AckTracker*, std::uint64_t>> completed_;  // streams to sweep after a batch
  std::stop_source abort_;
  std::thread thread_;
  // Delivery ids: a random start, so that ids of two runs do not meet at a receiver.
  std::uint64_t batch_id_base_;
  std::uint64_t batches_ = 0;
};

}  // namespace invalidator::pipeline
