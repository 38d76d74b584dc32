#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace filecache {

// Keys become file names: every byte outside [A-Za-z0-9._-] is written as %XX.
inline std::string file_name(std::string_view key) {
  static const char* hex = "0123456789ABCDEF";
  std::string name;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      name += static_cast<char>(c);
    } else {
      name += '%';
      name += hex[c >> 4];
      name += hex[c & 15];
    }
  }
  return name;
}

inline std::string key_of(std::string_view name) {
  std::string key;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size()) {
      key += static_cast<char>(std::stoi(std::string(name.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      key += name[i];
    }
  }
  return key;
}

}  // namespace filecache
