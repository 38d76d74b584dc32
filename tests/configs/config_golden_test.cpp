#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "support/test_support.hpp"

namespace invalidator {
namespace {

namespace fs = std::filesystem;
using invalidator::testing::read_file;
using invalidator::testing::run_command;

const fs::path kInvalid = fs::path(INVALIDATOR_SOURCE_DIR) / "tests" / "configs" / "invalid";
const fs::path kConfigs = fs::path(INVALIDATOR_SOURCE_DIR) / "configs";

std::string validate(const fs::path& directory, const std::string& file) {
  // Relative paths keep the golden files independent of where the tree is checked out.
  return "cd '" + directory.string() + "' && env -u INVALIDATOR_PLUGIN_PATH '" + INVALIDATOR_BINARY +
         "' validate -c '" + file + "'";
}

// Each tests/configs/invalid/NAME.toml has NAME.expected: what `invalidator validate` prints
// for it. UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing).
TEST(ConfigGolden, InvalidConfigsReportEveryErrorWithPositionAndFix) {
  std::vector<fs::path> configs;
  for (const auto& entry : fs::directory_iterator(kInvalid)) {
    if (entry.path().extension() == ".toml") configs.push_back(entry.path());
  }
  std::sort(configs.begin(), configs.end());
  ASSERT_GE(configs.size(), 5u);
  const bool update = std::getenv("UPDATE_GOLDEN") != nullptr;
  for (const auto& config : configs) {
    auto result = run_command(validate(kInvalid, config.filename().string()));
    EXPECT_EQ(result.exit_code, 2) << config << "\n" << result.output;
    fs::path expected_file = config;
    expected_file.replace_extension(".expected");
    if (update) {
      invalidator::testing::write_file(expected_file, result.output);
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_file)) << expected_file << " is missing (run with UPDATE_GOLDEN=1)";
    EXPECT_EQ(result.output, read_file(expected_file)) << config;
  }
}

TEST(ConfigGolden, EveryShippedConfigValidates) {
  std::size_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kConfigs)) {
    if (entry.path().extension() != ".toml") continue;
    ++count;
    auto relative = fs::relative(entry.path(), kConfigs).string();
    auto result = run_command(validate(kConfigs, relative));
    EXPECT_EQ(result.exit_code, 0) << relative << "\n" << result.output;
  }
  EXPECT_GE(count, 1u);
}

}  // namespace
}  // namespace invalidator
