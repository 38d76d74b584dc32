// The Debezium decoder against any topic, record key and value: it answers an event, a skip
// or a failure, and never crashes. Input: topic 0xFF key 0xFF value; a part left out is absent
// (no key: a keyless record; no value: a tombstone).

#include <cstdint>
#include <string>

#include "codec/debezium_decoder.hpp"
#include "fuzz_input.hpp"
#include "invalidator/sdk/event.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace invalidator;
  // Two decoders, as the pipeline has them: every column, and the routes' columns only.
  static codec::DebeziumDecoder all_columns;
  static codec::DebeziumDecoder route_columns;
  static const bool configured = [] {
    route_columns.set_columns({"id", "email", "customer_id"});
    route_columns.set_always_decode_key(false);
    return true;
  }();
  (void)configured;
  const auto input = fuzz::parts(data, size, 3);
  sdk::RawMessage message;
  message.topic = std::string(input[0]);
  if (input.size() > 1) message.key = std::string(input[1]);
  if (input.size() > 2) {
    std::string value;
    value.reserve(input[2].size() + sdk::kDecodePadding);  // as sources hand values over
    value.assign(input[2]);
    message.value = std::move(value);
  }
  sdk::ChangeEvent event;
  (void)all_columns.decode(message, event);
  (void)route_columns.decode(message, event);
  return 0;
}
