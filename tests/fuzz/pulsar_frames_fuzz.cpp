// Frames of Pulsar's WebSocket API as a broker (or anything posing as one) sends them, and
// topic names as a configuration gives them: parsed or refused, never a crash.

#include <cstdint>
#include <string_view>

#include "pulsar_frames.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)invalidator::plugins::pulsar::parse_consumer_frame(text);
  (void)invalidator::plugins::pulsar::parse_topic_name(text);
  return 0;
}
