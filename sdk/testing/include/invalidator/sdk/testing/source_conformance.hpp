#pragma once

// The source conformance suite. Every source, ours or a user's, should pass it against its
// real transport (or a test server speaking its protocol). Include this header in exactly one
// test file, then instantiate it (the suite's name must be unqualified):
//
//   using invalidator::sdk::testing::SourceConformance;
//   INSTANTIATE_TEST_SUITE_P(File, SourceConformance,
//       ::testing::Values(invalidator::sdk::testing::SourceConformanceParam{
//           "file", [] { return std::make_unique<MyFileHarness>(); }}),
//       invalidator::sdk::testing::source_conformance_name);
//
// A source passes when it emits every message in order per stream, lets the engine's
// acknowledgements (or completions) decide what is read again after a restart, waits while
// the pipeline is full without losing or repeating anything, and stops promptly.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "invalidator/sdk/source.hpp"
#include "invalidator/sdk/testing/recording_emitter.hpp"

namespace invalidator::sdk::testing {

// Connects the suite to one source and its transport.
class SourceHarness {
 public:
  virtual ~SourceHarness() = default;
  // A new instance over the harness's input, starting from what the instances before it had
  // committed (the same consumer group, checkpoint, slot or subscription).
  virtual std::unique_ptr<Source> make_source() = 0;
  // Appends messages, each a JSON value, to the input; they are readable when it returns.
  virtual void produce(const std::vector<std::string>& values) = 0;
  // The longest any wait of the suite may take (a Kafka group needs seconds to form).
  virtual std::chrono::milliseconds patience() { return std::chrono::seconds(60); }
};

struct SourceConformanceParam {
  std::string name;
  std::function<std::unique_ptr<SourceHarness>()> make_harness;
};

inline void PrintTo(const SourceConformanceParam& param, std::ostream* out) { *out << param.name; }

inline std::string source_conformance_name(const ::testing::TestParamInfo<SourceConformanceParam>& info) {
  return info.param.name;
}

class SourceConformance : public ::testing::TestWithParam<SourceConformanceParam> {
 protected:
  // A source running on a thread of its own until stopped or ended.
  class Running {
   public:
    Running(Source& source, RecordingEmitter& emitter)
        : thread_([&source, &emitter, this](std::stop_token stop) { status_ = source.run(emitter, stop); }) {}
    ~Running() { stop(); }
    Status stop() {
      if (thread_.joinable()) {
        thread_.request_stop();
        thread_.join();
      }
      return status_;
    }

   private:
    Status status_ = Status::success();
    std::jthread thread_;
  };

  void SetUp() override {
    harness_ = GetParam().make_harness();
    ASSERT_NE(harness_, nullptr);
  }

  static std::string value(int seq) { return "{\"seq\":" + std::to_string(seq) + "}"; }
  static std::vector<std::string> values(int from, int to) {
    std::vector<std::string> out;
    for (int seq = from; seq < to; ++seq) out.push_back(value(seq));
    return out;
  }
  static int seq_of(const RecordingEmitter::Emitted& item) {
    auto at = item.value.find("\"seq\":");
    return at == std::string::npos ? -1 : std::stoi(item.value.substr(at + 6));
  }
  // Messages only (positions left out), by stream, in the order emitted.
  static std::map<std::uint64_t, std::vector<int>> by_stream(const std::vector<RecordingEmitter::Emitted>& emitted) {
    std::map<std::uint64_t, std::vector<int>> streams;
    for (const auto& item : emitted) {
      if (!item.position_only) streams[item.position.stream].push_back(seq_of(item));
    }
    return streams;
  }
  static std::multiset<int> range(int from, int to) {
    std::multiset<int> out;
    for (int seq = from; seq < to; ++seq) out.insert(seq);
    return out;
  }
  // A new instance, acknowledging what it hands over, must read exactly [from, to).
  void expect_a_new_instance_reads(int from, int to, const char* why) {
    auto source = harness_->make_source();
    ASSERT_NE(source, nullptr);
    RecordingEmitter emitter;
    emitter.acknowledge_with(source.get());
    Running running(*source, emitter);
    const auto count = static_cast<std::size_t>(to - from);
    ASSERT_TRUE(emitter.wait_for(count, harness_->patience())) << emitter.emitted().size() << " of " << count << " emitted";
    EXPECT_TRUE(running.stop().ok());
    EXPECT_EQ(seqs(emitter.emitted()), range(from, to)) << why;
  }
  static std::multiset<int> seqs(const std::vector<RecordingEmitter::Emitted>& emitted) {
    std::multiset<int> out;
    for (const auto& item : emitted) {
      if (!item.position_only) out.insert(seq_of(item));
    }
    return out;
  }

  std::unique_ptr<SourceHarness> harness_;
};

TEST_P(SourceConformance, EmitsEveryMessageOnceInOrderPerStreamWithGrowingPositions) {
  harness_->produce(values(0, 50));
  auto source = harness_->make_source();
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  emitter.acknowledge_with(source.get());
  Running running(*source, emitter);
  ASSERT_TRUE(emitter.wait_for(50, harness_->patience())) << emitter.emitted().size() << " of 50 emitted";
  EXPECT_TRUE(running.stop().ok());
  auto emitted = emitter.emitted();
  EXPECT_EQ(seqs(emitted), range(0, 50)) << "every message, each once";
  std::map<std::uint64_t, std::uint64_t> last_offset;
  for (const auto& item : emitted) {
    auto found = last_offset.find(item.position.stream);
    if (found != last_offset.end()) {
      EXPECT_GT(item.position.offset, found->second) << "positions grow within stream " << item.position.stream;
    }
    last_offset[item.position.stream] = item.position.offset;
  }
  for (const auto& [stream, order] : by_stream(emitted)) {
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "stream " << stream << " out of order";
  }
}

TEST_P(SourceConformance, AfterARestartReadsOnlyWhatWasNotAcknowledged) {
  harness_->produce(values(0, 40));
  {
    auto first = harness_->make_source();
    ASSERT_NE(first, nullptr);
    RecordingEmitter emitter;
    Running running(*first, emitter);
    ASSERT_TRUE(emitter.wait_for(40, harness_->patience())) << emitter.emitted().size() << " of 40 emitted";
    // Done: the messages below 20. Cumulative: the last of them on each stream; individual:
    // each of them.
    std::map<std::uint64_t, Position> last_done;
    for (const auto& item : emitter.emitted()) {
      if (item.position_only || seq_of(item) >= 20) continue;
      if (first->completion() == Completion::individual) {
        first->complete(item.position);
      } else {
        last_done[item.position.stream] = item.position;
      }
    }
    for (const auto& [stream, position] : last_done) first->acknowledge(position);
    EXPECT_TRUE(running.stop().ok());
  }
  expect_a_new_instance_reads(20, 40, "exactly what was not acknowledged comes again");
}

TEST_P(SourceConformance, AfterARestartReadsAgainEverythingNotAcknowledged) {
  harness_->produce(values(0, 30));
  {
    auto first = harness_->make_source();
    ASSERT_NE(first, nullptr);
    RecordingEmitter emitter;  // acknowledges nothing
    Running running(*first, emitter);
    ASSERT_TRUE(emitter.wait_for(30, harness_->patience())) << emitter.emitted().size() << " of 30 emitted";
    EXPECT_TRUE(running.stop().ok());
  }
  expect_a_new_instance_reads(0, 30, "everything comes again");
}

TEST_P(SourceConformance, WaitsWhileThePipelineIsFullAndLosesNothing) {
  harness_->produce(values(0, 60));
  auto source = harness_->make_source();
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter(5);
  emitter.acknowledge_with(source.get());
  Running running(*source, emitter);
  // Positions take room as messages do (a source may emit some before its first message).
  ASSERT_TRUE(emitter.wait_for(5, harness_->patience(), true));
  // Full: the source keeps offering (and serving its transport) until there is room.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(emitter.emitted().size(), 5u) << "nothing is taken while the pipeline is full";
  emitter.open();
  ASSERT_TRUE(emitter.wait_for(60, harness_->patience())) << emitter.emitted().size() << " of 60 emitted";
  EXPECT_TRUE(running.stop().ok());
  EXPECT_EQ(seqs(emitter.emitted()), range(0, 60)) << "every message, each once";
  for (const auto& [stream, order] : by_stream(emitter.emitted())) {
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "stream " << stream << " out of order";
  }
}

TEST_P(SourceConformance, StopsWhenAskedWhileWaitingForInput) {
  auto source = harness_->make_source();
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter;
  auto done = std::make_shared<std::promise<Status>>();
  auto finished = done->get_future();
  std::stop_source stop;
  std::thread thread([&, done] { done->set_value(source->run(emitter, stop.get_token())); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it start waiting for input
  stop.request_stop();
  const bool stopped = finished.wait_for(harness_->patience()) == std::future_status::ready;
  if (!stopped) emitter.stop();  // so that the join below ends even so
  thread.join();
  ASSERT_TRUE(stopped) << "run() did not return after the stop request";
  EXPECT_TRUE(finished.get().ok());
}

TEST_P(SourceConformance, ReturnsWhenThePipelineStopsWhileItWaitsForRoom) {
  harness_->produce(values(0, 10));
  auto source = harness_->make_source();
  ASSERT_NE(source, nullptr);
  RecordingEmitter emitter(2);
  auto done = std::make_shared<std::promise<Status>>();
  auto finished = done->get_future();
  std::stop_source never;  // only the pipeline's answer tells the source to return
  std::thread thread([&, done] { done->set_value(source->run(emitter, never.get_token())); });
  const bool filled = emitter.wait_for(2, harness_->patience(), true);
  emitter.stop();
  const bool returned = finished.wait_for(harness_->patience()) == std::future_status::ready;
  if (!returned) never.request_stop();
  thread.join();
  ASSERT_TRUE(filled);
  ASSERT_TRUE(returned) << "run() went on after an emit answered stopping";
  EXPECT_TRUE(finished.get().ok());
  EXPECT_EQ(emitter.emitted().size(), 2u);
}

}  // namespace invalidator::sdk::testing
