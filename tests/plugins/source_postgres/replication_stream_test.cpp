// The postgres source's reading loop against a scripted server side: frames in the order the
// test chooses (keepalives where a real server sends them only by chance), and every status
// update the source sends back, read byte by byte.

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

#include "captured_pgoutput.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"
#include "postgres_source.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(postgres);

namespace invalidator::plugins {
namespace {

using namespace std::chrono_literals;
using sdk::testing::RecordingEmitter;

std::string u64(std::uint64_t value) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
  return out;
}

std::uint64_t read_u64(const std::string& bytes, std::size_t at) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// XLogData carrying one pgoutput message.
std::string xlog(std::uint64_t lsn, const std::string& message) { return "w" + u64(lsn) + u64(lsn) + u64(0) + message; }
// A primary keepalive: the server's WAL end, and whether it wants a reply now.
std::string keepalive(std::uint64_t wal_end, bool reply) { return "k" + u64(wal_end) + u64(0) + std::string(1, reply ? 1 : 0); }

// The first transaction of the capture: Begin, Relation, Insert, Commit (end LSN 0/1536DC0).
std::vector<std::string> first_transaction() {
  auto messages = invalidator::testing::captured_pgoutput("pgoutput_v1_sql_peek.jsonl");
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < 4; ++i) frames.push_back(xlog(0x1536C88, messages[i].bytes));
  return frames;
}
constexpr std::uint64_t kFirstTransactionEnd = 0x1536DC0;

class ScriptedStream final : public ReplicationStream {
 public:
  explicit ScriptedStream(std::vector<std::string> frames) : frames_(frames.begin(), frames.end()) {}

  sdk::Result<std::optional<std::string_view>> next_frame(std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    if (frames_.empty()) {
      std::this_thread::sleep_for(1ms);
      return std::optional<std::string_view>{};
    }
    current_ = std::move(frames_.front());
    frames_.pop_front();
    return std::optional<std::string_view>(current_);
  }
  sdk::Status send_frame(std::string_view frame) override {
    std::lock_guard lock(mutex_);
    sent_.emplace_back(frame);
    return sdk::Status::success();
  }

  bool drained() {
    std::lock_guard lock(mutex_);
    return frames_.empty();
  }
  // The flush LSN of every Standby Status Update sent so far.
  std::vector<std::uint64_t> flushed() {
    std::lock_guard lock(mutex_);
    std::vector<std::uint64_t> out;
    for (const auto& frame : sent_) {
      if (frame.size() == 34 && frame[0] == 'r') out.push_back(read_u64(frame, 9));
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::deque<std::string> frames_;
  std::string current_;
  std::vector<std::string> sent_;
};

std::unique_ptr<PostgresSource> make_source(std::chrono::milliseconds status_interval = 10s) {
  sdk::Config config;
  config.set("dsn", std::string("host=127.0.0.1 port=1"));  // never connected: the stream is scripted
  config.set("status_interval", status_interval);
  auto created = invalidator_static_plugin_postgres().create_source(config, sdk::PluginContext{"changes", nullptr});
  EXPECT_TRUE(created) << created.error();
  if (!created) return nullptr;
  return std::unique_ptr<PostgresSource>(dynamic_cast<PostgresSource*>(std::move(created).value().release()));
}

// Reads the script on a thread of its own until told to stop.
struct Reading {
  Reading(PostgresSource& source, ScriptedStream& stream, sdk::Emitter& emitter)
      : thread([&, this] { status = source.read_stream(stream, emitter, stop.get_token()); }) {}
  ~Reading() { finish(); }
  sdk::Status finish() {
    if (thread.joinable()) {
      stop.request_stop();
      thread.join();
    }
    return status;
  }
  std::stop_source stop;
  sdk::Status status = sdk::Status::success();
  std::thread thread;
};

TEST(ReplicationStream, AKeepaliveInsideATransactionMovesNothingOneBetweenTransactionsDoes) {
  auto frames = first_transaction();
  // Mid-transaction, the server's WAL end lies past the transaction's own commit: confirming
  // it would skip the transaction after a crash.
  frames.insert(frames.begin() + 3, keepalive(0x9000000, false));
  frames.push_back(keepalive(0x2000000, false));
  auto source = make_source();
  ScriptedStream stream(frames);
  RecordingEmitter emitter;
  {
    Reading reading(*source, stream, emitter);
    ASSERT_TRUE(invalidator::testing::eventually([&] { return stream.drained() && emitter.emitted().size() >= 2; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(reading.finish());
  }
  auto emitted = emitter.emitted();
  ASSERT_EQ(emitted.size(), 2u) << "the insert, then the keepalive after the commit";
  EXPECT_FALSE(emitted[0].position_only);
  EXPECT_TRUE(emitted[1].position_only);
  source->acknowledge(emitted[0].position);
  EXPECT_EQ(source->acknowledged_lsn(), kFirstTransactionEnd) << "the transaction's last event stands for its end";
  source->acknowledge(emitted[1].position);
  EXPECT_EQ(source->acknowledged_lsn(), 0x2000000u);
}

TEST(ReplicationStream, AKeepaliveAskingForAReplyIsAnsweredAtOnceWithWhatWasAcknowledged) {
  auto frames = first_transaction();
  frames.push_back(keepalive(0x1536DC0, true));
  auto source = make_source(std::chrono::hours(1));  // no periodic status update in this test
  ScriptedStream stream(frames);
  RecordingEmitter emitter;
  emitter.acknowledge_with(source.get());
  Reading reading(*source, stream, emitter);
  ASSERT_TRUE(invalidator::testing::eventually([&] {
    auto flushed = stream.flushed();
    return std::find(flushed.begin(), flushed.end(), kFirstTransactionEnd) != flushed.end();
  }, 5s)) << "no status update confirmed the acknowledged transaction";
  EXPECT_TRUE(reading.finish());
}

TEST(ReplicationStream, AStatusUpdateNeverConfirmsAPartlyAcknowledgedTransaction) {
  auto messages = invalidator::testing::captured_pgoutput("pgoutput_v1_sql_peek.jsonl");
  // Begin, Relation, the same Insert twice, Commit: a transaction of two events.
  std::vector<std::string> frames{xlog(1, messages[0].bytes), xlog(1, messages[1].bytes), xlog(1, messages[2].bytes),
                                  xlog(1, messages[2].bytes), xlog(1, messages[3].bytes)};
  auto source = make_source(20ms);
  ScriptedStream stream(frames);
  RecordingEmitter emitter;
  Reading reading(*source, stream, emitter);
  ASSERT_TRUE(invalidator::testing::eventually([&] { return emitter.emitted().size() == 2; }));
  source->acknowledge(emitter.emitted()[0].position);
  std::this_thread::sleep_for(200ms);  // several status updates
  for (auto flushed : stream.flushed()) EXPECT_LT(flushed, kFirstTransactionEnd);
  source->acknowledge(emitter.emitted()[1].position);
  EXPECT_TRUE(invalidator::testing::eventually([&] {
    auto flushed = stream.flushed();
    return !flushed.empty() && flushed.back() == kFirstTransactionEnd;
  }, 5s));
  EXPECT_TRUE(reading.finish());
}

TEST(ReplicationStream, AnUndecodableMessageStopsTheSourceNamingItsLsn) {
  auto source = make_source();
  ScriptedStream stream({xlog(0x2A00000123, "Z garbage")});
  RecordingEmitter emitter;
  auto status = source->read_stream(stream, emitter, std::stop_token{});
  ASSERT_FALSE(status);
  EXPECT_FALSE(status.is_transient());
  EXPECT_NE(status.message().find("at 2A/123"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("stopping rather than skipping"), std::string::npos) << status.message();
  EXPECT_TRUE(emitter.emitted().empty());
}

}  // namespace
}  // namespace invalidator::plugins
