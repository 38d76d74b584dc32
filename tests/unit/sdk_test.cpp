#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>

#include "invalidator/sdk/backoff.hpp"
#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/state.hpp"

namespace invalidator::sdk {
namespace {

struct Base {
  virtual ~Base() = default;
};
struct Derived : Base {};

TEST(Result, HoldsAValueOrAnError) {
  Result<int> value = 5;
  EXPECT_TRUE(value);
  EXPECT_EQ(value.value(), 5);
  Result<int> error = Status::error("no");
  EXPECT_FALSE(error);
  EXPECT_EQ(error.error(), "no");
  Result<std::unique_ptr<Base>> converted = std::make_unique<Derived>();
  EXPECT_TRUE(converted);
}

enum class Mode { fast, safe };

struct ExampleOptions {
  std::string url;
  std::size_t pool;
  std::int64_t limit;
  double ratio;
  bool enabled;
  std::chrono::milliseconds timeout;
  Mode mode;
  std::vector<std::string> servers;
  std::map<std::string, std::string> extra;
  std::string optional_text;
};

OptionsSpec<ExampleOptions> example_options() {
  using O = ExampleOptions;
  OptionsSpec<O> spec("An example.");
  spec.option("url", &O::url).required();
  spec.option("pool", &O::pool).default_value(4).min(1);
  spec.option("limit", &O::limit).size().default_value(std::int64_t{64} << 10);
  spec.option("ratio", &O::ratio).default_value(0.5);
  spec.option("enabled", &O::enabled).default_value(true);
  spec.option("timeout", &O::timeout).default_value(std::chrono::seconds(90));
  spec.option("mode", &O::mode).choices({{"fast", Mode::fast}, {"safe", Mode::safe}}).default_value(Mode::safe);
  spec.option("servers", &O::servers).default_value(std::vector<std::string>{"a:1", "b \"2\""});
  spec.option("extra", &O::extra);
  spec.option("optional_text", &O::optional_text);
  return spec;
}

TEST(OptionsSpec, DescribesEachOptionWithItsTypeAndTheDefaultAsTomlText) {
  auto spec = example_options();
  const ConfigSpec& described = spec.describe();
  EXPECT_EQ(described.summary(), "An example.");
  ASSERT_EQ(described.options().size(), 10u);
  auto option = [&](std::string_view name) { return *described.find(name); };
  EXPECT_EQ(option("url").type, OptionType::string);
  EXPECT_TRUE(option("url").required);
  EXPECT_FALSE(option("url").default_value);
  EXPECT_EQ(option("pool").type, OptionType::integer);
  EXPECT_EQ(option("pool").default_value, "4");
  EXPECT_EQ(option("pool").min, 1.0);
  EXPECT_EQ(option("limit").type, OptionType::size);
  EXPECT_EQ(option("limit").default_value, "\"64KiB\"");
  EXPECT_EQ(option("ratio").type, OptionType::number);
  EXPECT_EQ(option("ratio").default_value, "0.5");
  EXPECT_EQ(option("enabled").default_value, "true");
  EXPECT_EQ(option("timeout").type, OptionType::duration);
  EXPECT_EQ(option("timeout").default_value, "\"90s\"");
  EXPECT_EQ(option("mode").type, OptionType::string);
  EXPECT_EQ(option("mode").one_of, (std::vector<std::string>{"fast", "safe"}));
  EXPECT_EQ(option("mode").default_value, "\"safe\"");
  EXPECT_EQ(option("servers").type, OptionType::string_list);
  EXPECT_EQ(option("servers").default_value, "[\"a:1\", \"b \\\"2\\\"\"]");
  EXPECT_EQ(option("extra").type, OptionType::string_map);
}

TEST(OptionsSpec, FillsTheStructFromAValidatedTable) {
  Config config;
  config.set("url", std::string("redis://h"));
  config.set("pool", std::int64_t{8});
  config.set("limit", std::int64_t{1000});
  config.set("ratio", std::int64_t{2});  // a number option accepts an integer
  config.set("enabled", false);
  config.set("timeout", std::chrono::milliseconds{250});
  config.set("mode", std::string("fast"));
  config.set("servers", std::vector<std::string>{"x:9"});
  config.set("extra", std::map<std::string, std::string>{{"k", "v"}});
  auto filled = example_options().fill(config);
  ASSERT_TRUE(filled) << filled.error();
  const ExampleOptions& options = filled.value();
  EXPECT_EQ(options.url, "redis://h");
  EXPECT_EQ(options.pool, 8u);
  EXPECT_EQ(options.limit, 1000);
  EXPECT_DOUBLE_EQ(options.ratio, 2.0);
  EXPECT_FALSE(options.enabled);
  EXPECT_EQ(options.timeout, std::chrono::milliseconds{250});
  EXPECT_EQ(options.mode, Mode::fast);
  EXPECT_EQ(options.servers, std::vector<std::string>{"x:9"});
  EXPECT_EQ(options.extra.at("k"), "v");
}

TEST(OptionsSpec, AnOptionLeftOutTakesItsDeclaredDefaultOrStaysEmpty) {
  Config config;
  config.set("url", std::string("u"));
  auto filled = example_options().fill(config);
  ASSERT_TRUE(filled) << filled.error();
  EXPECT_EQ(filled.value().pool, 4u);
  EXPECT_EQ(filled.value().limit, 65536);
  EXPECT_DOUBLE_EQ(filled.value().ratio, 0.5);
  EXPECT_TRUE(filled.value().enabled);
  EXPECT_EQ(filled.value().timeout, std::chrono::seconds(90));
  EXPECT_EQ(filled.value().mode, Mode::safe);
  EXPECT_EQ(filled.value().servers, (std::vector<std::string>{"a:1", "b \"2\""}));
  EXPECT_TRUE(filled.value().extra.empty());
  EXPECT_TRUE(filled.value().optional_text.empty());
}

TEST(OptionsSpec, RefusesAValueOfAnotherTypeAndAnOptionNotDeclared) {
  Config wrong_type;
  wrong_type.set("pool", std::string("four"));
  auto refused = example_options().fill(wrong_type);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("'pool'"), std::string::npos) << refused.error();

  Config unknown_choice;
  unknown_choice.set("mode", std::string("reckless"));
  EXPECT_FALSE(example_options().fill(unknown_choice));

  Config undeclared;
  undeclared.set("poool", std::int64_t{4});
  auto not_declared = example_options().fill(undeclared);
  ASSERT_FALSE(not_declared);
  EXPECT_NE(not_declared.error().find("option 'poool' is not declared"), std::string::npos) << not_declared.error();
}

TEST(TomlText, DurationsAndSizesInTheLargestExactUnit) {
  EXPECT_EQ(toml_text::duration(std::chrono::milliseconds(0)), "\"0ms\"");
  EXPECT_EQ(toml_text::duration(std::chrono::milliseconds(1500)), "\"1500ms\"");
  EXPECT_EQ(toml_text::duration(std::chrono::minutes(2)), "\"2m\"");
  EXPECT_EQ(toml_text::duration(std::chrono::hours(3)), "\"3h\"");
  EXPECT_EQ(toml_text::size(0), "0");
  EXPECT_EQ(toml_text::size(1000), "1000");
  EXPECT_EQ(toml_text::size(std::int64_t{3} << 20), "\"3MiB\"");
  EXPECT_EQ(toml_text::quoted_text("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(toml_text::number(2.0), "2.0");
}

TEST(Row, SetReplacesAndFindLooksUp) {
  Row row{{"id", std::int64_t{1}}};
  row.set("id", std::int64_t{2});
  row.set("name", std::string("n"));
  EXPECT_EQ(row.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(*row.find("id")), 2);
  EXPECT_EQ(row.find("absent"), nullptr);
}

TEST(RawMessage, SwapExchangesEveryMember) {
  RawMessage a{"topic.a", std::string("key a"), std::string("value a"), {{"h", "a"}}, Position{1, 10}};
  RawMessage b{"topic.b", std::nullopt, std::nullopt, {}, Position{2, 20}};
  swap(a, b);
  EXPECT_EQ(a.topic, "topic.b");
  EXPECT_FALSE(a.key);
  EXPECT_FALSE(a.value);
  EXPECT_TRUE(a.headers.empty());
  EXPECT_EQ(a.position, (Position{2, 20}));
  EXPECT_EQ(b.topic, "topic.a");
  EXPECT_EQ(b.key, "key a");
  EXPECT_EQ(b.value, "value a");
  ASSERT_EQ(b.headers.size(), 1u);
  EXPECT_EQ(b.headers[0].value, "a");
  EXPECT_EQ(b.position, (Position{1, 10}));
}

TEST(Toolchain, TagNamesCompilerAndStandardLibrary) {
  std::string tag = kToolchain;
  EXPECT_NE(tag.find('/'), std::string::npos);
  EXPECT_EQ(tag.find("unknown"), std::string::npos);
}

Result<std::unique_ptr<Sink>> throwing_factory(ExampleOptions, const PluginContext&) {
  throw std::runtime_error("bad option");
}

TEST(PluginGlue, AnExceptionFromTheFactoryBecomesAnError) {
  using Glue = detail::PluginGlue<Sink, &example_options, &throwing_factory>;
  Config config;
  config.set("url", std::string("u"));
  auto created = Glue::create(config, PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error(), "bad option");
}

TEST(PluginGlue, ATableThatDoesNotFitTheDeclarationIsRefusedBeforeTheFactoryRuns) {
  using Glue = detail::PluginGlue<Sink, &example_options, &throwing_factory>;
  Config config;
  config.set("pool", std::string("four"));
  auto created = Glue::create(config, PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().find("'pool'"), std::string::npos) << created.error();
}

TEST(Backoff, DoublesUpToTheMaximumWithJitterBetweenHalfAndAll) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 42);
  const std::int64_t bases[] = {100, 200, 400, 800, 1000, 1000};
  for (std::int64_t base : bases) {
    auto delay = backoff.next().count();
    EXPECT_GE(delay, base / 2);
    EXPECT_LE(delay, base);
  }
  EXPECT_EQ(backoff.failures(), 6);
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 100);
}

TEST(StateFile, IsReplacedWholeAndReadBack) {
  auto directory = std::filesystem::temp_directory_path() / ("invalidator-state-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  auto path = directory / "sources" / "events" / "checkpoint";
  auto missing = read_state_file(path);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing.value().has_value());
  ASSERT_TRUE(write_file_atomically(path, "41\n"));
  ASSERT_TRUE(write_file_atomically(path, "42\n"));
  auto read = read_state_file(path);
  ASSERT_TRUE(read);
  EXPECT_EQ(read.value(), "42\n");
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp")) << "no temporary left behind";
  std::filesystem::remove_all(directory);
}

TEST(StateFile, AFailedWriteSaysWhyAndLeavesTheOldContent) {
  auto directory = std::filesystem::temp_directory_path() / ("invalidator-state-ro-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  auto path = directory / "checkpoint";
  ASSERT_TRUE(write_file_atomically(path, "1\n"));
  // A file where the temporary should go: the write fails, the checkpoint keeps its content.
  std::filesystem::create_directory(path.string() + ".tmp");
  auto failed = write_file_atomically(path, "2\n");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.message().find("cannot write " + path.string() + ".tmp"), std::string::npos) << failed.message();
  EXPECT_EQ(read_state_file(path).value(), "1\n");
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace invalidator::sdk
