#pragma once

// The pgoutput messages captured from a real PostgreSQL 15 (tests/fixtures/pgoutput), as bytes.

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace invalidator::testing {

struct CapturedMessage {
  std::string type;
  std::uint32_t xid = 0;
  std::string bytes;
};

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// The text after `"name": ` up to the character that ends it (a quoted value's closing quote,
// or a number's comma). Not std::regex: its matcher recurses once per character, and a long
// "hex" field overflows the stack of a sanitized debug build.
inline std::optional<std::string> field_of(const std::string& line, const std::string& name) {
  const std::string quoted_name = "\"" + name + "\": ";
  auto at = line.find(quoted_name);
  if (at == std::string::npos) return std::nullopt;
  at += quoted_name.size();
  const bool quoted = at < line.size() && line[at] == '"';
  if (quoted) ++at;
  const auto end = line.find(quoted ? '"' : ',', at);
  if (end == std::string::npos) return std::nullopt;
  return line.substr(at, end - at);
}

// One file's messages in the order the server sent them.
inline std::vector<CapturedMessage> captured_pgoutput(const std::string& file) {
  std::vector<CapturedMessage> out;
  std::istringstream lines(fixture("pgoutput/" + file));
  for (std::string line; std::getline(lines, line);) {
    const auto xid = field_of(line, "xid");
    const auto type = field_of(line, "type");
    const auto hex = field_of(line, "hex");
    if (!xid || !type || !hex || type->size() != 1) continue;
    out.push_back(CapturedMessage{*type, static_cast<std::uint32_t>(std::stoul(*xid)), from_hex(*hex)});
  }
  return out;
}

}  // namespace invalidator::testing
