// The embedding API as a service (and the CLI) uses it: public headers only.
#include <gtest/gtest.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <mutex>

#include "invalidator/catalog.hpp"
#include "invalidator/configuration.hpp"
#include "invalidator/engine.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

using invalidator::testing::TempDir;
using invalidator::testing::write_file;

const std::string kFileToMemory = R"([sources.changes]
type = "file"
path = "PATH"
topic = "shop.public.customers"

[sinks.cache]
type = "memory"

[[routes]]
from = ["changes"]
table = "public.customers"
keys = ["customer:{id}"]
to = ["cache"]
)";

std::string with_path(std::string text, const std::string& path) {
  text.replace(text.find("PATH"), 4, path);
  return text;
}

TEST(Configuration, ReportsEveryProblemWithFileLineColumnAndKey) {
  TempDir dir;
  write_file(dir / "bad.toml", "[engine]\nqueue_capacity = 0\n[sources.s]\ntype = \"file\"\npath = \"x\"\nfolow = true\n"
                               "[sinks.c]\ntype = \"memory\"\n");
  auto configuration = Configuration::load_file(dir / "bad.toml");
  ASSERT_FALSE(configuration.valid());
  const auto& diagnostics = configuration.diagnostics();
  ASSERT_GE(diagnostics.size(), 2u) << configuration.diagnostics_text();
  EXPECT_EQ(diagnostics[0].file, (dir / "bad.toml").string());
  EXPECT_EQ(diagnostics[0].line, 2u);
  EXPECT_EQ(diagnostics[0].column, 18u);
  EXPECT_EQ(diagnostics[0].path, "engine.queue_capacity");
  EXPECT_NE(diagnostics[0].message.find("below the minimum of 1"), std::string::npos);
  EXPECT_EQ(diagnostics[1].line, 6u);
  EXPECT_EQ(diagnostics[1].path, "sources.s.folow");
  EXPECT_NE(diagnostics[1].message.find("did you mean 'follow'?"), std::string::npos) << diagnostics[1].message;
  EXPECT_EQ(configuration.diagnostics_text().find(diagnostics[0].to_string()), 0u);
}

TEST(Configuration, ExplainsAMessageAsData) {
  TempDir dir;
  write_file(dir / "in.jsonl", "");
  write_file(dir / "ok.toml", with_path(kFileToMemory, (dir / "in.jsonl").string()));
  auto configuration = Configuration::load_file(dir / "ok.toml");
  ASSERT_TRUE(configuration.valid()) << configuration.diagnostics_text();
  auto summary = configuration.summary();
  EXPECT_EQ(summary.sources, std::vector<std::string>{"changes"});
  EXPECT_EQ(summary.sinks, std::vector<std::string>{"cache"});
  EXPECT_EQ(summary.routes, 1u);

  ExplainRequest request;
  request.value = R"({"before":{"id":7,"name":"a"},"after":{"id":8,"name":"a"},"source":{"schema":"public","table":"customers","lsn":5},"op":"u"})";
  auto explanation = configuration.explain(request);
  ASSERT_EQ(explanation.outcome, Explanation::Outcome::invalidations) << explanation.reason;
  EXPECT_EQ(explanation.op, "update");
  EXPECT_EQ(explanation.table, "public.customers");
  EXPECT_EQ(explanation.version, 5u);
  ASSERT_EQ(explanation.invalidations.size(), 2u) << "the new key and the old one";
  EXPECT_EQ(explanation.invalidations[0].key, "customer:8");
  EXPECT_EQ(explanation.invalidations[1].key, "customer:7");
  EXPECT_EQ(explanation.invalidations[0].to_json(), R"({"route":0,"sink":"cache","action":"delete","key":"customer:8"})");

  request.source = "change";
  auto refused = configuration.explain(request);
  EXPECT_EQ(refused.outcome, Explanation::Outcome::refused);
  EXPECT_NE(refused.reason.find("did you mean 'changes'?"), std::string::npos) << refused.reason;
  request.source.clear();
  request.value = "{not json";
  EXPECT_EQ(configuration.explain(request).outcome, Explanation::Outcome::undecodable);
  request.value.reset();
  EXPECT_EQ(configuration.explain(request).outcome, Explanation::Outcome::skipped) << "a tombstone";
}

TEST(EngineBuilder, BuildsFromALoadedConfigurationWithoutReadingItAgain) {
  TempDir dir;
  write_file(dir / "in.jsonl",
             R"({"after":{"id":1},"source":{"schema":"public","table":"customers"},"op":"c"})" "\n");
  write_file(dir / "ok.toml", with_path(kFileToMemory, (dir / "in.jsonl").string()));
  auto configuration = Configuration::load_file(dir / "ok.toml");
  ASSERT_TRUE(configuration.valid()) << configuration.diagnostics_text();
  std::filesystem::remove(dir / "ok.toml");  // built from what was loaded: the file is not read again
  auto engine = EngineBuilder().configuration(std::move(configuration)).build();
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start());
  ASSERT_TRUE((*engine)->wait());
  EXPECT_EQ((*engine)->stats().delivered, 1u);
}

TEST(EngineBuilder, GivesItsDiagnosticsOneByOne) {
  EngineBuilder builder;
  builder.config_string("[sinks.cache]\ntype = \"memory\"\nshards = 0\n", "inline.toml");
  auto built = builder.build();
  ASSERT_FALSE(built);
  ASSERT_FALSE(builder.diagnostics().empty());
  bool found = false;
  for (const auto& diagnostic : builder.diagnostics()) {
    if (diagnostic.path == "sinks.cache.shards") {
      found = true;
      EXPECT_EQ(diagnostic.file, "inline.toml");
      EXPECT_EQ(diagnostic.line, 3u);
    }
  }
  EXPECT_TRUE(found) << built.error();
}

TEST(Engine, StartedTwiceSaysSo) {
  TempDir dir;
  write_file(dir / "in.jsonl", "");
  auto engine = EngineBuilder().config_string(with_path(kFileToMemory, (dir / "in.jsonl").string())).build();
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start());
  auto again = (*engine)->start();
  ASSERT_FALSE(again);
  EXPECT_NE(again.message().find("started already"), std::string::npos) << again.message();
  EXPECT_TRUE((*engine)->stop());
}

TEST(EngineBuilder, SendsTheEnginesLogLinesToTheServicesHandler) {
  TempDir dir;
  write_file(dir / "in.jsonl", "{not json\n");
  std::mutex mutex;
  std::vector<std::pair<sdk::LogLevel, std::string>> lines;
  auto engine = EngineBuilder()
                    .config_string(with_path(kFileToMemory, (dir / "in.jsonl").string()) + "\n[engine]\nstate_dir = \"" +
                                   dir.path().string() + "\"\n")
                    .log_to([&](sdk::LogLevel level, std::string_view message) {
                      std::lock_guard guard(mutex);
                      lines.emplace_back(level, std::string(message));
                    })
                    .build();
  ASSERT_TRUE(engine) << engine.error();
  ASSERT_TRUE((*engine)->start());
  ASSERT_TRUE((*engine)->wait());
  std::lock_guard guard(mutex);
  auto has = [&](sdk::LogLevel level, const std::string& text) {
    return std::any_of(lines.begin(), lines.end(), [&](const auto& line) {
      return line.first == level && line.second.find(text) != std::string::npos;
    });
  };
  EXPECT_TRUE(has(sdk::LogLevel::warn, "[source changes] message at 0/1 (topic")) << "the engine's own";
  EXPECT_TRUE(has(sdk::LogLevel::info, "[source changes] read 1 lines from")) << "a plugin's, through its logger";
  EXPECT_TRUE(has(sdk::LogLevel::info, "[source changes] finished"));
}

TEST(PluginCatalog, ListsThePluginsWithTheirSdkAndOptions) {
  auto catalog = PluginCatalog::discover();
  const PluginInfo* memory = catalog.find("memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->kind, sdk::PluginKind::sink);
  EXPECT_EQ(memory->abi_major, sdk::kAbiMajor);
  EXPECT_NE(memory->options.find("max_entries"), nullptr);
  EXPECT_NE(PluginCatalog::options_markdown(memory->options).find("`max_entries`"), std::string::npos);
  EXPECT_NE(catalog.reference_markdown().find("## sink `memory`"), std::string::npos);
}

}  // namespace
}  // namespace invalidator
