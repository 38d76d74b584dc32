#pragma once

// PostgreSQL sends column values as text (logical replication's pgoutput, a query's result):
// shared by the postgres and poll sources, so that a row reads the same through either.

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "invalidator/sdk/event.hpp"

namespace invalidator::plugins::postgres {

// A column's text as the value its type calls for, as Debezium's JSON would hold it:
// booleans, integers and floating point numbers by the column's type; everything else
// (numeric included, to keep its digits; NaN and infinities) as text.
inline sdk::Value typed_text_value(std::uint32_t type_oid, std::string_view text) {
  constexpr std::uint32_t kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700, kFloat8 = 701;
  switch (type_oid) {
    case kBool:
      if (text == "t") return true;
      if (text == "f") return false;
      break;
    case kInt8:
    case kInt2:
    case kInt4:
    case kOid: {
      std::int64_t number = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (error == std::errc{} && end == text.data() + text.size()) return number;
      break;
    }
    case kFloat4:
    case kFloat8: {
      double number = 0;
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (error == std::errc{} && end == text.data() + text.size() && std::isfinite(number)) return number;
      break;
    }
    default: break;
  }
  return std::string(text);
}

}  // namespace invalidator::plugins::postgres
