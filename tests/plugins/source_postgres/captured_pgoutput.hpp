#pragma once

// The pgoutput messages captured from a real PostgreSQL 15 (tests/fixtures/pgoutput), as bytes.

#include <cstdint>
#include <regex>
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

// One file's messages in the order the server sent them.
inline std::vector<CapturedMessage> captured_pgoutput(const std::string& file) {
  std::vector<CapturedMessage> out;
  std::istringstream lines(fixture("pgoutput/" + file));
  const std::regex fields(R"re("xid": (\d+), "type": "(.)", "hex": "([0-9a-f]*)")re");
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (!std::regex_search(line, match, fields)) continue;
    out.push_back(CapturedMessage{match[2], static_cast<std::uint32_t>(std::stoul(match[1])), from_hex(match[3])});
  }
  return out;
}

}  // namespace invalidator::testing
