// The dead-letter format, written and read back in one place (pipeline/dead_letter.*).
#include <gtest/gtest.h>

#include <sstream>

#include "pipeline/dead_letter.hpp"
#include "support/test_support.hpp"

namespace invalidator::pipeline {
namespace {

using invalidator::testing::read_file;
using invalidator::testing::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(DeadLetter, AMessageIsReadBackAsItWasReceived) {
  TempDir dir;
  DeadLetterFile file(dir / "dead.jsonl");
  sdk::RawMessage message;
  message.topic = "db.public.t";
  message.key = R"({"id":9})";
  message.value = R"({"before":null,"after":{"id":9},"op":"c","quote":"\"and\\"})";
  message.position = {3, 41};
  ASSERT_TRUE(file.append(dead_letter_line({"changes", message.topic, message.position}, message, "sink was down")));
  sdk::RawMessage tombstone;
  tombstone.topic = "db.public.t";
  ASSERT_TRUE(file.append(dead_letter_line({"changes", tombstone.topic, {}}, tombstone, "a reason")));
  auto lines = lines_of(read_file(dir / "dead.jsonl"));
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) EXPECT_TRUE(is_dead_letter(line)) << line;

  auto record = read_dead_letter(lines[0]);
  ASSERT_TRUE(record) << record.error();
  EXPECT_EQ(record->kind, DeadLetterRecord::Kind::message);
  EXPECT_EQ(record->source, "changes");
  EXPECT_EQ(record->error, "sink was down");
  EXPECT_EQ(record->message.topic, message.topic);
  EXPECT_EQ(record->message.key, message.key);
  EXPECT_EQ(record->message.value, message.value);
  EXPECT_EQ(record->position, (sdk::Position{3, 41}));
  EXPECT_FALSE(record->time.empty());
  auto read_tombstone = read_dead_letter(lines[1]);
  ASSERT_TRUE(read_tombstone) << read_tombstone.error();
  EXPECT_FALSE(read_tombstone->message.key);
  EXPECT_FALSE(read_tombstone->message.value);
}

TEST(DeadLetter, AnInvalidationIsReadBackForItsSink) {
  TempDir dir;
  DeadLetterFile file(dir / "dead.jsonl");
  sdk::Invalidation invalidation{sdk::Action::set_value, "customer:1", std::string("Sally"), 77,
                                 std::chrono::milliseconds(5000)};
  invalidation.commit_time = std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456));
  ASSERT_TRUE(file.append(dead_letter_line({"pg", "x", {0, 12}}, invalidation, 2, "cache", "WRONGTYPE")));
  auto lines = lines_of(read_file(dir / "dead.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  auto record = read_dead_letter(lines[0]);
  ASSERT_TRUE(record) << record.error();
  EXPECT_EQ(record->kind, DeadLetterRecord::Kind::invalidation);
  EXPECT_EQ(record->sink, "cache");
  EXPECT_EQ(record->route, 2u);
  EXPECT_EQ(record->source, "pg");
  EXPECT_EQ(record->error, "WRONGTYPE");
  EXPECT_EQ(record->invalidation.action, sdk::Action::set_value);
  EXPECT_EQ(record->invalidation.key, "customer:1");
  EXPECT_EQ(record->invalidation.value, "Sally");
  EXPECT_EQ(record->invalidation.version, 77u);
  EXPECT_EQ(record->invalidation.ttl, std::chrono::milliseconds(5000));
  EXPECT_EQ(record->invalidation.commit_time, invalidation.commit_time);
  EXPECT_EQ(record->message.topic, "x");
  EXPECT_EQ(record->position, (sdk::Position{0, 12}));
}

TEST(DeadLetter, BytesThatAreNotTextAndHeadersComeBackByteForByte) {
  TempDir dir;
  DeadLetterFile file(dir / "dead.jsonl");
  sdk::RawMessage message;
  message.topic = "db.public.t";
  message.key = std::string("\x00\xff\xfe key", 7);
  message.value = std::string("\xc3\x28 not utf-8 \x80");
  message.headers = {{"trace", "abc"}, {"binary", std::string("\x01\x02\xff", 3)}};
  ASSERT_TRUE(file.append(dead_letter_line({"k", message.topic, {1, 2}}, message, "malformed JSON")));
  sdk::Invalidation invalidation;
  invalidation.key = std::string("user:\xff\x01", 7);
  ASSERT_TRUE(file.append(dead_letter_line({"k", message.topic, {1, 3}}, invalidation, 0, "cache", "down")));
  const std::string text = read_file(dir / "dead.jsonl");
  EXPECT_NE(text.find(R"("key_base64":")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("value_base64":")"), std::string::npos) << text;
  auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 2u);
  auto record = read_dead_letter(lines[0]);
  ASSERT_TRUE(record) << record.error();
  EXPECT_EQ(record->message.key, message.key);
  EXPECT_EQ(record->message.value, message.value);
  ASSERT_EQ(record->message.headers.size(), 2u);
  EXPECT_EQ(record->message.headers[0].name, "trace");
  EXPECT_EQ(record->message.headers[0].value, "abc");
  EXPECT_EQ(record->message.headers[1].value, std::string("\x01\x02\xff", 3));
  auto replayed = read_dead_letter(lines[1]);
  ASSERT_TRUE(replayed) << replayed.error();
  EXPECT_EQ(replayed->invalidation.key, invalidation.key);
}

TEST(DeadLetter, AFailedWriteNamesTheFileAndTheCause) {
  DeadLetterFile full("/dev/full");
  sdk::RawMessage message;
  message.value = "{not json";
  auto written = full.append(dead_letter_line({"k", "t", {}}, message, "malformed"));
  ASSERT_FALSE(written);
  EXPECT_NE(written.message().find("/dev/full"), std::string::npos) << written.message();
  EXPECT_NE(written.message().find("No space left on device"), std::string::npos) << written.message();
  // Tried again, it fails again, and says so again: nothing is taken as written.
  EXPECT_FALSE(full.append(dead_letter_line({"k", "t", {}}, message, "malformed")));
}

TEST(DeadLetter, TheFileAndItsDirectoryAreMadeOnlyWhenFirstWritten) {
  TempDir dir;
  DeadLetterFile file(dir / "state" / "dead.jsonl");
  EXPECT_FALSE(std::filesystem::exists(dir / "state"));
  sdk::RawMessage message;
  ASSERT_TRUE(file.append(dead_letter_line({"k", "t", {}}, message, "x")));
  EXPECT_EQ(lines_of(read_file(dir / "state" / "dead.jsonl")).size(), 1u);
  EXPECT_FALSE(DeadLetterFile().enabled());
  EXPECT_FALSE(DeadLetterFile().append("x\n")) << "dead-lettering off";
}

TEST(DeadLetter, ALineThatIsNoDeadLetterSaysWhy) {
  EXPECT_FALSE(read_dead_letter(R"({"kind":"message","topic":"t","key":null,"value_base64":"***"})")) << "not base64";
  EXPECT_FALSE(is_dead_letter(R"({"before":null})"));
  auto unknown_action = read_dead_letter(R"({"kind":"invalidation","action":"explode","key":"k","sink":"s"})");
  ASSERT_FALSE(unknown_action);
  EXPECT_NE(unknown_action.error().find("unknown action 'explode'"), std::string::npos) << unknown_action.error();
  EXPECT_FALSE(read_dead_letter(R"({"kind":"invalidation","action":"delete","key":"k"})")) << "no sink";
  EXPECT_FALSE(read_dead_letter(R"({"kind":"other"})"));
  EXPECT_FALSE(read_dead_letter(R"({"kind":"message","topic":"t"})")) << "no value";
  EXPECT_FALSE(read_dead_letter("{not json"));
}

}  // namespace
}  // namespace invalidator::pipeline
