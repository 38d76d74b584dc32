#include <gtest/gtest.h>

#include "codec/debezium_decoder.hpp"
#include "invalidator/sdk/pattern.hpp"
#include "route/router.hpp"
#include "support/test_support.hpp"

namespace invalidator::route {
namespace {

using namespace std::chrono_literals;

route::RouteSpec customers_route() {
  route::RouteSpec route;
  route.from = {"pg"};
  route.table = "public.customers";
  route.ops = {sdk::Op::insert, sdk::Op::update, sdk::Op::remove, sdk::Op::truncate};
  route.keys = {"customer:{id}", "customer:email:{email}"};
  route.to = {"cache"};
  route.on_truncate = {"customer:*"};
  return route;
}

sdk::ChangeEvent update(sdk::Row before, sdk::Row after) {
  sdk::ChangeEvent event;
  event.op = sdk::Op::update;
  event.table = sdk::TableId{"db", "public", "customers"};
  event.before = std::move(before);
  event.after = std::move(after);
  event.version = 77;
  return event;
}

std::vector<std::string> keys_of(const std::vector<RoutedInvalidation>& routed) {
  std::vector<std::string> keys;
  for (const auto& item : routed) keys.push_back(std::string(sdk::to_string(item.invalidation.action)) + " " + item.invalidation.key);
  return keys;
}

class RouterTest : public ::testing::Test {
 protected:
  std::vector<std::string> route(const sdk::ChangeEvent& event, std::vector<route::RouteSpec> routes = {customers_route()}) {
    auto router = Router::build(routes, {"pg", "other"}, {"cache"});
    EXPECT_TRUE(router) << router.error();
    std::vector<RoutedInvalidation> out;
    router->route(0, event, out);
    problems_ = router->take_new_problems();
    return keys_of(out);
  }
  std::vector<Router::RenderProblem> problems_;
};

TEST_F(RouterTest, KeyColumnChangeInvalidatesOldAndNewKeys) {
  auto keys = route(update({{"id", std::int64_t{42}}, {"email", std::string("old@x")}},
                           {{"id", std::int64_t{42}}, {"email", std::string("new@x")}}));
  EXPECT_EQ(keys, (std::vector<std::string>{"delete customer:42", "delete customer:email:new@x",
                                            "delete customer:email:old@x"}));
}

TEST_F(RouterTest, TheOldImageRendersWhatTheNewImageCouldNot) {
  // The old image's key is skipped only when its columns are equal in the new image: here
  // the new email is unavailable (a TOASTed value), and the old row is all that names the key.
  auto keys = route(update({{"id", std::int64_t{7}}, {"email", std::string("a@x")}},
                           {{"id", std::int64_t{7}}, {"email", sdk::Unavailable{}}}));
  EXPECT_EQ(keys, (std::vector<std::string>{"delete customer:7", "delete customer:email:a@x"}));
  // Equal text of another type renders the same key, once.
  keys = route(update({{"id", std::string("8")}, {"email", std::string("b@x")}},
                      {{"id", std::int64_t{8}}, {"email", std::string("b@x")}}));
  EXPECT_EQ(keys, (std::vector<std::string>{"delete customer:8", "delete customer:email:b@x"}));
}

TEST_F(RouterTest, ChangedFilterSkipsUpdatesThatTouchedNoListedColumn) {
  auto route_spec = customers_route();
  route_spec.changed = {"email", "address"};
  auto unchanged = route(update({{"id", std::int64_t{1}}, {"email", std::string("a")}, {"name", std::string("x")}},
                                {{"id", std::int64_t{1}}, {"email", std::string("a")}, {"name", std::string("y")}}),
                         {route_spec});
  EXPECT_TRUE(unchanged.empty());
  auto changed = route(update({{"id", std::int64_t{1}}, {"address", std::string("a")}},
                              {{"id", std::int64_t{1}}, {"address", std::string("b")}}),
                       {route_spec});
  EXPECT_FALSE(changed.empty());
}

TEST_F(RouterTest, ChangedFilterPassesAnUpdateThatMovesTheRowToAnotherKey) {
  auto route_spec = customers_route();
  route_spec.changed = {"address"};
  // The primary key changed, nothing listed did: the old key names a row that is gone.
  auto moved = route(update({{"id", std::int64_t{3}}, {"email", std::string("c@x")}, {"address", std::string("a")}},
                            {{"id", std::int64_t{33}}, {"email", std::string("c@x")}, {"address", std::string("a")}}),
                     {route_spec});
  EXPECT_EQ(moved, (std::vector<std::string>{"delete customer:33", "delete customer:email:c@x", "delete customer:3"}));
  // Likewise a column of another key.
  auto new_email = route(update({{"id", std::int64_t{4}}, {"email", std::string("d@x")}, {"address", std::string("a")}},
                                {{"id", std::int64_t{4}}, {"email", std::string("d@y")}, {"address", std::string("a")}}),
                         {route_spec});
  EXPECT_EQ(new_email.size(), 3u);
}

TEST_F(RouterTest, ChangedFilterPassesWithoutBeforeImageAndIgnoresUnavailable) {
  auto route_spec = customers_route();
  route_spec.changed = {"email"};
  sdk::ChangeEvent no_before = update({}, {{"id", std::int64_t{1}}, {"email", std::string("e")}});
  no_before.before.reset();
  EXPECT_FALSE(route(no_before, {route_spec}).empty()) << "cannot tell: invalidate";
  auto toasted = route(update({{"id", std::int64_t{1}}, {"email", std::string("e")}},
                              {{"id", std::int64_t{1}}, {"email", sdk::Unavailable{}}}),
                       {route_spec});
  EXPECT_TRUE(toasted.empty()) << "an unavailable value is an unchanged value";
}

TEST_F(RouterTest, MissingColumnsRenderNoKeyAndAreReported) {
  auto keys = route(update({{"id", std::int64_t{5}}}, {{"id", std::int64_t{5}}, {"email", std::monostate{}}}));
  EXPECT_EQ(keys, (std::vector<std::string>{"delete customer:5"}));
  ASSERT_FALSE(problems_.empty());
  EXPECT_EQ(problems_[0].column, "email");
}

TEST_F(RouterTest, AKeyTheRowBeforeTheChangeCannotRenderIsCountedByReasonWithTheFix) {
  // PostgreSQL with REPLICA IDENTITY DEFAULT: no before image for an update, only the record
  // key (the primary key). The old e-mail's key cannot be named: the entry it caches may stay.
  sdk::ChangeEvent event = update({}, {{"id", std::int64_t{5}}, {"email", std::string("new@x")}});
  event.before.reset();
  event.key = sdk::Row{{"id", std::int64_t{5}}};
  auto router = Router::build({customers_route()}, {"pg"}, {"cache"});
  ASSERT_TRUE(router) << router.error();
  std::vector<RoutedInvalidation> out;
  router->route(0, event, out);
  router->route(0, event, out);
  EXPECT_EQ(keys_of(out), (std::vector<std::string>{"delete customer:5", "delete customer:email:new@x",
                                                    "delete customer:5", "delete customer:email:new@x"}));
  const auto& counters = router->counters(0);
  EXPECT_EQ(counters.unrendered.load(), 2u);
  EXPECT_EQ(counters.unrendered_by_reason[static_cast<std::size_t>(Unrendered::not_in_before_image)].load(), 2u);
  auto problems = router->take_new_problems();
  ASSERT_EQ(problems.size(), 1u) << "reported once, counted each time";
  EXPECT_EQ(problems[0].reason, Unrendered::not_in_before_image);
  EXPECT_EQ(problems[0].column, "email");
  const std::string text = problems[0].describe();
  EXPECT_NE(text.find("route 0 (public.customers): key template \"customer:email:{email}\" rendered no key for the "
                      "row before the change"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("fix: ALTER TABLE public.customers REPLICA IDENTITY FULL"), std::string::npos) << text;

  // A column in no image at all is another reason: probably a misspelling.
  auto misspelt = customers_route();
  misspelt.keys = {"customer:{emial}"};
  auto other = Router::build({misspelt}, {"pg"}, {"cache"});
  std::vector<RoutedInvalidation> none;
  other->route(0, update({{"id", std::int64_t{5}}, {"email", std::string("a")}},
                         {{"id", std::int64_t{5}}, {"email", std::string("b")}}),
               none);
  EXPECT_EQ(other->counters(0).unrendered_by_reason[static_cast<std::size_t>(Unrendered::absent)].load(), 2u);
  auto absent = other->take_new_problems();
  ASSERT_EQ(absent.size(), 1u);
  EXPECT_NE(absent[0].describe().find("check its spelling"), std::string::npos) << absent[0].describe();
}

TEST_F(RouterTest, AChangedColumnInNeitherImageIsReportedOnceAsAProbableMisspelling) {
  auto route_spec = customers_route();
  route_spec.changed = {"emial", "email"};
  auto router = Router::build({route_spec}, {"pg"}, {"cache"});
  ASSERT_TRUE(router) << router.error();
  std::vector<RoutedInvalidation> out;
  for (int i = 0; i < 3; ++i) {
    router->route(0, update({{"id", std::int64_t{1}}, {"email", std::string("a")}},
                            {{"id", std::int64_t{1}}, {"email", std::string("b")}}),
                  out);
  }
  auto problems = router->take_new_changed_problems();
  ASSERT_EQ(problems.size(), 1u) << "once per route and column";
  EXPECT_EQ(problems[0].column, "emial");
  EXPECT_NE(problems[0].describe().find("probably a misspelling"), std::string::npos) << problems[0].describe();
  EXPECT_EQ(out.size(), 9u) << "the route still works on its other columns";
}

TEST_F(RouterTest, AFlattenedMessageNamingItsTableAloneMatchesSchemaQualifiedRoutes) {
  codec::DebeziumDecoder decoder;
  sdk::RawMessage message;
  message.topic = "dbserver1.public.products";
  message.value = R"({"id":7,"__op":"u","__table":"products"})";
  sdk::ChangeEvent event;
  ASSERT_EQ(decoder.decode(message, event).status, codec::DecodeStatus::event);
  for (const char* table : {"public.products", "*.products"}) {
    route::RouteSpec spec = customers_route();
    spec.table = table;
    spec.keys = {"product:{id}"};
    EXPECT_EQ(route(event, {spec}), (std::vector<std::string>{"delete product:7"})) << table;
  }
}

TEST_F(RouterTest, AnUnsigned64BitValueAboveInt64MaxRendersExactly) {
  codec::DebeziumDecoder decoder;
  sdk::RawMessage message;
  message.topic = "dbserver1.shop.customers";
  message.value = R"({"before":null,"after":{"id":18446744073709551615,"email":"e"},)"
                  R"("source":{"db":"shop","table":"customers"},"op":"c"})";
  sdk::ChangeEvent event;
  ASSERT_EQ(decoder.decode(message, event).status, codec::DecodeStatus::event);
  auto spec = customers_route();
  spec.table = "shop.customers";
  spec.keys = {"customer:{id}"};
  EXPECT_EQ(route(event, {spec}), (std::vector<std::string>{"delete customer:18446744073709551615"}));
  message.value = R"({"before":null,"after":{"id":9223372036854775808,"email":"e"},)"
                  R"("source":{"db":"shop","table":"customers"},"op":"c"})";
  ASSERT_EQ(decoder.decode(message, event).status, codec::DecodeStatus::event);
  EXPECT_EQ(route(event, {spec}), (std::vector<std::string>{"delete customer:9223372036854775808"})) << "INT64_MAX + 1";
}

TEST_F(RouterTest, TruncateDeletesPatterns) {
  sdk::ChangeEvent truncate;
  truncate.op = sdk::Op::truncate;
  truncate.table = sdk::TableId{"db", "public", "customers"};
  EXPECT_EQ(route(truncate), (std::vector<std::string>{"delete_pattern customer:*"}));
}

TEST_F(RouterTest, TableGlobsOpsAndSourcesFilter) {
  auto route_spec = customers_route();
  route_spec.table = "*.customers";
  route_spec.ops = {sdk::Op::remove};
  sdk::ChangeEvent event = update({{"id", std::int64_t{1}}}, {{"id", std::int64_t{1}}});
  EXPECT_TRUE(route(event, {route_spec}).empty()) << "update not in ops";
  event.op = sdk::Op::remove;
  event.after.reset();
  EXPECT_EQ(route(event, {route_spec}), (std::vector<std::string>{"delete customer:1"}));
  event.table.table = "orders";
  EXPECT_TRUE(route(event, {route_spec}).empty());
  route_spec.from = {"other"};
  event.table.table = "customers";
  EXPECT_TRUE(route(event, {route_spec}).empty()) << "event came from source 0, route listens to 1";
}

TEST_F(RouterTest, SetWritesTheNewRowAndDeletesAKeyOnlyTheOldRowHad) {
  auto route_spec = customers_route();
  route_spec.action = sdk::Action::set_value;
  route_spec.value = "{email}";
  route_spec.keys = {"customer:email:{email}"};
  auto router = Router::build({route_spec}, {"pg"}, {"cache"});
  ASSERT_TRUE(router);
  std::vector<RoutedInvalidation> out;
  router->route(0, update({{"id", std::int64_t{1}}, {"email", std::string("old")}},
                          {{"id", std::int64_t{1}}, {"email", std::string("new")}}),
                out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].invalidation.action, sdk::Action::set_value);
  EXPECT_EQ(out[0].invalidation.key, "customer:email:new");
  EXPECT_EQ(out[0].invalidation.value, "new");
  EXPECT_EQ(out[0].invalidation.version, 77u);
  EXPECT_EQ(out[1].invalidation.action, sdk::Action::delete_key);
  EXPECT_EQ(out[1].invalidation.key, "customer:email:old");
}

// Decodes a fixture as if it came from `topic` and routes it; the keys as "action key".
std::vector<std::string> fixture_keys(Router& router, codec::DebeziumDecoder& decoder, const std::string& file,
                                      const std::string& topic) {
  sdk::RawMessage raw;
  raw.topic = topic;
  raw.value = invalidator::testing::fixture("debezium/" + file);
  sdk::ChangeEvent event;
  EXPECT_EQ(decoder.decode(raw, event).status, codec::DecodeStatus::event) << file;
  std::vector<RoutedInvalidation> out;
  router.route(0, event, out);
  return keys_of(out);
}

// The keys each Debezium fixture produces through a route on its table.
TEST(FixtureRoutes, EveryRowChangeFixtureProducesItsKeys) {
  route::RouteSpec route;
  route.from = {"kafka"};
  route.table = "*.products";
  route.ops = {sdk::Op::insert, sdk::Op::update, sdk::Op::remove, sdk::Op::snapshot_read};
  route.keys = {"product:{id}"};
  route.to = {"cache"};
  auto router = Router::build({route}, {"kafka"}, {"cache"});
  ASSERT_TRUE(router);
  codec::DebeziumDecoder decoder;
  const std::vector<std::pair<std::string, std::vector<std::string>>> expectations{
      {"pg_create_no_schema.json", {"delete product:110"}},
      {"pg_update_replica_full_no_schema.json", {"delete product:106"}},
      {"pg_update_before_null_no_schema.json", {"delete product:106"}},
      {"pg_delete_replica_full_no_schema.json", {"delete product:111"}},
      {"pg_snapshot_read_with_schema.json", {"delete product:101"}},
      {"unwrap_create_plain.json", {"delete product:110"}},
  };
  for (const auto& [file, expected] : expectations) {
    EXPECT_EQ(fixture_keys(*router, decoder, file, "fullfillment.inventory.products"), expected) << file;
  }
}

// The remaining fixtures: MySQL naming, a truncate, a flattened delete, and the records that
// must produce nothing.
TEST(FixtureRoutes, OtherFixturesProduceTheirKeysOrNothing) {
  route::RouteSpec customers;
  customers.from = {"kafka"};
  customers.table = "inventory.customers";
  customers.keys = {"customer:{id}", "customer:email:{email}"};
  customers.to = {"cache"};
  customers.ops = {sdk::Op::insert, sdk::Op::update, sdk::Op::remove, sdk::Op::truncate};
  route::RouteSpec public_customers = customers;
  public_customers.table = "public.customers";
  public_customers.on_truncate = {"customer:*"};
  route::RouteSpec flattened;
  flattened.from = {"kafka"};
  flattened.table = "public.t";
  flattened.keys = {"t:{pk}"};
  flattened.to = {"cache"};
  flattened.ops = {sdk::Op::insert, sdk::Op::update, sdk::Op::remove};
  auto router = Router::build({customers, public_customers, flattened}, {"kafka"}, {"cache"});
  ASSERT_TRUE(router);
  codec::DebeziumDecoder decoder;
  struct Case {
    std::string file, topic;
    std::vector<std::string> keys;
  };
  const std::vector<Case> cases{
      {"mysql_create_no_schema_0.10.json", "mysql-server-1.inventory.customers",
       {"delete customer:1004", "delete customer:email:annek@noanswer.org"}},
      {"pg_truncate_docs_payload.json", "PostgreSQL_server.public.customers", {"delete_pattern customer:*"}},
      {"unwrap_delete_rewrite_docs.json", "server.public.t", {"delete t:2"}},
  };
  for (const auto& [file, topic, expected] : cases) {
    EXPECT_EQ(fixture_keys(*router, decoder, file, topic), expected) << file;
  }
  for (const char* file : {"pg_tombstone.value.json", "pg_txn_begin_docs.json", "pg_txn_end_docs.json",
                           "heartbeat.value.no_schema.json"}) {
    sdk::RawMessage raw;
    raw.topic = "PostgreSQL_server.public.customers";
    raw.value = invalidator::testing::fixture(std::string("debezium/") + file);
    sdk::ChangeEvent event;
    EXPECT_EQ(decoder.decode(raw, event).status, codec::DecodeStatus::skipped) << file << ": no event, no key";
  }
}

TEST(Glob, MatchesStars) {
  EXPECT_TRUE(sdk::glob_match("*.customers", "public.customers"));
  EXPECT_TRUE(sdk::glob_match("customer:*", "customer:"));
  EXPECT_TRUE(sdk::glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(sdk::glob_match("a*b*c", "aXXbYY"));
  EXPECT_FALSE(sdk::glob_match("public.customers", "public.customer"));
}

}  // namespace
}  // namespace invalidator::route
