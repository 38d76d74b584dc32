#include <gtest/gtest.h>

#include "route/key_template.hpp"

namespace invalidator::route {
namespace {

TEST(KeyTemplate, RendersColumnsOfEveryType) {
  auto compiled = KeyTemplate::compile("order:{customer_id}:{id}:{flag}:{price}");
  ASSERT_TRUE(compiled) << compiled.error();
  sdk::Row row{{"id", std::int64_t{7}}, {"customer_id", std::string("c-9")}, {"flag", true}, {"price", 2.5}};
  std::string key;
  EXPECT_EQ(compiled->render(row, key), KeyTemplate::Outcome::rendered);
  EXPECT_EQ(key, "order:c-9:7:true:2.5");
}

TEST(KeyTemplate, EscapedBracesAreLiteral) {
  auto compiled = KeyTemplate::compile("{{tag}}:{id}");
  ASSERT_TRUE(compiled);
  std::string key;
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{1}}}, key), KeyTemplate::Outcome::rendered);
  EXPECT_EQ(key, "{tag}:1");
}

TEST(KeyTemplate, NeverRendersAPlaceholderForAMissingValue) {
  auto compiled = KeyTemplate::compile("customer:{id}:{email}");
  ASSERT_TRUE(compiled);
  std::string key;
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{1}}}, key), KeyTemplate::Outcome::missing_column);
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{1}}, {"email", std::monostate{}}}, key),
            KeyTemplate::Outcome::null_column);
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{1}}, {"email", sdk::Unavailable{}}}, key),
            KeyTemplate::Outcome::unavailable_column);
}

TEST(KeyTemplate, RendersMessageHeaders) {
  auto compiled = KeyTemplate::compile("{header:tenant}:customer:{id}");
  ASSERT_TRUE(compiled) << compiled.error();
  EXPECT_EQ(compiled->columns(), std::vector<std::string>{"id"}) << "a header is not a column to decode";
  EXPECT_EQ(compiled->headers(), std::vector<std::string>{"tenant"});
  std::vector<sdk::Header> headers{{"trace", "x"}, {"tenant", "acme"}};
  std::string key;
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{4}}}, key, headers), KeyTemplate::Outcome::rendered);
  EXPECT_EQ(key, "acme:customer:4");
  EXPECT_EQ(compiled->render(sdk::Row{{"id", std::int64_t{4}}}, key), KeyTemplate::Outcome::missing_header);
  EXPECT_FALSE(KeyTemplate::compile("{header:}"));
  EXPECT_FALSE(KeyTemplate::compile("{header:a b}"));
}

TEST(KeyTemplate, RejectsBadTemplates) {
  EXPECT_FALSE(KeyTemplate::compile("customer:{id"));
  EXPECT_FALSE(KeyTemplate::compile("customer:{}"));
  EXPECT_FALSE(KeyTemplate::compile("customer:id}"));
  EXPECT_FALSE(KeyTemplate::compile("customer:{a b}"));
  EXPECT_NE(KeyTemplate::compile("customer:{id").error().find("unclosed '{'"), std::string::npos);
}

}  // namespace
}  // namespace invalidator::route
