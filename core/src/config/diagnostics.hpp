#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace invalidator::config {

struct Location {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// One configuration error: where, which key, what is wrong and how to fix it.
struct Diagnostic {
  Location where;
  std::string path;  // "sinks.cache.url"
  std::string message;

  // FILE:LINE:COL: PATH: MESSAGE
  std::string to_string() const;
};

class Diagnostics {
 public:
  void add(Location where, std::string path, std::string message) {
    items_.push_back(Diagnostic{std::move(where), std::move(path), std::move(message)});
  }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  // Every diagnostic on its own line, sorted by position in the file.
  std::string to_string() const;

 private:
  std::vector<Diagnostic> items_;
};

// The candidate closest to `word` if it is close enough to be a likely typo.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace invalidator::config
