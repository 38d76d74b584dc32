#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/test_support.hpp"

namespace invalidator {
namespace {

using namespace std::chrono_literals;
using invalidator::testing::read_file;
using invalidator::testing::run_command;
using invalidator::testing::TempDir;
using invalidator::testing::write_file;

const std::string kBinary = INVALIDATOR_BINARY;

std::string in_repository(const std::string& arguments, const std::string& environment = "") {
  return "cd '" INVALIDATOR_SOURCE_DIR "' && env -u INVALIDATOR_PLUGIN_PATH " + environment + " '" + kBinary + "' " +
         arguments;
}

pid_t spawn_run(const std::string& config, const std::filesystem::path& log, int input = -1) {
  return invalidator::testing::spawn_invalidator_run(config, log, input);
}

// Waits until `log` contains `text` (bounded), as a person watching the log would.
void wait_for_log(const std::filesystem::path& log, const std::string& text) {
  EXPECT_TRUE(invalidator::testing::eventually([&] { return read_file(log).find(text) != std::string::npos; }, 30s))
      << "no '" << text << "' in:\n" << read_file(log);
}

TEST(Cli, PrintsItsVersion) {
  auto result = run_command(kBinary + " --version");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("0."), std::string::npos) << result.output;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* subcommand : {"run", "validate", "explain", "plugins", "metrics"}) {
    auto result = run_command(kBinary + " " + subcommand + " --help");
    EXPECT_EQ(result.exit_code, 0) << subcommand;
    EXPECT_NE(result.output.find("Usage"), std::string::npos) << result.output;
  }
  EXPECT_NE(run_command(kBinary + " run --help").output.find("--config"), std::string::npos);
}

TEST(Cli, BadUsageExitsWithTwo) {
  EXPECT_EQ(run_command(kBinary + " frobnicate").exit_code, 2);
  EXPECT_EQ(run_command(kBinary).exit_code, 2);
  EXPECT_EQ(run_command(kBinary + " run").exit_code, 2) << "run needs --config";
  EXPECT_EQ(run_command(kBinary + " validate -c /nonexistent.toml").exit_code, 2);
}

TEST(Cli, RunReplaysTheQuickstartAndShowsTheInvalidations) {
  TempDir dir;
  auto result = run_command(in_repository("run -c configs/quickstart-replay.toml",
                                          "INVALIDATOR_DEAD_LETTER='" + (dir / "dead.jsonl").string() + "'"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* expected : {"delete customer:1001", "delete customer:by-email:gbailey@foobar.com",
                               "delete customer:by-email:george.bailey@bedfordfalls.org", "delete customer:1004",
                               "delete invoice:5001", "delete customer:1001:invoices"}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
  EXPECT_EQ(result.output.find("customer:1003"), std::string::npos) << "a login alone changes nothing cached";
  EXPECT_NE(read_file(dir / "dead.jsonl").find("\"source\":\"changes\""), std::string::npos);
}

TEST(Cli, ValidateSaysWhatBecomesOfWhatCannotBeKept) {
  TempDir dir;
  const std::string pipeline = "[sources.s]\ntype = \"file\"\npath = \"x\"\n[sinks.c]\ntype = \"memory\"\n"
                               "[[routes]]\nfrom = [\"s\"]\ntable = \"t\"\nkeys = [\"k:{id}\"]\nto = [\"c\"]\n";
  write_file(dir / "default.toml", pipeline);
  auto by_default = run_command(kBinary + " validate -c " + (dir / "default.toml").string());
  EXPECT_EQ(by_default.exit_code, 0) << by_default.output;
  EXPECT_NE(by_default.output.find("on error: dead letter: what cannot be decoded or delivered goes to " +
                                   (dir / "invalidator-state" / "dead-letters.jsonl").string()),
            std::string::npos)
      << by_default.output;
  write_file(dir / "stop.toml", "[engine]\non_error = \"stop\"\n" + pipeline);
  auto stopping = run_command(kBinary + " validate -c " + (dir / "stop.toml").string());
  EXPECT_NE(stopping.output.find("on error: stop (engine.on_error = \"stop\")"), std::string::npos) << stopping.output;
}

TEST(Cli, ConfigErrorsExitWithTwoAndStartFailuresWithOne) {
  TempDir dir;
  write_file(dir / "typo.toml", "[sources.s]\ntype = \"file\"\npath = \"x\"\n[sinks.c]\ntype = \"memroy\"\n");
  auto typo = run_command(kBinary + " run -c " + (dir / "typo.toml").string());
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("typo.toml:5:8: sinks.c.type: unknown sink type 'memroy' (did you mean 'memory'?)"),
            std::string::npos)
      << typo.output;

  write_file(dir / "missing.toml", "[sources.s]\ntype = \"file\"\npath = \"/nonexistent/x.jsonl\"\n"
                                   "[sinks.c]\ntype = \"memory\"\n[[routes]]\nfrom = [\"s\"]\ntable = \"t\"\n"
                                   "keys = [\"k:{id}\"]\nto = [\"c\"]\n");
  EXPECT_EQ(run_command(kBinary + " validate -c " + (dir / "missing.toml").string()).exit_code, 0)
      << "validate does not open anything";
  auto missing = run_command(kBinary + " run -c " + (dir / "missing.toml").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("cannot open /nonexistent/x.jsonl"), std::string::npos) << missing.output;
}

TEST(Cli, SigtermDrainsAndExitsCleanly) {
  TempDir dir;
  write_file(dir / "events.jsonl",
             R"({"before":{"id":1},"after":{"id":1},"source":{"schema":"public","table":"t","lsn":5},"op":"u"})"
             "\n");
  write_file(dir / "follow.toml", "[engine]\nstats_interval = \"5ms\"\n[sources.s]\ntype = \"file\"\nfollow = true\npoll_interval = \"10ms\"\npath = \"" +
                                      (dir / "events.jsonl").string() +
                                      "\"\n[sinks.c]\ntype = \"memory\"\nlog_invalidations = true\n[[routes]]\n"
                                      "from = [\"s\"]\ntable = \"public.t\"\nkeys = [\"t:{id}\"]\nto = [\"c\"]\n");
  auto log = dir / "log.txt";
  pid_t child = spawn_run((dir / "follow.toml").string(), log);
  ASSERT_GE(child, 0);
  wait_for_log(log, "delete t:1");  // the event went through; now ask the process to stop
  wait_for_log(log, "stats: 1 messages");  // the periodic stats line
  wait_for_log(log, "stats: source s: running, 1 received");  // and one per component
  wait_for_log(log, "stats: sink c: 1 delivered");
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::string output = read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("delete t:1"), std::string::npos) << output;
  EXPECT_NE(output.find("draining in-flight work"), std::string::npos) << output;
  EXPECT_NE(output.find("1 acknowledged"), std::string::npos) << output;
}

std::string stdin_config(const TempDir& dir) {
  write_file(dir / "stdin.toml", "[sources.s]\ntype = \"file\"\npath = \"-\"\n[sinks.c]\ntype = \"memory\"\n"
                                 "log_invalidations = true\n[[routes]]\nfrom = [\"s\"]\ntable = \"public.t\"\n"
                                 "keys = [\"t:{id}\"]\nto = [\"c\"]\n");
  return (dir / "stdin.toml").string();
}

TEST(Cli, RunReadsStandardInput) {
  TempDir dir;
  write_file(dir / "in.jsonl",
             R"({"before":null,"after":{"id":7},"source":{"schema":"public","table":"t"},"op":"u"})" "\n"
             R"({"before":{"id":8},"after":null,"source":{"schema":"public","table":"t"},"op":"d"})");
  auto result = run_command(kBinary + " run -c " + stdin_config(dir) + " < " + (dir / "in.jsonl").string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("delete t:7"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("delete t:8"), std::string::npos) << "the last line needs no newline\n" << result.output;
}

TEST(Cli, SigintStopsASourceWaitingOnStandardInput) {
  TempDir dir;
  std::string config = stdin_config(dir);
  auto log = dir / "log.txt";
  int input[2];
  ASSERT_EQ(::pipe(input), 0);
  pid_t child = spawn_run(config, log, input[0]);
  ASSERT_GE(child, 0);
  ::close(input[0]);
  std::string line = R"({"before":null,"after":{"id":9},"source":{"schema":"public","table":"t"},"op":"u"})" "\n";
  ASSERT_EQ(::write(input[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  wait_for_log(log, "delete t:9");
  ::kill(child, SIGINT);  // standard input stays open: the source must not wait for it
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(input[1]);
  std::string output = read_file(log);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("1 acknowledged"), std::string::npos) << output;
}

class Explain : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "pipeline.toml",
               "[sources.kafka]\ntype = \"file\"\npath = \"/dev/null\"\n"
               "[sources.other]\ntype = \"file\"\npath = \"/dev/null\"\n"
               "[sinks.cache]\ntype = \"memory\"\n"
               "[[routes]]\nfrom = [\"kafka\"]\ntable = \"*.products\"\nkeys = [\"product:{id}\", \"product:name:{name}\"]\n"
               "redelete_after = \"500ms\"\nto = [\"cache\"]\n");
  }
  // stdout only: the invalidations.
  invalidator::testing::CommandResult invalidations(const std::string& arguments) {
    return run_command("{ " + kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " " + arguments +
                       " 2>/dev/null; }");
  }
  // stderr only: the decoded event and the verdicts.
  invalidator::testing::CommandResult explanation(const std::string& arguments) {
    return run_command("{ " + kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " " + arguments +
                       " >/dev/null; }");
  }
  std::string fixture(const std::string& name) { return std::string(INVALIDATOR_FIXTURES_DIR) + "/debezium/" + name; }
  TempDir dir_;
};

TEST_F(Explain, PrintsOneJsonObjectPerInvalidation) {
  auto result = invalidations("--source kafka " + fixture("pg_update_replica_full_no_schema.json"));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output,
            "{\"route\":0,\"sink\":\"cache\",\"action\":\"delete\",\"key\":\"product:106\",\"redelete_after_ms\":500}\n"
            "{\"route\":0,\"sink\":\"cache\",\"action\":\"delete\",\"key\":\"product:name:hammer\",\"redelete_after_ms\":500}\n");
  auto why = explanation("--source kafka " + fixture("pg_update_replica_full_no_schema.json"));
  EXPECT_NE(why.output.find("decoded: update inventory.products (version 34131104"), std::string::npos) << why.output;
  EXPECT_NE(why.output.find("route 0: matched"), std::string::npos) << why.output;
}

TEST_F(Explain, SaysWhyNothingMatched) {
  auto result = invalidations("--source other " + fixture("pg_delete_replica_full_no_schema.json"));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "");
  auto why = explanation("--source other " + fixture("pg_delete_replica_full_no_schema.json"));
  EXPECT_NE(why.output.find("route 0: listens to other sources"), std::string::npos) << why.output;
  EXPECT_NE(why.output.find("no invalidation"), std::string::npos) << why.output;
}

TEST_F(Explain, UsesTheRecordKeyForADeleteWithoutBeforeImage) {
  write_file(dir_ / "delete.json", R"({"before":null,"after":null,"source":{"schema":"inventory","table":"products"},"op":"d"})");
  auto result = invalidations("--source kafka --key " + fixture("pg_tombstone.key.with_schema.json") + " " +
                              (dir_ / "delete.json").string());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("\"key\":\"product:111\""), std::string::npos) << result.output;
}

TEST_F(Explain, NamesAKeyTheRowBeforeTheChangeCannotRenderAndTheFix) {
  // REPLICA IDENTITY DEFAULT: an update without its old row; the old name's key is unknown.
  write_file(dir_ / "key.json", R"({"id":106})");
  auto why = explanation("--source kafka --key " + (dir_ / "key.json").string() + " " +
                         fixture("pg_update_before_null_no_schema.json"));
  EXPECT_NE(why.output.find("route 0 (inventory.products): key template \"product:name:{name}\" rendered no key for "
                            "the row before the change"),
            std::string::npos)
      << why.output;
  EXPECT_NE(why.output.find("fix: ALTER TABLE inventory.products REPLICA IDENTITY FULL"), std::string::npos)
      << why.output;
}

TEST_F(Explain, AChangedColumnNoImageHasIsAnErrorWhenTheMessageCarriesItsSchema) {
  write_file(dir_ / "changed.toml", "[sources.kafka]\ntype = \"file\"\npath = \"/dev/null\"\n[sinks.cache]\n"
                                    "type = \"memory\"\n[[routes]]\nfrom = [\"kafka\"]\ntable = \"*.products\"\n"
                                    "changed = [\"nmae\", \"name\"]\nkeys = [\"product:{id}\"]\nto = [\"cache\"]\n");
  const std::string payload = R"({"before":{"id":1,"name":"a"},"after":{"id":1,"name":"b"},)"
                              R"("source":{"schema":"inventory","table":"products"},"op":"u"})";
  write_file(dir_ / "plain.json", payload);
  write_file(dir_ / "with_schema.json",
             R"({"schema":{"type":"struct","fields":[{"field":"before"},{"field":"after"}]},"payload":)" + payload + "}");
  auto explain = [&](const std::string& file) {
    return run_command("{ " + kBinary + " explain -c " + (dir_ / "changed.toml").string() + " " +
                       (dir_ / file).string() + " >/dev/null; }")
        .output;
  };
  const std::string plain = explain("plain.json");
  EXPECT_NE(plain.find("route 0 (inventory.products): `changed` names column 'nmae', which is in neither the row nor "
                       "the row before: probably a misspelling"),
            std::string::npos)
      << plain;
  EXPECT_EQ(plain.find("error: route 0"), std::string::npos) << plain;
  const std::string with_schema = explain("with_schema.json");
  EXPECT_NE(with_schema.find("error: route 0 (inventory.products): `changed` names column 'nmae'"), std::string::npos)
      << with_schema;
  EXPECT_NE(with_schema.find("the message's schema has no field 'nmae'"), std::string::npos) << with_schema;
}

TEST(Cli, TheStatsLineCountsKeysNotRenderedByRouteAndReason) {
  TempDir dir;
  const std::string update = invalidator::testing::read_file(std::string(INVALIDATOR_FIXTURES_DIR) +
                                                             "/debezium/pg_update_before_null_no_schema.json");
  std::string record = R"({"topic":"fullfillment.inventory.products","key":{"id":106},"value":)" + update + "}";
  record.erase(std::remove(record.begin(), record.end(), '\n'), record.end());
  write_file(dir / "events.jsonl", record + "\n" + record + "\n");
  write_file(dir / "pipeline.toml", "[engine]\nstats_interval = \"1ms\"\n[sources.s]\ntype = \"file\"\npath = \"" +
                                        (dir / "events.jsonl").string() +
                                        "\"\n[sinks.c]\ntype = \"memory\"\n[[routes]]\nfrom = [\"s\"]\n"
                                        "table = \"*.products\"\nkeys = [\"product:{id}\", \"product:name:{name}\"]\n"
                                        "to = [\"c\"]\n");
  auto result = run_command(kBinary + " run -c " + (dir / "pipeline.toml").string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("2 keys not rendered (routes[0] not_in_before_image: 2)"), std::string::npos)
      << result.output;
  const auto first = result.output.find("REPLICA IDENTITY FULL");
  EXPECT_NE(first, std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("REPLICA IDENTITY FULL", first + 1), std::string::npos) << "logged once per route";
}

TEST_F(Explain, SkippedAndMalformedMessages) {
  auto tombstone = run_command(kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " --source kafka " +
                               fixture("pg_tombstone.value.json"));
  EXPECT_EQ(tombstone.exit_code, 0);
  EXPECT_NE(tombstone.output.find("skipped: tombstone"), std::string::npos) << tombstone.output;
  write_file(dir_ / "broken.json", "{\"op\":");
  auto broken = run_command(kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " --source kafka " +
                            (dir_ / "broken.json").string());
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("cannot decode: malformed JSON"), std::string::npos) << broken.output;
}

TEST_F(Explain, ReadsStandardInputAndNeedsASourceWhenThereAreSeveral) {
  auto piped = run_command("{ " + kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " --source kafka - < " +
                           fixture("pg_create_no_schema.json") + " 2>/dev/null; }");
  EXPECT_EQ(piped.exit_code, 0);
  EXPECT_NE(piped.output.find("product:110"), std::string::npos) << piped.output;
  auto ambiguous = run_command(kBinary + " explain -c " + (dir_ / "pipeline.toml").string() + " " +
                               fixture("pg_create_no_schema.json"));
  EXPECT_EQ(ambiguous.exit_code, 2);
  EXPECT_NE(ambiguous.output.find("choose one with --source"), std::string::npos) << ambiguous.output;
}

// At-least-once across a real crash: SIGKILL in the middle of a stream, then a restart with
// the same checkpoint. Every key must have been invalidated by one run or the other.
TEST(Cli, AKilledRunRestartsFromItsCheckpointAndSkipsNothing) {
  TempDir dir;
  constexpr int kEvents = 60'000;  // long enough a run to be killed in the middle
  {
    std::ofstream events(dir / "events.jsonl");
    for (int i = 1; i <= kEvents; ++i) {
      events << R"({"before":{"id":)" << i << R"(},"after":{"id":)" << i
             << R"(},"source":{"schema":"public","table":"t","lsn":)" << i << R"(},"op":"u"})" << "\n";
    }
  }
  write_file(dir / "pipeline.toml",
             "[sources.s]\ntype = \"file\"\npath = \"" + (dir / "events.jsonl").string() + "\"\ncheckpoint = \"" +
                 (dir / "checkpoint").string() + "\"\ncheckpoint_interval = \"20ms\"\n"
                 "[sinks.c]\ntype = \"memory\"\nlog_invalidations = true\n[sinks.c.batch]\nmax_events = 16\n"
                 "[[routes]]\nfrom = [\"s\"]\ntable = \"public.t\"\nkeys = [\"t:{id}\"]\nto = [\"c\"]\n");
  auto first_log = dir / "first.log";
  pid_t child = spawn_run((dir / "pipeline.toml").string(), first_log);
  ASSERT_GE(child, 0);
  // Kill it once a checkpoint exists and work is under way, long before the end.
  for (int i = 0; i < 2000; ++i) {
    std::error_code ignored;
    if (std::filesystem::exists(dir / "checkpoint") && std::filesystem::file_size(first_log, ignored) > 20'000) break;
    std::this_thread::sleep_for(1ms);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the first run finished before it could be killed";
  std::uint64_t checkpoint = std::stoull(read_file(dir / "checkpoint"));
  EXPECT_GT(checkpoint, 0u);
  EXPECT_LT(checkpoint, static_cast<std::uint64_t>(kEvents));

  auto second = run_command(kBinary + " run -c " + (dir / "pipeline.toml").string());
  ASSERT_EQ(second.exit_code, 0) << second.output.substr(0, 2000);
  EXPECT_NE(second.output.find("resuming"), std::string::npos);

  std::vector<bool> seen(kEvents + 1, false);
  std::size_t second_count = 0;
  auto collect = [&](const std::string& log, std::size_t* count) {
    for (std::size_t at = log.find("delete t:"); at != std::string::npos; at = log.find("delete t:", at + 1)) {
      int id = std::atoi(log.c_str() + at + 9);
      if (id >= 1 && id <= kEvents) seen[static_cast<std::size_t>(id)] = true;
      if (count) ++*count;
    }
  };
  collect(read_file(first_log), nullptr);
  collect(second.output, &second_count);
  int missing = 0;
  for (int i = 1; i <= kEvents; ++i) missing += seen[static_cast<std::size_t>(i)] ? 0 : 1;
  EXPECT_EQ(missing, 0) << "keys never invalidated by either run";
  EXPECT_LT(second_count, static_cast<std::size_t>(kEvents)) << "the second run resumed, it did not start over";
  EXPECT_EQ(std::stoull(read_file(dir / "checkpoint")), static_cast<std::uint64_t>(kEvents));
}

TEST(Cli, PluginsAreListedAndDocumented) {
  auto list = run_command(in_repository("plugins"));
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.output.find("sink     memory"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("source   file"), std::string::npos) << list.output;
  auto docs = run_command(in_repository("plugins --docs"));
  EXPECT_EQ(docs.exit_code, 0);
  EXPECT_NE(docs.output.find("## [engine]"), std::string::npos);
  EXPECT_NE(docs.output.find("## sink `memory`"), std::string::npos);
  EXPECT_NE(docs.output.find("| `max_entries` | integer | `100000` |"), std::string::npos) << docs.output;
  EXPECT_EQ(run_command(in_repository("plugins --options nosuch")).exit_code, 2);
}

TEST(Cli, TheConfigurationReferenceIsCurrent) {
  auto docs = run_command(in_repository("plugins --docs 2>/dev/null"));
  ASSERT_EQ(docs.exit_code, 0);
  EXPECT_EQ(docs.output, read_file(INVALIDATOR_SOURCE_DIR "/docs/configuration.md"))
      << "docs/configuration.md is stale: run scripts/update-plugin-docs";
}

TEST(Cli, TheMetricsReferenceIsCurrent) {
  auto docs = run_command(in_repository("metrics 2>/dev/null"));
  ASSERT_EQ(docs.exit_code, 0);
  EXPECT_NE(docs.output.find("| `invalidator_events_received_total` | counter | `source` |"), std::string::npos)
      << docs.output;
  EXPECT_EQ(docs.output, read_file(INVALIDATOR_SOURCE_DIR "/docs/metrics.md"))
      << "docs/metrics.md is stale: run scripts/update-plugin-docs";
}

// Every line of `output` one JSON object; how many there were.
std::size_t expect_json_lines(const std::string& output) {
  std::size_t lines = 0;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    std::string line = output.substr(start, end - start);
    EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
    ++lines;
    start = end == std::string::npos ? output.size() : end + 1;
  }
  return lines;
}

TEST(Cli, JsonLogsAreOneObjectPerLine) {
  TempDir dir;
  auto result = run_command(in_repository("--log-format json run -c configs/quickstart-replay.toml",
                                          "INVALIDATOR_DEAD_LETTER='" + (dir / "dead.jsonl").string() + "'"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_GT(expect_json_lines(result.output), 5u);
  // A component's tag becomes its component and a field; the engine's own lines are "engine".
  EXPECT_NE(result.output.find(R"("component":"source changes","message":"finished","fields":{"source":"changes"}})"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find(R"("component":"engine","message":"stopped: )"), std::string::npos) << result.output;
}

// engine.log_format = "json" in the configuration, the command line saying nothing; and the
// command line's choice winning over it.
TEST(Cli, TheConfigurationCanAskForJsonLogs) {
  TempDir dir;
  std::string config = read_file(INVALIDATOR_SOURCE_DIR "/configs/quickstart-replay.toml");
  const auto engine_table = config.find("[engine]\n");
  ASSERT_NE(engine_table, std::string::npos) << "configs/quickstart-replay.toml has no [engine] table";
  config.insert(engine_table + 9, "log_format = \"json\"\n");
  write_file(dir / "json.toml", config);
  const std::string environment = "INVALIDATOR_DEAD_LETTER='" + (dir / "dead.jsonl").string() + "'";
  auto json = run_command(in_repository("run -c " + (dir / "json.toml").string(), environment));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_GT(expect_json_lines(json.output), 5u);
  auto text = run_command(in_repository("--log-format text run -c " + (dir / "json.toml").string(), environment));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_EQ(text.output.find("{\"time\""), std::string::npos) << text.output;
}

// Secrets (a password in a DSN or a URL, a declared secret option) appear in no output: not
// validate's, not explain's, not the log of a run whose servers cannot be reached, not its
// admin endpoint's /status, /metrics or /readyz, and not a refused configuration's message.
TEST(Cli, SecretsAppearInNoOutput) {
  TempDir dir;
  const std::vector<std::string> secrets{"hunter2pg", "s3cr3tredis", "hmac-secret-9", "bearer-tok-7"};
  const std::string tables =
      "[sources.pg]\ntype = \"postgres\"\ndsn = \"postgresql://app:hunter2pg@127.0.0.1:1/shop\"\n"
      "slot = \"s\"\npublication = \"p\"\n"
      "[sinks.cache]\ntype = \"redis\"\nurl = \"REDIS_URL\"\n"
      "[sinks.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/hook\"\nsecret = \"hmac-secret-9\"\n"
      "bearer_token = \"bearer-tok-7\"\n"
      "[[routes]]\nfrom = [\"pg\"]\ntable = \"public.customers\"\nkeys = [\"customer:{id}\"]\nto = [\"cache\", \"hook\"]\n";
  auto with_redis_url = [&](const std::string& url) {
    std::string text = tables;
    text.replace(text.find("REDIS_URL"), 9, url);
    return text;
  };
  write_file(dir / "good.toml", "[engine]\nadmin = \"127.0.0.1:0\"\nstate_dir = \"" + (dir / "state").string() + "\"\n" +
                                    with_redis_url("redis://:s3cr3tredis@127.0.0.1:1/0"));
  write_file(dir / "bad.toml", "[engine]\nstate_dir = \"" + (dir / "state").string() + "\"\n" +
                                   with_redis_url("rediz://:s3cr3tredis@127.0.0.1:1/0"));
  write_file(dir / "change.json",
             R"({"before":null,"after":{"id":7},"source":{"schema":"public","table":"customers"},"op":"c"})");
  auto expect_no_secret = [&](const std::string& where, const std::string& output) {
    for (const auto& secret : secrets) EXPECT_EQ(output.find(secret), std::string::npos) << where << ":\n" << output;
  };

  auto validate = run_command(kBinary + " validate -c " + (dir / "good.toml").string());
  EXPECT_EQ(validate.exit_code, 0) << validate.output;
  expect_no_secret("validate", validate.output);
  auto refused = run_command(kBinary + " run -c " + (dir / "bad.toml").string());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("redis://"), std::string::npos) << "says what is wrong: " << refused.output;
  expect_no_secret("a refused configuration", refused.output);
  auto explained = run_command(kBinary + " explain -c " + (dir / "good.toml").string() + " " + (dir / "change.json").string());
  expect_no_secret("explain", explained.output);

  auto log = dir / "run.log";
  pid_t child = spawn_run((dir / "good.toml").string(), log);
  ASSERT_GE(child, 0);
  wait_for_log(log, "admin endpoint on 127.0.0.1:");
  wait_for_log(log, "[source pg] failed");  // connections were tried and failed
  const std::string text = read_file(log);
  const auto at = text.find("admin endpoint on 127.0.0.1:") + std::string("admin endpoint on 127.0.0.1:").size();
  const std::string port = text.substr(at, text.find(':', at) - at);
  for (const char* path : {"/status", "/metrics", "/readyz"}) {
    auto page = run_command("/usr/bin/python3 -c \"import urllib.request, urllib.error\n"
                            "try: print(urllib.request.urlopen('http://127.0.0.1:" + port + std::string(path) +
                            "').read().decode())\nexcept urllib.error.HTTPError as e: print(e.read().decode())\"");
    EXPECT_EQ(page.exit_code, 0) << path << ": " << page.output;
    EXPECT_FALSE(page.output.empty()) << path;
    expect_no_secret(path, page.output);
  }
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  expect_no_secret("the run's log", read_file(log));
}

}  // namespace
}  // namespace invalidator
