#include <gtest/gtest.h>

#include <memory>

#include "invalidator/sdk/plugin.hpp"

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

TEST(Config, TypedGettersWithFallbacks) {
  Config config;
  config.set("n", std::int64_t{3});
  config.set("d", std::chrono::milliseconds{250});
  EXPECT_EQ(config.integer("n"), 3);
  EXPECT_DOUBLE_EQ(config.number("n"), 3.0);
  EXPECT_EQ(config.duration("d"), std::chrono::milliseconds{250});
  EXPECT_EQ(config.string("missing", "x"), "x");
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

Result<std::unique_ptr<Sink>> throwing_factory(const Config&, const PluginContext&) {
  throw std::runtime_error("bad option");
}

TEST(GuardedCreate, AnExceptionBecomesAnError) {
  auto created = detail::guarded_create<Sink>(throwing_factory, Config{}, PluginContext{});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error(), "bad option");
}

}  // namespace
}  // namespace invalidator::sdk
