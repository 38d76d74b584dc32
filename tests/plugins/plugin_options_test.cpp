#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "config/pipeline_config.hpp"
#include "config/spec_validation.hpp"
#include "plugin_host/registry.hpp"
#include "support/test_support.hpp"

namespace invalidator {
namespace {

namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& problem : problems) text += "\n  " + problem;
  return text;
}

// Every option a plugin declares has a default that is a valid value of its own type, within
// its own bounds and choices: the declaration is the only place a default is written.
TEST(PluginOptions, EveryDeclaredDefaultIsAValidValueOfItsOption) {
  plugin_host::Registry registry;
  registry.load_directory(INVALIDATOR_BUILD_PLUGIN_DIR);
  ASSERT_GE(registry.entries().size(), 5u) << "the build's plugins were not found";
  for (const auto* entry : registry.entries()) {
    EXPECT_TRUE(config::declaration_problems(entry->descriptor->spec()).empty())
        << entry->descriptor->name << ":" << joined(config::declaration_problems(entry->descriptor->spec()));
  }
  for (const auto* spec : {&config::engine_spec(), &config::sink_common_spec(), &config::batch_spec(),
                           &config::retry_spec(), &config::route_spec()}) {
    EXPECT_TRUE(config::declaration_problems(*spec).empty()) << spec->summary() << joined(config::declaration_problems(*spec));
  }
}

// A plugin gets its options as a struct filled from its declaration; nothing in a plugin
// reads an option by name, where a typo or a fallback value of its own would go unseen.
TEST(PluginOptions, NoPluginReadsAnOptionByName) {
  const std::regex by_name(R"((sdk::Config\b|const Config&|\bconfig\.(string|integer|number|boolean|duration|size|string_list|string_map|has)\())");
  std::vector<std::string> offenders;
  for (const char* tree : {"plugins", "examples"}) {
    for (const auto& file : fs::recursive_directory_iterator(fs::path(INVALIDATOR_SOURCE_DIR) / tree)) {
      auto extension = file.path().extension();
      if (extension != ".cpp" && extension != ".hpp") continue;
      if (file.path().filename().string().find("_test") != std::string::npos) continue;
      std::string text = invalidator::testing::read_file(file.path());
      std::smatch match;
      if (std::regex_search(text, match, by_name)) offenders.push_back(file.path().string() + ": " + match.str());
    }
  }
  EXPECT_TRUE(offenders.empty()) << "declare the option in options() and read it from the filled struct:"
                                 << joined(offenders);
}

TEST(DeclarationProblems, NameADefaultOfTheWrongTypeOutOfBoundsOrNotAmongTheChoices) {
  sdk::ConfigSpec spec;
  spec.option("pool", sdk::OptionType::integer).default_value("\"four\"")
      .option("lanes", sdk::OptionType::integer).default_value("0").min(1)
      .option("mode", sdk::OptionType::string).default_value("\"reckless\"").one_of({"fast", "safe"})
      .option("wait", sdk::OptionType::duration).default_value("\"5 parsecs\"")
      .option("url", sdk::OptionType::string).required().default_value("\"x\"")
      .option("fine", sdk::OptionType::duration).default_value("\"5s\"");
  auto problems = config::declaration_problems(spec);
  ASSERT_EQ(problems.size(), 5u) << joined(problems);
  EXPECT_NE(problems[0].find("the default of option 'pool' (\"four\") is not a valid integer"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("'lanes'"), std::string::npos);
  EXPECT_NE(problems[1].find("below the minimum"), std::string::npos) << problems[1];
  EXPECT_NE(problems[2].find("'mode'"), std::string::npos);
  EXPECT_NE(problems[3].find("'wait'"), std::string::npos);
  EXPECT_NE(problems[4].find("option 'url' is required and has a default"), std::string::npos) << problems[4];
}

}  // namespace
}  // namespace invalidator
