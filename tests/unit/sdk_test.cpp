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
