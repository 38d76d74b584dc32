// The WebSocket consumer API's frames against the documentation's examples and a Debezium
// message shaped as the consumer endpoint delivers it (tests/fixtures/pulsar).

#include "pulsar_frames.hpp"

#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace invalidator::plugins::pulsar {
namespace {

using invalidator::testing::fixture;

TEST(PulsarFrames, ADocumentedMessageGivesItsIdDecodedPayloadAndProperties) {
  auto parsed = parse_consumer_frame(fixture("pulsar/ws_consumer_message_docs_reader.json"));
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_TRUE(*parsed);
  const ConsumerMessage& message = **parsed;
  EXPECT_EQ(message.message_id, "CAAQAw==");
  EXPECT_EQ(message.payload, "Hello World");
  ASSERT_EQ(message.properties.size(), 2u);
  EXPECT_EQ(message.properties[0].name, "key1");
  EXPECT_EQ(message.properties[0].value, "value1");
  EXPECT_EQ(message.redelivery_count, 4);
  EXPECT_FALSE(message.key);
  EXPECT_FALSE(message.encrypted);
}

TEST(PulsarFrames, ADebeziumMessageCarriesTheRecordKeyAndTheEnvelope) {
  auto parsed = parse_consumer_frame(fixture("pulsar/ws_consumer_message_debezium_derived.json"));
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_TRUE(*parsed);
  EXPECT_EQ((*parsed)->key, std::optional<std::string>("{\"id\":110}"));
  EXPECT_EQ((*parsed)->payload, fixture("debezium/pg_create_no_schema.json").substr(0, (*parsed)->payload.size()));
  EXPECT_NE((*parsed)->payload.find("\"table\":\"products\""), std::string::npos);
}

TEST(PulsarFrames, AnEncryptedMessageIsMarkedSo) {
  auto parsed = parse_consumer_frame(fixture("pulsar/ws_consumer_message_docs_encrypted.json"));
  ASSERT_TRUE(parsed) << parsed.error();
  ASSERT_TRUE(*parsed);
  EXPECT_TRUE((*parsed)->encrypted);
}

TEST(PulsarFrames, FramesThatAreNotMessagesOrNotJsonAreToldApart) {
  auto end_of_topic = parse_consumer_frame("{\"endOfTopic\":true}");
  ASSERT_TRUE(end_of_topic);
  EXPECT_FALSE(*end_of_topic);
  auto garbage = parse_consumer_frame("{\"messageId\":");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().find("not JSON"), std::string::npos) << garbage.error();
  auto not_base64 = parse_consumer_frame("{\"messageId\":\"CAAQAw==\",\"payload\":\"***\"}");
  ASSERT_FALSE(not_base64);
  EXPECT_NE(not_base64.error().find("CAAQAw=="), std::string::npos) << not_base64.error();
}

TEST(PulsarFrames, CommandsAreTheDocumentedJson) {
  EXPECT_EQ(acknowledge_frame("CAAQAw=="), "{\"messageId\":\"CAAQAw==\"}");
  EXPECT_EQ(negative_acknowledge_frame("CAAQAw=="), "{\"type\":\"negativeAcknowledge\",\"messageId\":\"CAAQAw==\"}");
  EXPECT_EQ(permit_frame(100), "{\"type\":\"permit\",\"permitMessages\":100}");
  // What the broker's parser reads back: the fixtures' fields, whatever the spacing.
  EXPECT_NE(fixture("pulsar/ws_consumer_nack.json").find("\"negativeAcknowledge\""), std::string::npos);
  EXPECT_EQ(acknowledge_frame("a\"b\\c"), "{\"messageId\":\"a\\\"b\\\\c\"}");
}

TEST(PulsarFrames, TopicsBecomeConsumerPaths) {
  ConsumerSettings settings;
  settings.subscription = "invalidator";
  EXPECT_EQ(consumer_path("persistent://shop/cdc/customers", settings).value(),
            "/ws/v2/consumer/persistent/shop/cdc/customers/invalidator?subscriptionType=Key_Shared&receiverQueueSize=1000"
            "&pullMode=true");
  EXPECT_EQ(consumer_path("customers", settings).value().substr(0, 53),
            "/ws/v2/consumer/persistent/public/default/customers/i");
  settings.subscription = "a b/c";
  settings.type = SubscriptionType::failover;
  settings.pull_mode = false;
  EXPECT_EQ(consumer_path("non-persistent://t/n/x", settings).value(),
            "/ws/v2/consumer/non-persistent/t/n/x/a%20b%2Fc?subscriptionType=Failover&receiverQueueSize=1000");
  for (const char* bad : {"", "kafka://t/n/x", "persistent://t/x", "t/n/x/y", "persistent://t//x"}) {
    EXPECT_FALSE(consumer_path(bad, settings)) << bad;
  }
  settings.subscription.clear();
  EXPECT_FALSE(consumer_path("customers", settings));
}

}  // namespace
}  // namespace invalidator::plugins::pulsar
