#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/source.hpp"

namespace invalidator::plugins {

enum class KafkaStart { earliest, latest };

// The plugin's options, as declared in KafkaSource::options() (which holds the defaults).
struct KafkaSourceOptions {
  std::string brokers;
  std::vector<std::string> topics;  // "^..." entries are regular expressions
  std::string group_id;
  std::string instance_id;  // empty: dynamic membership
  KafkaStart start{};
  std::string format;
  std::chrono::milliseconds commit_interval{};
  std::chrono::milliseconds revoke_timeout{};
  std::map<std::string, std::string> librdkafka;  // passed through verbatim
};

// A member of a Kafka consumer group reading Debezium messages. Offsets are committed only
// from the pipeline's acknowledgements: per partition, the highest contiguous acknowledged
// offset + 1, asynchronously every commit_interval and synchronously on revoke and shutdown.
class KafkaSource final : public sdk::Source {
 public:
  ~KafkaSource() override;

  static sdk::OptionsSpec<KafkaSourceOptions> options();
  static sdk::Result<std::unique_ptr<sdk::Source>> create(KafkaSourceOptions options,
                                                          const sdk::PluginContext& context);

  sdk::Status run(sdk::Emitter& emitter, std::stop_token stop) override;
  void acknowledge(const sdk::Position& position) override;

 private:
  // One assignment of one partition. A partition assigned again after a revoke gets a new
  // stream, so that the core's per-stream ordering never sees its offsets go back.
  struct Stream {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t emitted_next = -1;    // offset after the last message handed to the pipeline
    std::int64_t acked_next = -1;      // offset after the last acknowledged one
    std::int64_t committed_next = -1;  // what the group coordinator confirmed it has
    std::int64_t sent_next = -1;       // asked of it, answer pending (a failure resets it)
    bool active = true;
  };

  KafkaSource(KafkaSourceOptions options, sdk::Logger* logger) : options_(std::move(options)), logger_(logger) {}

  static void on_rebalance(rd_kafka_t* consumer, rd_kafka_resp_err_t error,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void on_error(rd_kafka_t* consumer, int error, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* consumer, int level, const char* facility, const char* text);
  // The coordinator's answer to a commit, synchronous or not, served by run()'s polls.
  static void on_commit(rd_kafka_t* consumer, rd_kafka_resp_err_t error, rd_kafka_topic_partition_list_t* offsets,
                        void* opaque);
  // Records what the coordinator confirmed; a failure is logged, counted, and committed again
  // at the next commit.
  void committed(rd_kafka_resp_err_t error, const rd_kafka_topic_partition_list_t& offsets);
  bool cooperative() const;
  void assigned(rd_kafka_topic_partition_list_t* partitions);
  void revoked(rd_kafka_topic_partition_list_t* partitions);
  // Commits what was acknowledged beyond what was committed; `only` limits it to some streams.
  void commit(bool synchronous, const std::vector<std::uint64_t>* only = nullptr);
  // The stream of a partition and its state (`id` set); null when the partition was revoked
  // since its message was read.
  Stream* stream_of(std::string_view topic, std::int32_t partition, std::uint64_t& id);
  // Backpressure. pause_delivering() pauses the partitions that have delivered a message (and
  // `also`, which just did); resume_paused() resumes the ones this source paused.
  void pause_delivering(const std::pair<std::string, std::int32_t>& also);
  void resume_paused();
  // librdkafka (2.0.2 here; the same race is reported against later versions as its issue
  // 5591) bumps a partition's version for every pause or resume, even
  // one that changes nothing, and drops any of its own operations on that partition created
  // with an older version but queued after it. One such is the fetch start it queues when a
  // partition is assigned: dropped, the partition is never read. So this source pauses only
  // partitions that have delivered a message (their fetch has started), resumes only those it
  // paused, and resumes them before they are revoked so that none comes back paused.
  void pause_partitions(const std::vector<std::pair<std::string, std::int32_t>>& partitions, bool pause);
  // Tells the engine each assigned partition's lag (its cached high watermark minus the next
  // offset to commit) and whether the brokers are reachable; run()'s thread, once a second.
  void report_status(sdk::Emitter& emitter);

  struct MessageDeleter {
    void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
  };
  using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

  // run()'s steps. The next message: held ones first, else a poll.
  Message next_message();
  // Converts a message for the pipeline into pending_; false when its partition was revoked.
  bool prepare(const rd_kafka_message_t& message);
  // While the pipeline is full: one poll without waiting. False when an error ends the run.
  bool serve_while_paused(sdk::Status& outcome);
  // An error event instead of a message: true when it ends the run (`outcome` then says why).
  bool ends_run(const rd_kafka_message_t& event, sdk::Status& outcome);

  // How long a message is offered to a full pipeline before the partitions are paused, and,
  // once paused, between two polls that serve the group.
  static constexpr std::chrono::milliseconds kWaitBeforePausing{500};
  static constexpr std::chrono::milliseconds kPausedOfferWait{100};

  KafkaSourceOptions options_;
  sdk::Logger* logger_;
  rd_kafka_t* consumer_ = nullptr;
  bool closed_ = false;
  // Messages read while the pipeline was full, in order; their partitions are paused, so this
  // holds only what was already fetched (and the first messages of a partition that had not
  // delivered any when the others were paused: it is paused as it delivers).
  // Only run()'s thread touches it, the rebalance callbacks included.
  std::deque<Message> backlog_;
  bool paused_ = false;  // partitions are paused while pending_ or backlog_ holds messages
  // A message converted for the pipeline, which the pipeline had no room for yet. Only run()'s
  // thread touches it; a revoke of its partition drops it.
  struct Pending {
    sdk::RawMessage raw;
    Stream* stream;
    std::int64_t offset;
  };
  std::optional<Pending> pending_;
  // What this source paused and has not resumed. Only run()'s thread touches it.
  std::set<std::pair<std::string, std::int32_t>> paused_partitions_;

  // Set by on_error when librdkafka says every broker is down; cleared once a metadata
  // request is answered or a message arrives. The reason under mutex_.
  std::atomic<bool> brokers_down_{false};
  std::string brokers_down_reason_;

  std::mutex mutex_;
  std::condition_variable acknowledged_;
  std::map<std::uint64_t, Stream> streams_;
  // Looked up per message by the topic name librdkafka holds, without copying it.
  struct PartitionOrder {
    using is_transparent = void;
    template <typename Left, typename Right>
    bool operator()(const Left& left, const Right& right) const {
      return std::pair<std::string_view, std::int32_t>(left.first, left.second) <
             std::pair<std::string_view, std::int32_t>(right.first, right.second);
    }
  };
  std::map<std::pair<std::string, std::int32_t>, std::uint64_t, PartitionOrder> active_;
  std::uint64_t next_stream_ = 1;
  // The stream of the previous message. Messages come in runs from one partition; a hit
  // spares the lock and two map lookups. Only run()'s thread changes the maps (librdkafka
  // calls the rebalance callbacks from its poll), and they forget this; only that thread
  // reads and writes `emitted_next`, so it needs no lock.
  std::uint64_t last_stream_ = 0;
  Stream* last_stream_state_ = nullptr;

  std::string fatal_reason_;  // set by on_error; ends run()
  std::atomic<bool> failed_{false};  // fatal_reason_ is set: run() checks this without the lock
  std::chrono::steady_clock::time_point last_error_log_{};
  std::uint64_t commit_failures_ = 0;  // only run()'s thread (its polls) counts
  std::set<std::string> missing_topics_;  // reported as not there yet; only run()'s thread
};

}  // namespace invalidator::plugins
