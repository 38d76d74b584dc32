#include "bare_parse.hpp"

#include <simdjson.h>

namespace invalidator::bench {

namespace {

namespace ondemand = simdjson::ondemand;

// Visits every value of a JSON document, as a decoder must at the least. The sizes read are
// summed so that the compiler cannot drop the reads.
std::size_t touch(ondemand::value value, std::size_t& checksum) {
  switch (value.type().value_unsafe()) {
    case ondemand::json_type::object: {
      std::size_t count = 0;
      for (auto field : value.get_object().value_unsafe()) {
        checksum += field.unescaped_key().value_unsafe().size();
        count += touch(field.value().value_unsafe(), checksum);
      }
      return count;
    }
    case ondemand::json_type::array: {
      std::size_t count = 0;
      for (auto element : value.get_array().value_unsafe()) count += touch(element.value_unsafe(), checksum);
      return count;
    }
    case ondemand::json_type::string:
      checksum += value.get_string().value_unsafe().size();
      return 1;
    case ondemand::json_type::number:
      checksum += value.get_number().value_unsafe().is_int64() ? 1 : 2;
      return 1;
    case ondemand::json_type::boolean:
      checksum += value.get_bool().value_unsafe() ? 1 : 0;
      return 1;
    case ondemand::json_type::null:
      return 1;
  }
  return 0;
}

}  // namespace

struct BareParser::Parser {
  ondemand::parser parser;
  std::size_t checksum = 0;
};

BareParser::BareParser() : parser_(new Parser) {}
BareParser::~BareParser() { delete parser_; }

std::size_t BareParser::parse(const char* json, std::size_t size, std::size_t capacity) {
  auto document = parser_->parser.iterate(json, size, capacity).value_unsafe();
  return touch(document.get_value().value_unsafe(), parser_->checksum);
}

double bare_parse_rate(const std::vector<std::string>& events, std::chrono::milliseconds duration) {
  std::vector<simdjson::padded_string> padded;
  padded.reserve(events.size());
  for (const auto& event : events) padded.emplace_back(event);
  BareParser parser;
  std::size_t parsed = 0, values = 0;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = std::chrono::steady_clock::duration{};
  while (elapsed < duration) {
    for (int i = 0; i < 1024; ++i) {
      const auto& input = padded[parsed++ % padded.size()];
      values += parser.parse(input.data(), input.size(), input.size() + simdjson::SIMDJSON_PADDING);
    }
    elapsed = std::chrono::steady_clock::now() - start;
  }
  if (values == 0) return 0;  // every parse reads values: keeps `values` alive
  return static_cast<double>(parsed) / std::chrono::duration<double>(elapsed).count();
}

}  // namespace invalidator::bench
