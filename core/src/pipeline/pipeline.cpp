#include "pipeline/pipeline.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace invalidator::pipeline {

class Pipeline::SourceEmitter final : public sdk::Emitter {
 public:
  SourceEmitter(Pipeline& pipeline, std::uint32_t source, SourceMetrics& metrics)
      : pipeline_(pipeline), source_(source), metrics_(metrics), stop_(pipeline.stop_.get_token()) {}

  sdk::EmitResult try_emit(sdk::RawMessage& message, Deadline deadline) override {
    WorkItem item{source_, false, std::move(message), nullptr};
    auto result = push(item, deadline);
    if (result != sdk::EmitResult::accepted) {
      message = std::move(item.raw);
    } else {
      metrics_.received.fetch_add(1, std::memory_order_relaxed);
    }
    return result;
  }
  sdk::EmitResult try_emit(sdk::ChangeEvent& event, Deadline deadline) override {
    WorkItem item{source_, false, {}, std::make_unique<sdk::ChangeEvent>(std::move(event))};
    item.raw.position = item.event->position;
    auto result = push(item, deadline);
    if (result != sdk::EmitResult::accepted) {
      event = std::move(*item.event);
    } else {
      metrics_.received.fetch_add(1, std::memory_order_relaxed);
    }
    return result;
  }
  void report_lag(std::string_view stream, std::uint64_t lag, sdk::LagUnit unit) override {
    metrics_.report_lag(stream, lag, unit);
  }
  void report_connection(bool connected, std::string_view reason) override {
    metrics_.report_connection(connected, reason);
  }
  sdk::EmitResult try_emit_position(const sdk::Position& position, Deadline deadline) override {
    WorkItem item{source_, true, {}, nullptr};
    item.raw.position = position;
    return push(item, deadline);
  }

 private:
  // By reference down to the queue's slot: a work item is moved once, into the slot, and not
  // at all when there is no room before the deadline.
  sdk::EmitResult push(WorkItem& item, Deadline deadline) {
    auto& queue = pipeline_.worker_for(source_, item.raw.position.stream).input;
    std::optional<Deadline> until;
    if (deadline != Deadline::max()) until = deadline;
    switch (queue.push_until(std::move(item), stop_, until)) {
      case BoundedQueue<WorkItem>::Push::pushed: return sdk::EmitResult::accepted;
      case BoundedQueue<WorkItem>::Push::full: return sdk::EmitResult::full;
      case BoundedQueue<WorkItem>::Push::closed: break;
    }
    return sdk::EmitResult::stopping;
  }
  Pipeline& pipeline_;
  std::uint32_t source_;
  SourceMetrics& metrics_;
  // Kept, and passed on by reference: a copy of a token is an atomic increment and decrement
  // of the stop state every thread shares, a cache line fetched from another core per push.
  std::stop_token stop_;
};

Pipeline::Pipeline(config::EngineSettings settings, std::vector<SourceSlot> sources, std::vector<SinkSlot> sinks,
                   route::Router router, std::unique_ptr<DeadLetterFile> dead_letter,
                   std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)),
      settings_(std::move(settings)),
      sources_(std::move(sources)),
      sinks_(std::move(sinks)),
      dead_letter_(std::move(dead_letter)) {
  std::size_t worker_count = settings_.decode_threads;
  if (worker_count == 0) {
    // A core is left to the sources, whose transports have threads of their own (librdkafka
    // runs one per broker); docs/performance.md has the Kafka runs with a second decode thread.
    const std::size_t cores = std::thread::hardware_concurrency();
    worker_count = std::clamp<std::size_t>(cores > 1 ? cores - 1 : 1, 1, 4);
  }
  // The queues share engine.queue_capacity: memory stays bounded by it, however many workers.
  const std::size_t capacity = std::max<std::size_t>(1, settings_.queue_capacity / worker_count);
  // Only the columns routes read are decoded. No route at all (a replay of dead-lettered
  // invalidations) reads none, so a placeholder name keeps the filter on.
  auto columns = router.used_columns();
  if (columns.empty()) columns.emplace_back();
  for (std::size_t i = 0; i < worker_count; ++i) {
    workers_.push_back(std::make_unique<RouterWorker>(capacity, router));
    workers_.back()->decoder.set_columns(columns);
    workers_.back()->decoder.set_always_decode_key(false);
  }
  for (const auto& slot : sources_) source_ids_.push_back(slot.id);
  for (const auto& slot : sinks_) sink_ids_.push_back(slot.id);
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    sdk::Source* source = sources_[i].source.get();
    const std::string& id = sources_[i].id;
    const sdk::Completion completion = source->completion();
    trackers_.push_back(std::make_unique<AckTracker>(
        [this, source, &id, completion](const sdk::Position& position) {
          try {
            if (completion == sdk::Completion::individual) {
              source->complete(position);
            } else {
              source->acknowledge(position);
            }
          } catch (const std::exception& error) {
            logger_->error("[source {}] acknowledging {}/{} threw: {}", id, position.stream, position.offset, error.what());
          } catch (...) {
            logger_->error("[source {}] acknowledging {}/{} threw an unknown exception", id, position.stream,
                          position.offset);
          }
        },
        completion, settings_.max_unacknowledged));
    source_metrics_.push_back(std::make_unique<SourceMetrics>());
    emitters_.push_back(std::make_unique<SourceEmitter>(*this, static_cast<std::uint32_t>(i), *source_metrics_.back()));
  }
  for (auto& slot : sinks_) {
    std::size_t count = std::max<std::size_t>(1, std::min(slot.settings.lanes, slot.sink->concurrency()));
    if (count < slot.settings.lanes) {
      logger_->warn("[sink {}] lanes = {}, but this sink takes {} delivery at a time: using {}", slot.id,
                   slot.settings.lanes, slot.sink->concurrency(), count);
    }
    sink_lanes_.push_back(LaneRange{lanes_.size(), count});
    for (std::size_t i = 0; i < count; ++i) {
      std::string name = count == 1 ? slot.id : slot.id + "#" + std::to_string(i);
      lanes_.push_back(std::make_unique<SinkLane>(
          std::move(name), slot.id, *slot.sink, slot.settings,
          std::max<std::size_t>(settings_.queue_capacity, slot.settings.batch.max_events), *dead_letter_, source_ids_,
          counters_, settings_.batch_scheduling, logger_, [this](const std::string& error) { fail(error); }));
    }
  }
}

std::vector<const SinkMetrics*> Pipeline::sink_metrics(std::size_t index) const {
  std::vector<const SinkMetrics*> out;
  const LaneRange& range = sink_lanes_.at(index);
  for (std::size_t i = 0; i < range.count; ++i) out.push_back(&lanes_[range.first + i]->metrics());
  return out;
}

std::size_t Pipeline::sink_queue_depth(std::size_t index) const {
  std::size_t depth = 0;
  const LaneRange& range = sink_lanes_.at(index);
  for (std::size_t i = 0; i < range.count; ++i) depth += lanes_[range.first + i]->queued();
  return depth;
}

std::size_t Pipeline::decode_queue_depth() const {
  std::size_t depth = 0;
  for (const auto& worker : workers_) depth += worker->input.size();
  return depth;
}

Pipeline::~Pipeline() {
  request_stop();
  if (started_) wait();
}

sdk::Status Pipeline::start() {
  if (started_) return sdk::Status::error("the engine was started already; an engine runs once");
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    auto started = sinks_[i].sink->start();
    if (!started) {
      for (std::size_t k = 0; k < i; ++k) sinks_[k].sink->stop();
      return sdk::Status::error("sink '" + sinks_[i].id + "' failed to start: " + started.message());
    }
  }
  for (auto& lane : lanes_) lane->start();
  workers_running_ = workers_.size();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->thread = std::thread([this, i] {
      prepare_thread(workers_.size() == 1 ? "inv-router" : "inv-router-" + std::to_string(i),
                     settings_.batch_scheduling);
      run_router(*workers_[i]);
    });
  }
  source_finished_.assign(sources_.size(), false);
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    source_threads_.emplace_back([this, i] {
      prepare_thread("inv-src-" + sources_[i].id, settings_.batch_scheduling);
      run_source(i, stop_.get_token());
      std::lock_guard guard(sources_mutex_);
      source_finished_[i] = true;
      sources_changed_.notify_all();
    });
  }
  started_ = true;
  return sdk::Status::success();
}

void Pipeline::run_source(std::size_t index, std::stop_token stop) {
  const std::string& id = sources_[index].id;
  sdk::Backoff backoff(settings_.source_restart_backoff, settings_.source_restart_max_backoff, index + 1);
  sdk::Status status = sdk::Status::success();
  SourceMetrics& metrics = *source_metrics_[index];
  for (;;) {
    metrics.set_state(SourceState::running);
    status = run_source_once(index, stop);
    if (status.ok() || stop.stop_requested() || !status.is_transient()) break;
    metrics.set_state(SourceState::reconnecting, status.message());
    // Transient: the source resumes from what its transport committed, which only moves
    // behind acknowledgements, so nothing in between is lost.
    const auto delay = backoff.next();
    counters_.source_restarts.fetch_add(1, std::memory_order_relaxed);
    metrics.restarts.fetch_add(1, std::memory_order_relaxed);
    logger_->warn("[source {}] failed: {}; starting it again in {} ms (restart {})", id, status.message(), delay.count(),
                 backoff.failures());
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    if (wake.wait_for(lock, stop, delay, [] { return false; }) || stop.stop_requested()) break;
  }
  const bool failed = !status.ok() && !(status.is_transient() && stop.stop_requested());
  metrics.set_state(failed ? SourceState::failed : SourceState::finished, failed ? status.message() : std::string());
  if (failed) {
    fail("source '" + id + "' failed: " + status.message());
  } else if (status.ok() && !stop.stop_requested()) {
    logger_->info("[source {}] finished", id);
  }
}

sdk::Status Pipeline::run_source_once(std::size_t index, std::stop_token stop) {
  try {
    return sources_[index].source->run(*emitters_[index], stop);
  } catch (const std::exception& error) {
    return sdk::Status::error(std::string("the source threw: ") + error.what());
  } catch (...) {
    return sdk::Status::error("the source threw an unknown exception");
  }
}

Pipeline::RouterWorker& Pipeline::worker_for(std::uint32_t source, std::uint64_t stream) {
  if (workers_.size() == 1) return *workers_.front();
  // Mixed so that partition 0 of every source does not land on one worker.
  std::uint64_t mixed = (stream + 0x9e3779b97f4a7c15ULL * (source + 1)) * 0xbf58476d1ce4e5b9ULL;
  return *workers_[(mixed >> 32) % workers_.size()];
}

void Pipeline::close_inputs() {
  for (auto& worker : workers_) worker->input.close();
}

void Pipeline::run_router(RouterWorker& worker) {
  std::vector<WorkItem> batch;
  worker.pending_lane_batches.resize(lanes_.size());
  while (worker.input.pop_batch(batch, 256) > 0) {
    open_positions(worker, batch);
    for (std::size_t i = 0; i < batch.size(); ++i) process(worker, batch[i], *worker.entries[i]);
    // Counted once per batch: an atomic add per event is a cache line fetched from whichever
    // core read the counters last.
    counters_.messages.fetch_add(batch.size(), std::memory_order_relaxed);
    counters_.events.fetch_add(std::exchange(worker.events, 0), std::memory_order_relaxed);
    counters_.invalidations.fetch_add(std::exchange(worker.invalidations, 0), std::memory_order_relaxed);
    flush_lane_items(worker);  // the processed messages go back with the next pop_batch
    write_dead_letters(worker);
  }
  // The last worker out tells the lanes that no more input comes.
  write_dead_letters(worker);
  if (workers_running_.fetch_sub(1) == 1) {
    for (auto& lane : lanes_) lane->close();
  }
}

void Pipeline::open_positions(RouterWorker& worker, const std::vector<WorkItem>& batch) {
  // One lock per run of messages from one source, instead of one per message.
  worker.positions.clear();
  for (const auto& item : batch) worker.positions.push_back(item.raw.position);
  worker.entries.resize(batch.size());
  std::size_t run = 0;
  for (std::size_t i = 1; i <= batch.size(); ++i) {
    if (i < batch.size() && batch[i].source == batch[run].source) continue;
    trackers_[batch[run].source]->open_all(std::span(worker.positions).subspan(run, i - run), &worker.entries[run]);
    run = i;
  }
}

void Pipeline::process(RouterWorker& worker, WorkItem& item, AckTracker::Entry& opened) {
  AckTracker& tracker = *trackers_[item.source];
  const std::string& source_id = source_ids_[item.source];
  sdk::ChangeEvent& decoded = worker.decoded;
  const sdk::ChangeEvent* event = nullptr;
  AckTracker::Entry* entry = &opened;

  if (item.position_only) {
    tracker.release(*entry);
    return;
  }
  if (!item.event) {
    sdk::RawMessage* raw = &item.raw;
    if (raw->value && is_dead_letter(*raw->value)) {
      // A dead-letter file replayed: an invalidation goes to its sink as it is, a message is
      // decoded as it was first received.
      auto record = read_dead_letter(*raw->value);
      if (!record) {
        keep_undecodable(worker, item, *raw, "unreadable dead letter: " + record.error(), *entry);
        return;
      }
      if (record->kind == DeadLetterRecord::Kind::invalidation) {
        replay_invalidation(worker, item, *raw, std::move(record).value(), *entry);
        return;
      }
      raw->topic = std::move(record->message.topic);
      raw->key = std::move(record->message.key);
      raw->value = std::move(record->message.value);
      raw->headers = std::move(record->message.headers);
    }
    auto result = worker.decoder.decode(*raw, decoded);
    if (result.status == codec::DecodeStatus::skipped) {
      counters_.skipped.fetch_add(1, std::memory_order_relaxed);
      source_metrics_[item.source]->skipped[static_cast<std::size_t>(result.skip_reason)].fetch_add(
          1, std::memory_order_relaxed);
      logger_->debug("[source {}] skipped {} at {}/{}", source_id, result.reason, raw->position.stream,
                     raw->position.offset);
      tracker.release(*entry);
      return;
    }
    if (result.status == codec::DecodeStatus::failed) {
      keep_undecodable(worker, item, *raw, std::string(result.reason) + (result.detail.empty() ? "" : ": " + result.detail),
                       *entry);
      return;
    }
    event = &decoded;
  } else {
    event = item.event.get();
  }
  ++worker.events;

  auto& routed = worker.routed;
  routed.clear();
  worker.router.route(item.source, *event, routed);
  for (const auto& problem : worker.router.take_new_problems()) {
    logger_->warn("{}. Reported once, counted each time (the stats line's unrendered keys)", problem.describe());
  }
  for (const auto& problem : worker.router.take_new_changed_problems()) {
    logger_->warn("{}. Reported once", problem.describe());
  }
  worker.invalidations += routed.size();
  const std::string* topic = routed.empty() ? nullptr : intern_topic(worker, event->topic);
  // One hold per invalidation, taken at once: the lanes cannot release any before the opener's
  // hold below is released.
  if (!routed.empty()) tracker.retain(*entry, static_cast<std::int64_t>(routed.size()));
  for (auto& routed_item : routed) {
    queue_for_lanes(worker, routed_item.sink, std::move(routed_item.invalidation),
                    ItemOrigin{&tracker, entry, topic, item.source, static_cast<std::uint32_t>(routed_item.route),
                               routed_item.redelete_after});
  }
  tracker.release(*entry);
}

std::size_t Pipeline::lane_for(std::size_t sink, std::string_view key) const {
  const LaneRange& range = sink_lanes_[sink];
  if (range.count == 1) return range.first;
  return range.first + std::hash<std::string_view>{}(key) % range.count;
}

void Pipeline::queue_for_lanes(RouterWorker& worker, std::size_t sink, sdk::Invalidation&& invalidation,
                               const ItemOrigin& origin) {
  const LaneRange& range = sink_lanes_[sink];
  auto add = [&](std::size_t lane, sdk::Invalidation&& added) {
    LaneBatch& pending = worker.pending_lane_batches[lane];
    pending.add(std::move(added), origin);
    if (pending.size() >= lanes_[lane]->max_batch()) push_to_lane(worker, lane);
  };
  if (invalidation.action == sdk::Action::delete_pattern && range.count > 1) {
    // A pattern reaches keys of every lane: each lane applies it at its place in its order.
    for (std::size_t lane = range.first + 1; lane < range.first + range.count; ++lane) {
      origin.tracker->retain(*origin.entry);
      add(lane, sdk::Invalidation(invalidation));
    }
    add(range.first, std::move(invalidation));
    return;
  }
  add(lane_for(sink, invalidation.key), std::move(invalidation));
}

void Pipeline::push_to_lane(RouterWorker& worker, std::size_t lane) {
  LaneBatch& pending = worker.pending_lane_batches[lane];
  // A lane refuses only once aborted at the shutdown deadline: what it refused stays
  // unacknowledged, to be re-delivered after a restart.
  if (!lanes_[lane]->push(pending)) pending.clear();
}

const std::string* Pipeline::intern_topic(RouterWorker& worker, const std::string& topic) {
  // Consecutive messages nearly always share a topic: a comparison spares the hash lookup.
  if (worker.last_topic == nullptr || *worker.last_topic != topic) {
    worker.last_topic = &*worker.topics.insert(topic).first;
  }
  return worker.last_topic;
}

void Pipeline::flush_lane_items(RouterWorker& worker) {
  for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
    if (!worker.pending_lane_batches[lane].empty()) push_to_lane(worker, lane);
  }
}

void Pipeline::keep_undecodable(RouterWorker& worker, const WorkItem& item, const sdk::RawMessage& raw,
                                const std::string& error, AckTracker::Entry& entry) {
  const std::string& source_id = source_ids_[item.source];
  counters_.malformed.fetch_add(1, std::memory_order_relaxed);
  source_metrics_[item.source]->undecodable.fetch_add(1, std::memory_order_relaxed);
  if (dead_letter_->enabled()) {
    logger_->warn("[source {}] message at {}/{} (topic '{}') cannot be decoded, dead-lettered: {}", source_id,
                  raw.position.stream, raw.position.offset, raw.topic, error);
    worker.dead_letter_lines += dead_letter_line(DeadLetterOrigin{source_id, raw.topic, raw.position}, raw, error);
    worker.dead_lettered_entries.push_back(&entry);
    worker.dead_lettered_sources.push_back(item.source);
    return;
  }
  // engine.on_error = "stop": the position stays held, so that nothing after it is
  // acknowledged; a source that completes messages one by one gets it back.
  if (sources_[item.source].source->completion() == sdk::Completion::individual) {
    reject(item.source, raw.position, error);
  }
  fail("source '" + source_id + "': the message at topic '" + raw.topic + "', stream (partition) " +
       std::to_string(raw.position.stream) + ", offset " + std::to_string(raw.position.offset) +
       " cannot be decoded: " + error + "; engine.on_error = \"stop\", so the pipeline stops without acknowledging it");
}

void Pipeline::write_dead_letters(RouterWorker& worker) {
  if (worker.dead_lettered_entries.empty()) return;
  sdk::Backoff backoff(settings_.source_restart_backoff, settings_.source_restart_max_backoff, 7);
  auto abort = abort_.get_token();
  for (;;) {
    auto written = dead_letter_->append(worker.dead_letter_lines);
    if (written) break;
    counters_.dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
    const auto delay = backoff.next();
    if (backoff.failures() == 1 || backoff.failures() % 10 == 0) {
      logger_->error("{} undecodable messages cannot be dead-lettered, so their source positions are held: {}; "
                     "retrying in {} ms (attempt {})",
                     worker.dead_lettered_entries.size(), written.message(), delay.count(), backoff.failures());
    }
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    wake.wait_for(lock, abort, delay, [] { return false; });
    if (abort.stop_requested()) {
      // Not kept: the positions stay unacknowledged, to be read again after a restart.
      worker.dead_letter_lines.clear();
      worker.dead_lettered_entries.clear();
      worker.dead_lettered_sources.clear();
      return;
    }
  }
  for (std::size_t i = 0; i < worker.dead_lettered_entries.size(); ++i) {
    trackers_[worker.dead_lettered_sources[i]]->release(*worker.dead_lettered_entries[i]);
  }
  worker.dead_letter_lines.clear();
  worker.dead_lettered_entries.clear();
  worker.dead_lettered_sources.clear();
}

void Pipeline::fail(const std::string& error) {
  logger_->error("{}", error);
  {
    std::lock_guard guard(status_mutex_);
    if (failure_.empty()) failure_ = error;
  }
  request_stop();
}

void Pipeline::replay_invalidation(RouterWorker& worker, const WorkItem& item, const sdk::RawMessage& raw,
                                   DeadLetterRecord record, AckTracker::Entry& entry) {
  AckTracker& tracker = *trackers_[item.source];
  auto sink = std::find(sink_ids_.begin(), sink_ids_.end(), record.sink);
  if (sink == sink_ids_.end()) {
    keep_undecodable(worker, item, raw,
                     "a replayed invalidation names sink '" + record.sink + "', which this pipeline does not have",
                     entry);
    return;
  }
  counters_.invalidations.fetch_add(1, std::memory_order_relaxed);
  tracker.retain(entry);
  const std::string* topic = intern_topic(worker, record.message.topic);
  queue_for_lanes(worker, static_cast<std::size_t>(sink - sink_ids_.begin()), std::move(record.invalidation),
                  ItemOrigin{&tracker, &entry, topic, item.source, static_cast<std::uint32_t>(record.route),
                             std::chrono::milliseconds{0}});
  tracker.release(entry);
}

void Pipeline::reject(std::uint32_t source, const sdk::Position& position, const std::string& reason) {
  try {
    sources_[source].source->reject(position, reason);
  } catch (const std::exception& error) {
    logger_->error("[source {}] reject threw: {}", source_ids_[source], error.what());
  } catch (...) {
    logger_->error("[source {}] reject threw an unknown exception", source_ids_[source]);
  }
}

void Pipeline::request_stop() {
  if (stop_.stop_requested()) return;
  stop_.request_stop();
  if (!started_) return;
  std::lock_guard guard(watchdog_mutex_);
  watchdog_ = std::jthread([this](std::stop_token cancelled) { abort_after_deadline(cancelled); });
}

void Pipeline::abort_after_deadline(std::stop_token cancelled) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  if (wake.wait_for(lock, cancelled, settings_.shutdown_timeout, [] { return false; })) return;
  if (cancelled.stop_requested()) return;
  logger_->warn("shutdown_timeout ({} ms) passed: {} positions stay unacknowledged and will be re-delivered",
               settings_.shutdown_timeout.count(), outstanding());
  abort_.request_stop();
  for (auto& tracker : trackers_) tracker->abort();
  {
    std::lock_guard guard(sources_mutex_);
    sources_changed_.notify_all();  // join_sources() stops waiting for a source that hangs
  }
  for (auto& lane : lanes_) lane->abort();
  for (auto& slot : sinks_) slot.sink->stop();
  close_inputs();
}

void Pipeline::join_sources() {
  {
    std::unique_lock lock(sources_mutex_);
    auto abort = abort_.get_token();
    sources_changed_.wait(lock, [&] {
      return abort.stop_requested() || std::all_of(source_finished_.begin(), source_finished_.end(), [](bool f) { return f; });
    });
  }
  for (std::size_t i = 0; i < source_threads_.size(); ++i) {
    bool finished = false;
    {
      std::lock_guard guard(sources_mutex_);
      finished = source_finished_[i];
    }
    if (finished) {
      source_threads_[i].join();
      continue;
    }
    // Its emitter refuses from now on: the queues are closed.
    close_inputs();
    abandoned_sources_ = true;
    fail("source '" + sources_[i].id + "' did not stop within shutdown_timeout (" +
         std::to_string(settings_.shutdown_timeout.count()) + " ms): its thread is left running and the engine stops "
         "without it; its plugin should return from run() when its stop token is signalled");
    source_threads_[i].detach();
  }
}

sdk::Status Pipeline::wait() {
  if (!started_) return sdk::Status::error("the pipeline was not started");
  if (!waited_.exchange(true)) {
    join_sources();
    close_inputs();
    for (auto& worker : workers_) worker->thread.join();
    for (auto& lane : lanes_) lane->join();
    for (auto& slot : sinks_) slot.sink->stop();
    std::jthread watchdog;
    {
      std::lock_guard guard(watchdog_mutex_);
      watchdog = std::move(watchdog_);
    }
    if (watchdog.joinable()) {
      watchdog.request_stop();
      watchdog.join();
    }
  }
  std::lock_guard guard(status_mutex_);
  if (!failure_.empty()) return sdk::Status::error(failure_);
  return sdk::Status::success();
}

std::uint64_t Pipeline::acknowledged() const {
  std::uint64_t total = 0;
  for (const auto& tracker : trackers_) total += tracker->acknowledged();
  return total;
}

std::size_t Pipeline::outstanding() const {
  std::size_t total = 0;
  for (const auto& tracker : trackers_) total += tracker->outstanding();
  return total;
}

sdk::Sink* Pipeline::sink(std::string_view id) {
  for (auto& slot : sinks_) {
    if (slot.id == id) return slot.sink.get();
  }
  return nullptr;
}

}  // namespace invalidator::pipeline
