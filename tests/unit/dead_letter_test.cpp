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
  auto file = DeadLetterFile::open((dir / "dead.jsonl").string());
  ASSERT_TRUE(file) << file.error();
  sdk::RawMessage message;
  message.topic = "db.public.t";
  message.key = R"({"id":9})";
  message.value = R"({"before":null,"after":{"id":9},"op":"c","quote":"\"and\\"})";
  (*file)->message("changes", message, "sink was down");
  sdk::RawMessage tombstone;
  tombstone.topic = "db.public.t";
  (*file)->message("changes", tombstone, "a reason");
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
  auto read_tombstone = read_dead_letter(lines[1]);
  ASSERT_TRUE(read_tombstone) << read_tombstone.error();
  EXPECT_FALSE(read_tombstone->message.key);
  EXPECT_FALSE(read_tombstone->message.value);
}

TEST(DeadLetter, AnInvalidationIsReadBackForItsSink) {
  TempDir dir;
  auto file = DeadLetterFile::open((dir / "dead.jsonl").string());
  ASSERT_TRUE(file) << file.error();
  sdk::Invalidation invalidation{sdk::Action::set_value, "customer:1", std::string("Sally"), 77,
                                 std::chrono::milliseconds(5000)};
  (*file)->invalidation("pg", "x", invalidation, 2, "cache", "WRONGTYPE");
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
}

TEST(DeadLetter, ALineThatIsNoDeadLetterSaysWhy) {
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
