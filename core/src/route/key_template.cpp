#include "route/key_template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace invalidator::route {

sdk::Result<KeyTemplate> KeyTemplate::compile(std::string_view text) {
  KeyTemplate compiled;
  compiled.text_ = std::string(text);
  std::string literal;
  auto flush_literal = [&] {
    if (!literal.empty()) {
      compiled.pieces_.push_back(Piece{std::move(literal), -1, -1});
      literal.clear();
    }
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      std::size_t close = text.find('}', i + 1);
      if (close == std::string_view::npos) {
        return sdk::Status::error("unclosed '{' at character " + std::to_string(i + 1) +
                                  " in key template \"" + std::string(text) +
                                  "\" (write {column}, or {{ for a literal brace)");
      }
      std::string_view name = text.substr(i + 1, close - i - 1);
      constexpr std::string_view kHeader = "header:";
      const bool is_header = name.starts_with(kHeader);
      if (is_header) name.remove_prefix(kHeader.size());
      if (name.empty()) {
        return sdk::Status::error(std::string(is_header ? "empty header name '{header:}'" : "empty column name '{}'") +
                                  " in key template \"" + std::string(text) + "\"");
      }
      for (char n : name) {
        if (!std::isalnum(static_cast<unsigned char>(n)) && n != '_' && n != '-' && n != '.' && n != '$') {
          return sdk::Status::error("bad " + std::string(is_header ? "header" : "column") + " name '" +
                                    std::string(name) + "' in key template \"" + std::string(text) +
                                    "\" (a column name, e.g. {customer_id}, or a message header, e.g. {header:tenant})");
        }
      }
      flush_literal();
      std::vector<std::string>& names = is_header ? compiled.headers_ : compiled.columns_;
      int index = -1;
      for (std::size_t k = 0; k < names.size(); ++k) {
        if (names[k] == name) index = static_cast<int>(k);
      }
      if (index < 0) {
        names.emplace_back(name);
        index = static_cast<int>(names.size() - 1);
      }
      compiled.pieces_.push_back(is_header ? Piece{{}, -1, index} : Piece{{}, index, -1});
      i = close;
    } else if (c == '}') {
      return sdk::Status::error("unmatched '}' at character " + std::to_string(i + 1) +
                                " in key template \"" + std::string(text) + "\" (write }} for a literal brace)");
    } else {
      literal += c;
    }
  }
  flush_literal();
  return compiled;
}

void append_value(const sdk::Value& value, std::string& out) {
  struct Appender {
    std::string& out;
    void operator()(std::monostate) const {}
    void operator()(const sdk::Unavailable&) const {}
    void operator()(bool b) const { out += b ? "true" : "false"; }
    void operator()(std::int64_t i) const {
      char buffer[24];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, i);
      out.append(buffer, end);
    }
    void operator()(double d) const {
      char buffer[32];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d);
      out.append(buffer, end);
    }
    void operator()(const std::string& s) const { out += s; }
  };
  std::visit(Appender{out}, value);
}

bool KeyTemplate::renders_alike(const sdk::Row& a, const sdk::Row& b) const {
  for (const auto& name : columns_) {
    const sdk::Value* in_a = a.find(name);
    const sdk::Value* in_b = b.find(name);
    if (in_a == nullptr || in_b == nullptr || *in_a != *in_b) return false;
  }
  return true;
}

KeyTemplate::Outcome KeyTemplate::render(const sdk::Row& row, std::string& out,
                                         std::span<const sdk::Header> headers) const {
  out.clear();
  for (const auto& piece : pieces_) {
    if (piece.header >= 0) {
      const std::string& name = headers_[static_cast<std::size_t>(piece.header)];
      auto found = std::find_if(headers.begin(), headers.end(), [&](const sdk::Header& h) { return h.name == name; });
      if (found == headers.end()) return Outcome::missing_header;
      out += found->value;
      continue;
    }
    if (piece.column < 0) {
      out += piece.literal;
      continue;
    }
    const sdk::Value* value = row.find(columns_[static_cast<std::size_t>(piece.column)]);
    if (value == nullptr) return Outcome::missing_column;
    if (sdk::is_null(*value)) return Outcome::null_column;
    if (sdk::is_unavailable(*value)) return Outcome::unavailable_column;
    append_value(*value, out);
  }
  return Outcome::rendered;
}

}  // namespace invalidator::route
