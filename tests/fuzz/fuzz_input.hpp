#pragma once

// What the harnesses share: an input cut into parts at 0xFF bytes (no valid UTF-8 text holds
// one, so a part is any text, and the dictionaries and corpora can write the separator).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace invalidator::fuzz {

inline std::vector<std::string_view> parts(const std::uint8_t* data, std::size_t size, std::size_t at_most) {
  std::vector<std::string_view> out;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (out.size() + 1 < at_most) {
    const auto cut = rest.find('\xff');
    if (cut == std::string_view::npos) break;
    out.push_back(rest.substr(0, cut));
    rest.remove_prefix(cut + 1);
  }
  out.push_back(rest);
  return out;
}

}  // namespace invalidator::fuzz
