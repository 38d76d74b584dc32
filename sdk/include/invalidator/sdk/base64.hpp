#pragma once

// RFC 4648 base64 with padding: bytes that are not text, carried in JSON (a dead-letter file,
// a Pulsar WebSocket message's payload).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace invalidator::sdk {

namespace detail {
inline constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> base64_decoding_table() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (std::size_t i = 0; i < kBase64Alphabet.size(); ++i) table[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}
inline constexpr auto kBase64Decoding = base64_decoding_table();
}  // namespace detail

inline std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                                static_cast<unsigned char>(bytes[i + 2]);
    out += detail::kBase64Alphabet[group >> 18 & 63];
    out += detail::kBase64Alphabet[group >> 12 & 63];
    out += detail::kBase64Alphabet[group >> 6 & 63];
    out += detail::kBase64Alphabet[group & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t group = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) group |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += detail::kBase64Alphabet[group >> 18 & 63];
    out += detail::kBase64Alphabet[group >> 12 & 63];
    out += rest == 2 ? detail::kBase64Alphabet[group >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// nullopt: not base64.
inline std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t group = 0;
    int padding = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++padding;
        group <<= 6;
        continue;
      }
      if (padding > 0) return std::nullopt;  // '=' only at the very end
      const std::int8_t value = detail::kBase64Decoding[static_cast<unsigned char>(c)];
      if (value < 0) return std::nullopt;
      group = group << 6 | static_cast<std::uint32_t>(value);
    }
    out += static_cast<char>(group >> 16 & 0xff);
    if (padding < 2) out += static_cast<char>(group >> 8 & 0xff);
    if (padding < 1) out += static_cast<char>(group & 0xff);
  }
  return out;
}

}  // namespace invalidator::sdk
