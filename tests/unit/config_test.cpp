#include <gtest/gtest.h>

#include <cstdlib>

#include "config/diagnostics.hpp"
#include "config/pipeline_config.hpp"
#include "config/spec_validation.hpp"
#include "config/values.hpp"
#include "engine_setup.hpp"
#include "invalidator/sdk/plugin.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);
INVALIDATOR_DECLARE_STATIC_PLUGIN(file);

namespace invalidator::config {
namespace {

using namespace std::chrono_literals;

TEST(Durations, ParseUnits) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2000ms);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("3m"), 180'000ms);
  EXPECT_EQ(parse_duration("1h"), 3'600'000ms);
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_FALSE(parse_duration("5"));
  EXPECT_FALSE(parse_duration("fast"));
  EXPECT_FALSE(parse_duration("5 parsecs"));
}

TEST(Sizes, ParseUnits) {
  EXPECT_EQ(parse_size("512"), 512);
  EXPECT_EQ(parse_size("64KiB"), 64 * 1024);
  EXPECT_EQ(parse_size("10MB"), 10'000'000);
  EXPECT_EQ(parse_size("1GiB"), 1024LL * 1024 * 1024);
  EXPECT_FALSE(parse_size("lots"));
  EXPECT_FALSE(parse_size("5XB"));
}

TEST(Environment, ExpandsVariablesAndDefaults) {
  ::setenv("INVALIDATOR_TEST_HOST", "cache.local", 1);
  ::unsetenv("INVALIDATOR_TEST_MISSING");
  EXPECT_EQ(expand_environment("redis://${INVALIDATOR_TEST_HOST}:6379").value(), "redis://cache.local:6379");
  EXPECT_EQ(expand_environment("${INVALIDATOR_TEST_MISSING:-localhost:9092}").value(), "localhost:9092");
  EXPECT_EQ(expand_environment("cost $$5").value(), "cost $5");
  auto missing = expand_environment("${INVALIDATOR_TEST_MISSING}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("INVALIDATOR_TEST_MISSING is not set"), std::string::npos);
  EXPECT_FALSE(expand_environment("${unclosed"));
}

TEST(DidYouMean, SuggestsCloseNames) {
  std::vector<std::string> names{"url", "password", "key_prefix"};
  EXPECT_EQ(closest_match("urll", names), "url");
  EXPECT_EQ(closest_match("pasword", names), "password");
  EXPECT_EQ(closest_match("completely_different", names), "");
}

sdk::ConfigSpec test_spec() {
  sdk::ConfigSpec spec;
  spec.option("url", sdk::OptionType::string).required().example("\"redis://x\"")
      .option("timeout", sdk::OptionType::duration).default_value("\"5s\"").min(1)
      .option("pool", sdk::OptionType::integer).default_value("4").min(1).max(64)
      .option("mode", sdk::OptionType::string).default_value("\"fast\"").one_of({"fast", "safe"})
      .option("password", sdk::OptionType::string).secret()
      .option("topics", sdk::OptionType::string_list)
      .option("limit", sdk::OptionType::size).default_value("\"1MiB\"")
      .option("extra", sdk::OptionType::string_map);
  return spec;
}

sdk::Config validate(const std::string& toml_text, Diagnostics& out) {
  auto root = parse_toml(toml_text, "test.toml", out);
  EXPECT_TRUE(root);
  return validate_table(*root, test_spec(), "sinks.x", "test.toml", out);
}

TEST(SpecValidation, FillsDefaultsAndTypes) {
  Diagnostics out;
  auto config = validate("url = \"redis://h\"\ntopics = [\"a\", \"b\"]\n[extra]\n\"fetch.min.bytes\" = 1\n", out);
  EXPECT_TRUE(out.empty()) << out.to_string();
  EXPECT_EQ(config.string("url"), "redis://h");
  EXPECT_EQ(config.duration("timeout"), 5000ms);
  EXPECT_EQ(config.integer("pool"), 4);
  EXPECT_EQ(config.string("mode"), "fast");
  EXPECT_EQ(config.integer("limit"), 1024 * 1024);
  EXPECT_EQ(config.string_list("topics"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config.string_map("extra").at("fetch.min.bytes"), "1");
}

TEST(SpecValidation, CollectsEveryErrorWithPositions) {
  Diagnostics out;
  validate("urll = \"x\"\ntimeout = \"5 parsecs\"\npool = 100\nmode = \"fsat\"\ntopics = \"a\"\n", out);
  std::string text = out.to_string();
  EXPECT_EQ(out.size(), 6u) << text;
  EXPECT_NE(text.find("test.toml:1:1: sinks.x.urll: unknown key 'urll' (did you mean 'url'?)"), std::string::npos) << text;
  EXPECT_NE(text.find("test.toml:2:11: sinks.x.timeout: bad duration '5 parsecs'"), std::string::npos) << text;
  EXPECT_NE(text.find("sinks.x.pool: value is above the maximum of 64"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown value 'fsat' (did you mean 'fast'?)"), std::string::npos) << text;
  EXPECT_NE(text.find("write [\"a\"] for a single entry"), std::string::npos) << text;
  EXPECT_NE(text.find("missing required key 'url'"), std::string::npos) << text;
}

TEST(SpecValidation, NeverShowsSecrets) {
  Diagnostics out;
  validate("url = \"u\"\npassword = 42\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.items()[0].message.find("42"), std::string::npos);
}

TEST(SpecValidation, ExpandsEnvironmentInStrings) {
  ::setenv("INVALIDATOR_TEST_URL", "redis://from-env", 1);
  Diagnostics out;
  auto config = validate("url = \"${INVALIDATOR_TEST_URL}\"\n", out);
  EXPECT_TRUE(out.empty()) << out.to_string();
  EXPECT_EQ(config.string("url"), "redis://from-env");
}

LoadedConfiguration load(const std::string& text) {
  Diagnostics syntax;
  auto root = parse_toml(text, "pipeline.toml", syntax);
  if (!root) {
    LoadedConfiguration failed;
    failed.diagnostics = syntax;
    return failed;
  }
  LoadOptions options;
  options.load_plugin_files = false;
  options.builtin_plugins = {&invalidator_static_plugin_memory(), &invalidator_static_plugin_file()};
  return load_configuration(*root, "pipeline.toml", options);
}

constexpr const char* kValidPipeline = R"(
[engine]
shutdown_timeout = "10s"

[sources.events]
type = "file"
path = "/dev/null"

[sinks.cache]
type = "memory"
max_entries = 1000
[sinks.cache.batch]
max_events = 64
max_delay = "1ms"

[[routes]]
from = ["events"]
table = "public.customers"
ops = ["update", "delete"]
changed = ["email"]
keys = ["customer:{id}", "customer:email:{email}"]
to = ["cache"]
)";

TEST(PipelineConfig, ReadsAValidPipeline) {
  auto loaded = load(kValidPipeline);
  ASSERT_TRUE(loaded.diagnostics.empty()) << loaded.diagnostics.to_string();
  const auto& pipeline = loaded.pipeline;
  EXPECT_EQ(pipeline.engine.shutdown_timeout, 10'000ms);
  ASSERT_EQ(pipeline.sources.size(), 1u);
  ASSERT_EQ(pipeline.sinks.size(), 1u);
  EXPECT_EQ(pipeline.sinks[0].sink.batch.max_events, 64u);
  EXPECT_EQ(pipeline.sinks[0].options.integer("max_entries"), 1000);
  ASSERT_EQ(pipeline.routes.size(), 1u);
  EXPECT_EQ(pipeline.routes[0].ops, (std::vector<sdk::Op>{sdk::Op::update, sdk::Op::remove}));
}

TEST(PipelineConfig, ReportsRouteErrors) {
  auto loaded = load(R"(
[sources.events]
type = "file"
path = "/dev/null"
[sinks.cache]
type = "memory"
[[routes]]
from = ["event"]
table = "public.customers"
ops = ["updte"]
keys = ["customer:{id"]
to = ["cahce"]
)");
  std::string text = loaded.diagnostics.to_string();
  EXPECT_NE(text.find("routes[0].from: unknown source 'event' (did you mean 'events'?)"), std::string::npos) << text;
  EXPECT_NE(text.find("routes[0].to: unknown sink 'cahce' (did you mean 'cache'?)"), std::string::npos) << text;
  EXPECT_NE(text.find("routes[0].ops: unknown op 'updte' (did you mean 'update'?)"), std::string::npos) << text;
  EXPECT_NE(text.find("routes[0].keys: unclosed '{'"), std::string::npos) << text;
}

TEST(PipelineConfig, ReportsUnknownPluginTypes) {
  auto loaded = load("[sources.events]\ntype = \"fiel\"\npath = \"x\"\n[sinks.cache]\ntype = \"memory\"\n"
                     "[[routes]]\nfrom = [\"events\"]\ntable = \"t\"\nkeys = [\"k\"]\nto = [\"cache\"]\n");
  std::string text = loaded.diagnostics.to_string();
  EXPECT_NE(text.find("pipeline.toml:2:8: sources.events.type: unknown source type 'fiel' (did you mean 'file'?)"),
            std::string::npos)
      << text;
}

TEST(PipelineConfig, ReportsSyntaxErrorsWithPosition) {
  auto loaded = load("[engine\nplugin_path = []\n");
  ASSERT_EQ(loaded.diagnostics.size(), 1u);
  EXPECT_EQ(loaded.diagnostics.items()[0].where.line, 1u);
  EXPECT_NE(loaded.diagnostics.items()[0].message.find("TOML syntax error"), std::string::npos);
}

}  // namespace
}  // namespace invalidator::config
