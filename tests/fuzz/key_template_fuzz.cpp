// Key templates and table patterns as a configuration writes them, rendered against rows
// with any column names and values: compiled or refused with a reason, rendered or reported
// as not renderable, never a crash. Input: template 0xFF pattern 0xFF table 0xFF then
// column 0xFF value pairs.

#include <cstdint>
#include <string>

#include "fuzz_input.hpp"
#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/pattern.hpp"
#include "route/key_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace invalidator;
  const auto input = fuzz::parts(data, size, 32);
  auto compiled = route::KeyTemplate::compile(input[0]);
  if (input.size() > 2) (void)sdk::glob_match(input[1], input[2]);
  if (!compiled) return 0;
  sdk::Row row;
  for (std::size_t i = 3; i + 1 < input.size(); i += 2) {
    if (input[i + 1].empty()) {
      row.set(std::string(input[i]), sdk::Value());  // null
    } else {
      row.set(std::string(input[i]), sdk::Value(std::string(input[i + 1])));
    }
  }
  std::vector<sdk::Header> headers{{"trace", std::string(input.back())}};
  std::string key;
  (void)compiled->render(row, key, headers);
  (void)compiled->renders_alike(row, sdk::Row());
  return 0;
}
