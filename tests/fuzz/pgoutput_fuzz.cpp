// pgoutput messages as a server (or anything posing as one) sends them: parsed or refused with
// a reason, never read beyond their bytes. The first byte says whether the message arrives
// inside a streamed transaction (its layout then carries a transaction id).

#include <cstdint>
#include <string_view>

#include "pgoutput.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool in_stream = (data[0] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)invalidator::plugins::pgoutput::parse(bytes, in_stream);
  (void)invalidator::plugins::pgoutput::parse_lsn(bytes);
  return 0;
}
