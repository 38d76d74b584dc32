#include <gtest/gtest.h>
#include <simdjson.h>

#include "webhook_request.hpp"

namespace invalidator::plugins::webhook {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

const Clock::time_point kSentAt = Clock::time_point(std::chrono::milliseconds(1'764'957'600'123));  // 2025-12-05T18:00:00.123Z

TEST(WebhookRequest, TheBodyCarriesEachInvalidationWithItsOrigin) {
  sdk::InvalidationOrigin origin{"public.customers", sdk::Op::update, "cdc", "routes[0]"};
  std::vector<sdk::Invalidation> batch(4);
  batch[0] = sdk::Invalidation{sdk::Action::delete_key, "customer:42", std::nullopt, 42, 0ms, kSentAt - 7ms, &origin};
  batch[1] = sdk::Invalidation{sdk::Action::set_value, "customer:\"q\"", std::string("{\"id\":7}"), 43, 0ms, {}, nullptr};
  batch[2] = sdk::Invalidation{sdk::Action::expire, "customer:9", std::nullopt, 44, 30s, {}, &origin};
  batch[3] = sdk::Invalidation{sdk::Action::delete_pattern, "customer:*", std::nullopt, 45, 0ms, {}, nullptr};
  const std::string body = request_body(batch, kSentAt);

  simdjson::dom::parser parser;
  simdjson::dom::object root;
  ASSERT_FALSE(parser.parse(body).get(root)) << body;
  EXPECT_EQ(std::string_view(root["sent_at"]), "2025-12-05T18:00:00.123Z");
  simdjson::dom::array items = root["invalidations"];
  ASSERT_EQ(items.size(), 4u);
  simdjson::dom::object first = items.at(0);
  EXPECT_EQ(std::string_view(first["action"]), "delete");
  EXPECT_EQ(std::string_view(first["key"]), "customer:42");
  EXPECT_EQ(std::string_view(first["table"]), "public.customers");
  EXPECT_EQ(std::string_view(first["op"]), "update");
  EXPECT_EQ(std::uint64_t(first["version"]), 42u);
  EXPECT_EQ(std::string_view(first["commit_time"]), "2025-12-05T18:00:00.116Z");
  simdjson::dom::object second = items.at(1);
  EXPECT_EQ(std::string_view(second["action"]), "set");
  EXPECT_EQ(std::string_view(second["key"]), "customer:\"q\"") << "quotes escaped";
  EXPECT_EQ(std::string_view(second["value"]), "{\"id\":7}");
  EXPECT_TRUE(second["table"].is_null()) << "not known: null";
  EXPECT_TRUE(second["op"].is_null());
  EXPECT_TRUE(second["commit_time"].is_null());
  EXPECT_EQ(std::int64_t(items.at(2)["ttl_ms"]), 30000);
  EXPECT_EQ(std::string_view(items.at(3)["action"]), "delete_pattern");
  EXPECT_TRUE(items.at(3)["value"].error()) << "a value only for a set";
}

TEST(WebhookRequest, TheSignatureIsTheHmacOfTheTimestampAndTheBody) {
  // Computed apart: python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test',
  //   b'1700000000.{\"invalidations\":[]}', hashlib.sha256).hexdigest())"
  EXPECT_EQ(signature("whsec_test", 1'700'000'000, "{\"invalidations\":[]}"),
            "t=1700000000,v1=85b41c6bcb7b74983cc71048f2367c2b928c2174a0354f498d5eedab4d94350f");
  EXPECT_NE(signature("whsec_test", 1'700'000'001, "{\"invalidations\":[]}"),
            signature("whsec_test", 1'700'000'000, "{\"invalidations\":[]}"))
      << "the timestamp is signed";
}

TEST(WebhookRequest, TheIdempotencyKeyNamesTheBatch) {
  EXPECT_EQ(idempotency_key(0x1234), "invalidator-0000000000001234");
  EXPECT_NE(idempotency_key(1), idempotency_key(2));
}

TEST(WebhookRequest, StatusesAreDeliveredRetriedOrFailed) {
  for (long status : {200L, 201L, 202L, 204L}) EXPECT_EQ(classify(status), Outcome::delivered) << status;
  for (long status : {408L, 429L, 500L, 502L, 503L, 504L}) EXPECT_EQ(classify(status), Outcome::retry) << status;
  for (long status : {301L, 400L, 401L, 403L, 404L, 413L, 422L}) EXPECT_EQ(classify(status), Outcome::failed) << status;
}

TEST(WebhookRequest, RetryAfterIsSecondsOrAnHttpDate) {
  const auto now = Clock::from_time_t(1'445'412'450);  // Wed, 21 Oct 2015 07:27:30 GMT
  EXPECT_EQ(retry_after("120", now), std::chrono::milliseconds(120'000));
  EXPECT_EQ(retry_after(" 0 ", now), std::chrono::milliseconds(0));
  EXPECT_EQ(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), std::chrono::milliseconds(30'000));
  EXPECT_EQ(retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), std::chrono::milliseconds(0)) << "already past";
  EXPECT_EQ(retry_after("soon", now), std::nullopt);
  EXPECT_EQ(retry_after("-5", now), std::nullopt);
  EXPECT_EQ(retry_after("", now), std::nullopt);
}

}  // namespace
}  // namespace invalidator::plugins::webhook
