#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec/key_matcher.hpp"

namespace invalidator::codec {
namespace {

// Each key of a JSON object, as the decoder meets it, looked up among `names`.
std::vector<std::string> matches(const std::vector<std::string>& names, const std::string& json) {
  KeyMatcher matcher(names);
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  auto document = parser.iterate(padded);
  std::vector<std::string> found;
  for (auto field : document.get_object()) {
    const std::string* name = matcher.find(field.key());
    found.push_back(name == nullptr ? "-" : *name);
  }
  return found;
}

TEST(KeyMatcher, MatchesWholeNamesOnlyWhateverTheirLength) {
  const std::string long_name = "a_column_name_longer_than_sixteen_bytes";
  const std::vector<std::string> names = {"id", "email", "ids_of_eight", "exactly_16_bytes", long_name};
  const std::string json = R"({"id":1,"i":2,"ids":3,"idx":4,"email":5,"mail":6,"emails":7,"ids_of_eight":8,)"
                           R"("ids_of_eigh":9,"exactly_16_bytes":10,"exactly_16_byte":11,"exactly_16_bytesX":12,")" +
                           long_name + R"(":13,")" + long_name + R"(s":14,"Id":15,"emaiL":16})";
  EXPECT_EQ(matches(names, json),
            (std::vector<std::string>{"id", "-", "-", "-", "email", "-", "-", "ids_of_eight", "-", "exactly_16_bytes",
                                      "-", "-", long_name, "-", "-", "-"}));
}

TEST(KeyMatcher, NamesSharingAFirstByteAndTheEmptyName) {
  const std::vector<std::string> names = {"street", "status", "s", ""};
  EXPECT_EQ(matches(names, R"({"status":1,"street":2,"s":3,"":4,"st":5,"a":6})"),
            (std::vector<std::string>{"status", "street", "s", "", "-", "-"}));
}

TEST(KeyMatcher, MoreNamesThanTheFirstByteTableHolds) {
  std::vector<std::string> names;
  for (int i = 0; i < 70; ++i) names.push_back("c" + std::to_string(i));
  EXPECT_EQ(matches(names, R"({"c0":1,"c65":2,"c69":3,"c70":4,"d":5})"),
            (std::vector<std::string>{"c0", "c65", "c69", "-", "-"}));
}

TEST(KeyMatcher, NoNamesMatchNothing) {
  EXPECT_EQ(matches({}, R"({"id":1})"), (std::vector<std::string>{"-"}));
}

}  // namespace
}  // namespace invalidator::codec
