#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace invalidator::bench {

// The ceiling of any decoder built on simdjson: On-Demand over the same bytes, reading every
// key and value once. Parses `events` round and round for at least `duration` and returns
// events per second. Run in the same process and moment as what it is compared with, so
// that both see the same machine: on a shared one the speed of a core varies from minute to
// minute.
double bare_parse_rate(const std::vector<std::string>& events, std::chrono::milliseconds duration);

// One parse of the bare kind; returns the number of values read.
class BareParser {
 public:
  BareParser();
  ~BareParser();
  BareParser(const BareParser&) = delete;
  BareParser& operator=(const BareParser&) = delete;
  // `json` must have simdjson's padding after its end (a padded_string's storage).
  std::size_t parse(const char* json, std::size_t size, std::size_t capacity);

 private:
  struct Parser;
  Parser* parser_;
};

}  // namespace invalidator::bench
