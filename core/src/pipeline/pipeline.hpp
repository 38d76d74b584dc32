#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>

#include "codec/debezium_decoder.hpp"
#include "config/pipeline_config.hpp"
#include "invalidator/sdk/backoff.hpp"
#include "invalidator/sdk/sink.hpp"
#include "invalidator/sdk/source.hpp"
#include "pipeline/ack_tracker.hpp"
#include "pipeline/bounded_queue.hpp"
#include "pipeline/dead_letter.hpp"
#include "pipeline/sink_lane.hpp"
#include "pipeline/source_metrics.hpp"
#include "pipeline/stats.hpp"
#include "pipeline/threads.hpp"
#include "route/router.hpp"

namespace invalidator::pipeline {

struct SourceSlot {
  std::string id;
  std::unique_ptr<sdk::Source> source;
};

struct SinkSlot {
  std::string id;
  std::unique_ptr<sdk::Sink> sink;
  config::SinkSettings settings;
};

// Sources -> bounded queues -> decode and route (engine.decode_threads workers, streams
// spread over them) -> lanes of each sink -> ack trackers.
class Pipeline {
 public:
  // Logs through `logger`: the process's, or one an embedding service gave its engine.
  Pipeline(config::EngineSettings settings, std::vector<SourceSlot> sources, std::vector<SinkSlot> sinks,
           route::Router router, std::unique_ptr<DeadLetterFile> dead_letter,
           std::shared_ptr<spdlog::logger> logger = spdlog::default_logger());
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Starts the sinks, then the lanes, the router and the sources.
  sdk::Status start();
  // Asks the sources to stop; in-flight work is still delivered and acknowledged, until
  // engine.shutdown_timeout passes.
  void request_stop();
  // Until every source has ended and its work is drained (or the shutdown deadline passed).
  // An error if a source failed.
  sdk::Status wait();

  const Counters& counters() const { return counters_; }
  // The routes' counters (shared by every decode thread's copy of the router).
  const route::Router& router() const { return workers_.front()->router; }
  std::uint64_t acknowledged() const;
  std::size_t outstanding() const;
  sdk::Sink* sink(std::string_view id);
  const std::vector<std::string>& source_ids() const { return source_ids_; }
  // Whether a source's thread did not end by the shutdown deadline and was left running, its
  // emitter refusing everything. The thread still uses the pipeline, its source and plugin
  // library: an owner must then never destroy the pipeline nor unload the library (the
  // engine keeps them for the life of the process).
  bool abandoned_sources() const { return abandoned_sources_; }
  const std::vector<std::string>& sink_ids() const { return sink_ids_; }
  // The metrics of each lane of sink `index` (in sink_ids() order), to be summed.
  std::vector<const SinkMetrics*> sink_metrics(std::size_t index) const;
  // Invalidations queued for sink `index`'s lanes, not yet handed to the sink.
  std::size_t sink_queue_depth(std::size_t index) const;
  // Messages taken from the sources, not yet decoded.
  std::size_t decode_queue_depth() const;
  // What source `index` (in source_ids() order) handed over and how it stands.
  const SourceMetrics& source_metrics(std::size_t index) const { return *source_metrics_.at(index); }

 private:
  // A message from a source: bytes to decode, or an event the source decoded itself (the
  // PostgreSQL source's), which comes on the heap. Kept small: each one is written into a
  // queue slot by the source's thread and read by a decode thread, on two cores a cache line
  // fetched from the other core per 64 bytes (docs/performance.md measured an event inline).
  struct WorkItem {
    std::uint32_t source = 0;
    bool position_only = false;  // a marker: raw.position alone, nothing to decode
    sdk::RawMessage raw;
    std::unique_ptr<sdk::ChangeEvent> event;  // set: `raw` is unused

    friend void swap(WorkItem& a, WorkItem& b) noexcept {
      using std::swap;
      swap(a.source, b.source);
      swap(a.position_only, b.position_only);
      swap(a.raw, b.raw);
      a.event.swap(b.event);
    }
  };
  class SourceEmitter;
  // Joins the source threads, until the shutdown deadline once a stop was asked; a thread
  // still running then is detached (see abandoned_sources()).
  void join_sources();
  // A decode-and-route thread with what it alone touches. A stream (partition) of a source
  // always goes to the same worker, so its positions are opened in order and its keys keep
  // their order.
  struct RouterWorker {
    RouterWorker(std::size_t capacity, route::Router routes) : input(capacity), router(std::move(routes)) {}
    BoundedQueue<WorkItem> input;
    route::Router router;
    codec::DebeziumDecoder decoder;
    sdk::ChangeEvent decoded;  // reused: the worker decodes into it
    std::vector<route::RoutedInvalidation> routed;
    std::vector<sdk::Position> positions;        // of the input batch, opened at once
    std::vector<AckTracker::Entry*> entries;     // entries[i]: the opened position of batch[i]
    // Per lane, pushed once per input batch, or as soon as it holds a lane's delivery.
    std::vector<LaneBatch> pending_lane_batches;
    std::unordered_set<std::string> topics;  // interned for lane items
    const std::string* last_topic = nullptr;
    // Dead letters of the input batch, written and flushed to disk at once before the
    // positions behind them are released.
    std::string dead_letter_lines;
    std::vector<AckTracker::Entry*> dead_lettered_entries;
    std::vector<std::uint32_t> dead_lettered_sources;
    std::uint64_t events = 0;  // counted since the last batch, added to the pipeline's counters
    std::uint64_t invalidations = 0;
    std::thread thread;
  };

  // Runs a source, again after a backoff whenever it fails transiently.
  void run_source(std::size_t index, std::stop_token stop);
  sdk::Status run_source_once(std::size_t index, std::stop_token stop);
  void run_router(RouterWorker& worker);
  void open_positions(RouterWorker& worker, const std::vector<WorkItem>& batch);
  void process(RouterWorker& worker, WorkItem& item, AckTracker::Entry& entry);
  void flush_lane_items(RouterWorker& worker);
  // Counts a message that cannot be decoded and queues its dead letter, whose position is
  // released once write_dead_letters() kept it; with engine.on_error = "stop", stops the
  // pipeline instead, the position held.
  void keep_undecodable(RouterWorker& worker, const WorkItem& item, const sdk::RawMessage& raw,
                        const std::string& error, AckTracker::Entry& entry);
  // Writes and flushes the worker's dead letters, retrying with backoff while the write fails
  // (the positions held meanwhile), then releases their positions.
  void write_dead_letters(RouterWorker& worker);
  // Stops the pipeline with `error` as wait()'s result (the first one given).
  void fail(const std::string& error);
  void replay_invalidation(RouterWorker& worker, const WorkItem& item, const sdk::RawMessage& raw,
                           DeadLetterRecord record, AckTracker::Entry& entry);
  void abort_after_deadline(std::stop_token cancelled);
  void reject(std::uint32_t source, const sdk::Position& position, const std::string& reason);
  RouterWorker& worker_for(std::uint32_t source, std::uint64_t stream);
  static const std::string* intern_topic(RouterWorker& worker, const std::string& topic);
  void close_inputs();

  std::shared_ptr<spdlog::logger> logger_;
  config::EngineSettings settings_;
  std::vector<SourceSlot> sources_;
  std::vector<SinkSlot> sinks_;
  std::vector<std::string> source_ids_;
  std::vector<std::string> sink_ids_;
  std::unique_ptr<DeadLetterFile> dead_letter_;
  Counters counters_;

  std::vector<std::unique_ptr<RouterWorker>> workers_;
  std::atomic<std::size_t> workers_running_{0};
  std::vector<std::unique_ptr<AckTracker>> trackers_;
  std::vector<std::unique_ptr<SourceEmitter>> emitters_;
  std::vector<std::unique_ptr<SourceMetrics>> source_metrics_;  // by source index
  std::vector<std::unique_ptr<SinkLane>> lanes_;
  struct LaneRange {
    std::size_t first = 0;
    std::size_t count = 1;
  };
  std::vector<LaneRange> sink_lanes_;  // by sink index
  // The lane of `sink` that owns `key`: one key, one lane, so its order is kept.
  std::size_t lane_for(std::size_t sink, std::string_view key) const;
  void queue_for_lanes(RouterWorker& worker, std::size_t sink, sdk::Invalidation&& invalidation,
                       const ItemOrigin& origin);
  void push_to_lane(RouterWorker& worker, std::size_t lane);
  std::stop_source stop_;
  std::stop_source abort_;  // the shutdown deadline passed
  std::vector<std::thread> source_threads_;
  std::mutex sources_mutex_;
  std::condition_variable sources_changed_;
  std::vector<bool> source_finished_;  // by source index, under sources_mutex_
  bool abandoned_sources_ = false;
  std::mutex watchdog_mutex_;
  std::jthread watchdog_;
  std::mutex status_mutex_;
  std::string failure_;
  std::atomic<bool> started_{false};
  std::atomic<bool> waited_{false};
};

}  // namespace invalidator::pipeline
