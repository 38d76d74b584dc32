#include "pipeline/sink_lane.hpp"

#include "pipeline/threads.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>

#include <spdlog/spdlog.h>

namespace invalidator::pipeline {

SinkLane::SinkLane(std::string name, std::string sink_id, sdk::Sink& sink, const config::SinkSettings& settings,
                   std::size_t capacity, DeadLetterFile& dead_letter, const std::vector<std::string>& source_ids,
                   Counters& counters, bool batch_scheduling, std::shared_ptr<spdlog::logger> logger,
                   StopPipeline stop_pipeline)
    : name_(std::move(name)),
      sink_id_(std::move(sink_id)),
      sink_(sink),
      batch_(settings.batch),
      retry_(settings.retry),
      backoff_(settings.retry.initial_backoff, settings.retry.max_backoff, std::random_device{}()),
      log_invalidations_(settings.log_invalidations),
      queue_(capacity),
      dead_letter_(dead_letter),
      source_ids_(source_ids),
      counters_(counters),
      batch_scheduling_(batch_scheduling),
      logger_(std::move(logger)),
      stop_pipeline_(std::move(stop_pipeline)),
      batch_id_base_(std::random_device{}() * 0x100000000ULL + std::random_device{}()) {}

SinkLane::~SinkLane() {
  abort();
  join();
}

void SinkLane::start() {
  thread_ = std::thread([this] {
    prepare_thread("inv-lane-" + name_, batch_scheduling_);
    run();
  });
}

bool SinkLane::push(LaneBatch& batch) { return queue_.push(batch, abort_.get_token()); }

void SinkLane::abort() {
  abort_.request_stop();
  queue_.close();
}

void SinkLane::join() {
  if (thread_.joinable()) thread_.join();
}

void SinkLane::run() {
  LaneBatch batch;
  auto token = abort_.get_token();
  for (;;) {
    std::optional<std::chrono::steady_clock::time_point> wake;
    if (!redeletes_.empty()) wake = redeletes_.begin()->first;
    // Due second deletes get up to half of a batch and new input the rest: a full queue does
    // not starve the second deletes (whose positions wait for them), nor they the queue.
    // (A batch of one alternates between them.)
    std::size_t reserved = due_redeletes(batch_.max_events > 1 ? batch_.max_events / 2 : 1);
    if (batch_.max_events == 1) {
      if (redeletes_went_last_) reserved = 0;
      redeletes_went_last_ = reserved > 0;
    }
    if (reserved < batch_.max_events) {
      queue_.pop(batch, batch_.max_events - reserved, batch_.max_delay, wake);
    } else {
      batch.clear();
    }
    take_due_redeletes(batch);
    if (batch.empty()) {
      if (!queue_.drained()) continue;
      // No more input: the lane ends once the second deletes it owes are delivered.
      if (redeletes_.empty() || token.stop_requested()) break;
      std::mutex mutex;
      std::condition_variable_any wake_up;
      std::unique_lock lock(mutex);
      wake_up.wait_until(lock, token, redeletes_.begin()->first, [] { return false; });
      continue;
    }
    if (!token.stop_requested()) deliver(batch);
    // The next pop hands `batch` back to be freed by a decode thread.
  }
}

std::size_t SinkLane::due_redeletes(std::size_t at_most) const {
  const auto now = std::chrono::steady_clock::now();
  std::size_t due = 0;
  for (auto it = redeletes_.begin(); it != redeletes_.end() && it->first <= now && due < at_most; ++it) ++due;
  return due;
}

void SinkLane::take_due_redeletes(LaneBatch& batch) {
  auto now = std::chrono::steady_clock::now();
  while (!redeletes_.empty() && redeletes_.begin()->first <= now && batch.size() < batch_.max_events) {
    auto due = redeletes_.extract(redeletes_.begin());
    batch.add(std::move(due.mapped().invalidation), due.mapped().origin);
  }
}

sdk::DeliveryResult SinkLane::deliver_guarded(std::span<const sdk::Invalidation> batch,
                                              const sdk::DeliveryContext& context) {
  // The SDK forbids exceptions across the boundary; a sink that throws anyway must not take
  // the process down. Nothing is known to be applied, so the batch is retried.
  metrics_.batch_size.observe(static_cast<double>(batch.size()));
  const auto started = std::chrono::steady_clock::now();
  struct TimeDelivery {
    admin::Histogram& histogram;
    std::chrono::steady_clock::time_point started;
    ~TimeDelivery() {
      histogram.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  } timed{metrics_.delivery_seconds, started};
  try {
    return sink_.deliver(batch, context);
  } catch (const std::exception& error) {
    return sdk::DeliveryResult::retry(std::string("the sink threw: ") + error.what());
  } catch (...) {
    return sdk::DeliveryResult::retry("the sink threw an unknown exception");
  }
}

void SinkLane::deliver(LaneBatch& batch) {
  if (std::size_t dropped = coalescer_.coalesce(batch.invalidations)) {
    counters_.coalesced.fetch_add(dropped, std::memory_order_relaxed);
  }
  const std::vector<sdk::Invalidation>& unique = batch.invalidations;
  done_.assign(unique.size(), false);
  for (std::size_t begin = 0; begin < unique.size();) {
    const std::size_t end = chunk_end(unique, begin);
    if (!deliver_until_settled(batch, begin, end)) break;  // aborted: the rest stays unacknowledged
    begin = end;
  }
  record_staleness(unique);
  if (log_invalidations_) {
    const auto now = std::chrono::system_clock::now();
    for (std::size_t u = 0; u < unique.size(); ++u) {
      if (!done_[u]) continue;
      const auto& invalidation = unique[u];
      // The database's clock against this one: meaningful on one machine or with synced clocks,
      // and for live changes only, not for a replay of old ones.
      const auto since_commit = now - invalidation.commit_time;
      if (invalidation.commit_time == std::chrono::system_clock::time_point{} || since_commit > std::chrono::minutes(10) ||
          since_commit < std::chrono::seconds(-10)) {
        logger_->info("[sink {}] {} {}", sink_id_, sdk::to_string(invalidation.action), invalidation.key);
      } else {
        const double after_commit_ms = std::chrono::duration<double, std::milli>(since_commit).count();
        logger_->info("[sink {}] {} {} ({:.1f} ms after its commit)", sink_id_, sdk::to_string(invalidation.action),
                      invalidation.key, after_commit_ms);
      }
    }
  }
  release_settled(batch);
}

void SinkLane::count_by_action(const LaneBatch& batch, const std::vector<std::size_t>& indices,
                               std::array<std::atomic<std::uint64_t>, kActionCount>& counts) {
  std::array<std::uint64_t, kActionCount> tally{};
  for (std::size_t u : indices) ++tally[action_index(batch.invalidations[u].action)];
  for (std::size_t a = 0; a < kActionCount; ++a) {
    if (tally[a] != 0) counts[a].fetch_add(tally[a], std::memory_order_relaxed);
  }
}

void SinkLane::record_staleness(const std::vector<sdk::Invalidation>& unique) {
  // The database's clock against this one: meaningful on one machine or with synced clocks.
  // A commit "in the future" by clock skew counts as no staleness.
  const auto now = std::chrono::system_clock::now();
  for (std::size_t u = 0; u < unique.size(); ++u) {
    if (!done_[u] || unique[u].commit_time == std::chrono::system_clock::time_point{}) continue;
    staleness_tally_.observe(std::max(0.0, std::chrono::duration<double>(now - unique[u].commit_time).count()));
  }
  staleness_tally_.add_to(metrics_.staleness_seconds);
}

std::size_t SinkLane::chunk_end(const std::vector<sdk::Invalidation>& unique, std::size_t begin) const {
  if (batch_.max_bytes == 0) return unique.size();
  // An invalidation larger than the limit alone still goes, in a batch of its own.
  std::size_t bytes = 0;
  std::size_t end = begin;
  while (end < unique.size()) {
    bytes += unique[end].key.size() + (unique[end].value ? unique[end].value->size() : 0);
    if (bytes > batch_.max_bytes && end > begin) break;
    ++end;
  }
  return end;
}

std::uint64_t SinkLane::next_batch_id() { return batch_id_base_ + ++batches_; }

bool SinkLane::deliver_until_settled(const LaneBatch& batch, std::size_t begin, std::size_t end) {
  const std::vector<sdk::Invalidation>& unique = batch.invalidations;
  remaining_.resize(end - begin);
  for (std::size_t u = begin; u < end; ++u) remaining_[u - begin] = u;
  sdk::DeliveryContext context{next_batch_id(), 0};
  for (int attempt = 1;; ++attempt) {
    // The first attempt hands over the kept invalidations as they are; a retry what is left.
    std::span<const sdk::Invalidation> sending = std::span(unique).subspan(begin, end - begin);
    if (remaining_.size() != end - begin) {
      retrying_.clear();
      for (std::size_t u : remaining_) retrying_.push_back(unique[u]);
      sending = retrying_;
    }
    ++context.attempt;
    const std::size_t sent = remaining_.size();
    sdk::DeliveryResult result = deliver_guarded(sending, context);
    std::string reason = settle(batch, result);
    if (result.kind() == sdk::DeliveryResult::Kind::retry) {
      metrics_.mark_unreachable(reason);
    } else if (metrics_.unreachable.load(std::memory_order_relaxed)) {
      metrics_.mark_reachable();
    }
    if (!remaining_.empty() && retry_.max_attempts > 0 && attempt >= retry_.max_attempts) {
      const std::string why = "gave up after " + std::to_string(attempt) + " attempts: " + reason;
      for (std::size_t u : remaining_) give_up(batch, u, why);
      remaining_.clear();
    }
    if (!fatal_.empty()) {
      // engine.on_error = "stop": nothing after it is delivered, nothing of it acknowledged.
      abort();
      if (stop_pipeline_) stop_pipeline_(fatal_);
      return false;
    }
    if (!dead_lettering_.empty() && !write_dead_letters(batch)) return false;
    if (remaining_.empty()) return true;
    // Part of it was applied: what is tried again is another batch, under another id.
    if (remaining_.size() != sent) context = sdk::DeliveryContext{next_batch_id(), 0};
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    metrics_.retries.fetch_add(1, std::memory_order_relaxed);
    // A sink's own hint (a server's Retry-After) is a floor: waiting less would be refused again.
    auto delay = std::max(backoff_.delay(attempt), result.retry_after());
    if (attempt == 1 || attempt % 10 == 0) {
      logger_->warn("[sink {}] {} invalidations not delivered (attempt {}): {}; retrying in {} ms", name_,
                   remaining_.size(), attempt, reason, delay.count());
    }
    if (!wait_unless_aborted(delay)) return false;
  }
}

std::string SinkLane::settle(const LaneBatch& batch, const sdk::DeliveryResult& result) {
  const std::vector<sdk::Invalidation>& unique = batch.invalidations;
  switch (result.kind()) {
    case sdk::DeliveryResult::Kind::ok:
      for (std::size_t u : remaining_) done_[u] = true;
      counters_.delivered.fetch_add(remaining_.size(), std::memory_order_relaxed);
      count_by_action(batch, remaining_, metrics_.delivered);
      remaining_.clear();
      return {};
    case sdk::DeliveryResult::Kind::retry:
      return result.reason();
    case sdk::DeliveryResult::Kind::failed:
      for (std::size_t u : remaining_) give_up(batch, u, result.reason());
      remaining_.clear();
      return {};
    case sdk::DeliveryResult::Kind::partial:
      break;
  }
  std::string reason;
  outcome_.assign(remaining_.size(), Outcome::applied);
  for (const auto& failure : result.failures()) {
    if (failure.index >= remaining_.size() || outcome_[failure.index] != Outcome::applied) continue;
    if (failure.retryable) {
      outcome_[failure.index] = Outcome::retry;
      if (reason.empty()) reason = failure.reason;
    } else {
      outcome_[failure.index] = Outcome::gave_up;
      give_up(batch, remaining_[failure.index], failure.reason);
    }
  }
  // A later action on a key never overtakes an earlier one being retried: applied already,
  // it is applied again after it (set k v1 after a failed delete k must end as v1).
  retried_keys_.clear();
  still_.clear();
  std::uint64_t applied = 0;
  counted_.clear();
  for (std::size_t k = 0; k < remaining_.size(); ++k) {
    const std::size_t u = remaining_[k];
    if (outcome_[k] == Outcome::retry) {
      still_.push_back(u);
      retried_keys_.insert(unique[u].key);
    } else if (outcome_[k] == Outcome::applied) {
      if (!retried_keys_.empty() && retried_keys_.contains(unique[u].key)) {
        still_.push_back(u);
      } else {
        done_[u] = true;
        ++applied;
        counted_.push_back(u);
      }
    }
  }
  counters_.delivered.fetch_add(applied, std::memory_order_relaxed);
  count_by_action(batch, counted_, metrics_.delivered);
  remaining_.swap(still_);  // in batch order
  return reason;
}

void SinkLane::give_up(const LaneBatch& batch, std::size_t u, const std::string& reason) {
  const ItemOrigin& origin = first_origin_of(batch, u);
  const sdk::Invalidation& invalidation = batch.invalidations[u];
  const DeadLetterOrigin where{source_ids_[origin.source], origin.topic ? *origin.topic : std::string_view{},
                               origin.entry->position()};
  if (!dead_letter_.enabled()) {
    if (fatal_.empty()) {
      fatal_ = "sink '" + sink_id_ + "' cannot apply " + std::string(sdk::to_string(invalidation.action)) + " '" +
               invalidation.key + "' (source '" + std::string(where.source) + "', topic '" + std::string(where.topic) +
               "', stream " + std::to_string(where.position.stream) + ", offset " +
               std::to_string(where.position.offset) + "): " + reason +
               "; engine.on_error = \"stop\", so the pipeline stops without acknowledging it";
    }
    return;
  }
  dead_letter_lines_ += dead_letter_line(where, invalidation, origin.route, sink_id_, reason);
  dead_lettering_.emplace_back(u, reason);
}

bool SinkLane::write_dead_letters(const LaneBatch& batch) {
  for (int attempt = 1;; ++attempt) {
    auto written = dead_letter_.append(dead_letter_lines_);
    if (written) break;
    counters_.dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
    const auto delay = backoff_.delay(attempt);
    if (attempt == 1 || attempt % 10 == 0) {
      logger_->error("[sink {}] {} invalidations cannot be dead-lettered, so their source positions are held: {}; "
                     "retrying in {} ms (attempt {})",
                     name_, dead_lettering_.size(), written.message(), delay.count(), attempt);
    }
    if (!wait_unless_aborted(delay)) {
      dead_letter_lines_.clear();
      dead_lettering_.clear();  // not done: they stay unacknowledged
      return false;
    }
  }
  for (const auto& [u, reason] : dead_lettering_) {
    done_[u] = true;
    logger_->warn("[sink {}] dead-lettered '{}': {}", name_, batch.invalidations[u].key, reason);
  }
  counters_.dead_lettered.fetch_add(dead_lettering_.size(), std::memory_order_relaxed);
  counted_.clear();
  for (const auto& entry : dead_lettering_) counted_.push_back(entry.first);
  count_by_action(batch, counted_, metrics_.dead_lettered);
  dead_letter_lines_.clear();
  dead_lettering_.clear();
  return true;
}

const ItemOrigin& SinkLane::first_origin_of(const LaneBatch& batch, std::size_t u) const {
  const std::vector<std::size_t>& owner = coalescer_.owners();
  for (std::size_t i = 0; i < owner.size(); ++i) {
    if (owner[i] == u) return batch.origins[i];
  }
  return batch.origins.front();
}

bool SinkLane::wait_unless_aborted(std::chrono::milliseconds delay) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  auto token = abort_.get_token();
  wake.wait_for(lock, token, delay, [] { return false; });
  return !token.stop_requested();
}

void SinkLane::release_settled(LaneBatch& batch) {
  const std::vector<sdk::Invalidation>& unique = batch.invalidations;
  const std::vector<std::size_t>& owner = coalescer_.owners();
  auto now = std::chrono::steady_clock::now();
  // The invalidations of one position mostly sit side by side: their holds are released
  // together, one atomic operation per run of them.
  AckTracker* run_tracker = nullptr;
  AckTracker::Entry* run_entry = nullptr;
  std::int64_t run_length = 0;
  auto release_run = [&] {
    if (run_length == 0) return;
    if (auto stream = run_tracker->release_later(*run_entry, run_length)) {
      if (completed_.empty() || completed_.back() != std::pair{run_tracker, *stream}) {
        completed_.emplace_back(run_tracker, *stream);
      }
    }
    run_length = 0;
  };
  for (std::size_t i = 0; i < batch.origins.size(); ++i) {
    if (!done_[owner[i]]) continue;
    const ItemOrigin& origin = batch.origins[i];
    const sdk::Invalidation& delivered = unique[owner[i]];  // the item's own, or the one standing for it
    if (origin.redelete_after.count() > 0 && delivered.action == sdk::Action::delete_key) {
      // The same delete again later, against a reader that writes back a value it read
      // before the change; the position stays unacknowledged until that one is delivered.
      origin.tracker->retain(*origin.entry);
      ItemOrigin again = origin;
      again.redelete_after = std::chrono::milliseconds{0};
      redeletes_.emplace(now + origin.redelete_after, Redelete{delivered, again});
      counters_.redeliveries.fetch_add(1, std::memory_order_relaxed);
    }
    if (origin.entry != run_entry) {
      release_run();
      run_tracker = origin.tracker;
      run_entry = origin.entry;
    }
    ++run_length;
  }
  release_run();
  // Most batches complete positions of one stream or a few: one sweep for each.
  std::sort(completed_.begin(), completed_.end());
  completed_.erase(std::unique(completed_.begin(), completed_.end()), completed_.end());
  for (const auto& [tracker, stream] : completed_) tracker->acknowledge_ready(stream);
  completed_.clear();
}

}  // namespace invalidator::pipeline
