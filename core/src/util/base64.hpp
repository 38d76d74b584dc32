#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace invalidator::util {

// RFC 4648 base64 with padding: bytes that are not text, kept in a JSON file.
std::string base64_encode(std::string_view bytes);
// nullopt: not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace invalidator::util
