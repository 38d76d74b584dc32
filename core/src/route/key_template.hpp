#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::route {

// A key template such as "order:{customer_id}:{id}", compiled once at start-up.
// "{{" and "}}" stand for literal braces; "{header:NAME}" is the value of the message header
// NAME (a Kafka header, for instance a tenant id set by the producer).
class KeyTemplate {
 public:
  static sdk::Result<KeyTemplate> compile(std::string_view text);

  enum class Outcome { rendered, missing_column, null_column, unavailable_column, missing_header };
  // Renders against one row image and the message's headers into `out` (cleared first).
  Outcome render(const sdk::Row& row, std::string& out, std::span<const sdk::Header> headers = {}) const;

  // Whether every column the template reads is in both rows with equal values: it then
  // renders to the same key against either (the message's headers being the same).
  bool renders_alike(const sdk::Row& a, const sdk::Row& b) const;

  const std::string& text() const { return text_; }
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::string>& headers() const { return headers_; }

 private:
  struct Piece {
    std::string literal;  // used when column < 0 and header < 0
    int column = -1;      // index into columns_
    int header = -1;      // index into headers_
  };
  std::string text_;
  std::vector<Piece> pieces_;
  std::vector<std::string> columns_;
  std::vector<std::string> headers_;
};

// Appends the textual form of a value used in keys: integers in decimal, doubles in their
// shortest round-trip form, booleans as true/false, strings verbatim.
void append_value(const sdk::Value& value, std::string& out);

}  // namespace invalidator::route
