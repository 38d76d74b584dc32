// A dead-letter line, as a replay reads it back from a file anyone may have edited: a record
// or a reason, never a crash.

#include <cstdint>
#include <string>

#include "pipeline/dead_letter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string line;
  line.reserve(size + 64);  // the reader may parse in place, with padding
  line.assign(reinterpret_cast<const char*>(data), size);
  if (invalidator::pipeline::is_dead_letter(line) || size % 2 == 0) (void)invalidator::pipeline::read_dead_letter(line);
  return 0;
}
