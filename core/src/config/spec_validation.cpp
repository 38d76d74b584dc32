#include "config/spec_validation.hpp"

#include <algorithm>
#include <cmath>

#include "config/values.hpp"

namespace invalidator::config {

Location location_of(const toml::node& node, const std::string& file) {
  const auto& source = node.source();
  return Location{file, source.begin.line, source.begin.column};
}

std::optional<std::string> expanded_string(const toml::node& node, const std::string& path,
                                           const std::string& file, Diagnostics& out) {
  const auto* text = node.as_string();
  if (text == nullptr) return std::nullopt;
  auto expanded = expand_environment(text->get());
  if (!expanded) {
    out.add(location_of(node, file), path, expanded.error());
    return std::nullopt;
  }
  return std::move(expanded).value();
}

namespace {

std::string describe_type(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

std::string expected_form(const sdk::OptionSpec& option) {
  std::string example = option.example.value_or(option.default_value.value_or(""));
  std::string text = std::string(sdk::to_string(option.type));
  switch (option.type) {
    case sdk::OptionType::duration: text = "a duration such as \"500ms\", \"5s\" or \"1m\""; break;
    case sdk::OptionType::size: text = "a size such as \"64KiB\", \"10MB\" or a byte count"; break;
    case sdk::OptionType::string_list: text = "an array of strings such as [\"a\", \"b\"]"; break;
    case sdk::OptionType::boolean: text = "a boolean (true or false, without quotes)"; break;
    case sdk::OptionType::integer: text = "an integer"; break;
    case sdk::OptionType::number: text = "a number"; break;
    case sdk::OptionType::string_map: text = "a table"; break;
    case sdk::OptionType::string:
      text = "a string";
      if (!example.empty()) text += " such as " + example;
      break;
    default:
      if (!example.empty()) text += " such as " + example;
  }
  return text;
}

class OptionChecker {
 public:
  OptionChecker(const sdk::OptionSpec& option, const std::string& path, const std::string& file,
                Diagnostics& out)
      : option_(option), path_(path), file_(file), out_(out) {}

  std::optional<sdk::ConfigValue> check(const toml::node& node) {
    switch (option_.type) {
      case sdk::OptionType::string: return check_string(node);
      case sdk::OptionType::integer: return check_integer(node);
      case sdk::OptionType::number: return check_number(node);
      case sdk::OptionType::boolean: return check_boolean(node);
      case sdk::OptionType::duration: return check_duration(node);
      case sdk::OptionType::size: return check_size(node);
      case sdk::OptionType::string_list: return check_list(node);
      case sdk::OptionType::string_map: return check_map(node);
    }
    return std::nullopt;
  }

 private:
  void wrong_type(const toml::node& node) {
    error(node, "expected " + expected_form(option_) + ", found " + describe_type(node));
  }
  void error(const toml::node& node, std::string message) {
    out_.add(location_of(node, file_), path_, std::move(message));
  }
  // The value as written, unless the option is secret.
  std::string shown(std::string_view text) const {
    return option_.secret ? std::string("(secret)") : "'" + std::string(text) + "'";
  }
  bool in_range(const toml::node& node, double value, std::string_view unit = {}) {
    auto bound = [&](double b) {
      std::string text = std::to_string(b);
      if (b == std::floor(b)) text = std::to_string(static_cast<long long>(b));
      return text + std::string(unit);
    };
    if (option_.min && value < *option_.min) {
      error(node, "value is below the minimum of " + bound(*option_.min));
      return false;
    }
    if (option_.max && value > *option_.max) {
      error(node, "value is above the maximum of " + bound(*option_.max));
      return false;
    }
    return true;
  }

  std::optional<sdk::ConfigValue> check_string(const toml::node& node) {
    if (!node.is_string()) return wrong_type(node), std::nullopt;
    auto text = expanded_string(node, path_, file_, out_);
    if (!text) return std::nullopt;
    if (!option_.one_of.empty()) {
      bool allowed = false;
      std::string choices;
      for (const auto& choice : option_.one_of) {
        if (choice == *text) allowed = true;
        choices += (choices.empty() ? "'" : ", '") + choice + "'";
      }
      if (!allowed) {
        error(node, "unknown value " + shown(*text) + did_you_mean(*text, option_.one_of) +
                        "; expected one of " + choices);
        return std::nullopt;
      }
    }
    return sdk::ConfigValue{std::move(*text)};
  }
  std::optional<sdk::ConfigValue> check_integer(const toml::node& node) {
    const auto* value = node.as_integer();
    if (value == nullptr) return wrong_type(node), std::nullopt;
    if (!in_range(node, static_cast<double>(value->get()))) return std::nullopt;
    return sdk::ConfigValue{value->get()};
  }
  std::optional<sdk::ConfigValue> check_number(const toml::node& node) {
    double number = 0;
    if (const auto* integer = node.as_integer()) number = static_cast<double>(integer->get());
    else if (const auto* floating = node.as_floating_point()) number = floating->get();
    else return wrong_type(node), std::nullopt;
    if (!in_range(node, number)) return std::nullopt;
    return sdk::ConfigValue{number};
  }
  std::optional<sdk::ConfigValue> check_boolean(const toml::node& node) {
    const auto* value = node.as_boolean();
    if (value == nullptr) return wrong_type(node), std::nullopt;
    return sdk::ConfigValue{value->get()};
  }
  std::optional<sdk::ConfigValue> check_duration(const toml::node& node) {
    if (!node.is_string()) return wrong_type(node), std::nullopt;
    auto text = expanded_string(node, path_, file_, out_);
    if (!text) return std::nullopt;
    auto duration = parse_duration(*text);
    if (!duration) {
      error(node, "bad duration " + shown(*text) +
                      " (write a number and a unit: \"250ms\", \"5s\", \"1m\", \"1h\")");
      return std::nullopt;
    }
    if (!in_range(node, static_cast<double>(duration->count()), "ms")) return std::nullopt;
    return sdk::ConfigValue{*duration};
  }
  std::optional<sdk::ConfigValue> check_size(const toml::node& node) {
    std::optional<std::int64_t> bytes;
    if (const auto* integer = node.as_integer()) {
      bytes = integer->get();
    } else if (node.is_string()) {
      auto text = expanded_string(node, path_, file_, out_);
      if (!text) return std::nullopt;
      bytes = parse_size(*text);
      if (!bytes) {
        error(node, "bad size " + shown(*text) +
                        " (write a byte count or a number and a unit: \"64KiB\", \"10MB\", \"1GiB\")");
        return std::nullopt;
      }
    } else {
      return wrong_type(node), std::nullopt;
    }
    if (!in_range(node, static_cast<double>(*bytes), " bytes")) return std::nullopt;
    return sdk::ConfigValue{*bytes};
  }
  std::optional<sdk::ConfigValue> check_list(const toml::node& node) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      if (node.is_string()) {
        error(node, "expected an array of strings; write [" +
                        std::string("\"") + node.as_string()->get() + "\"] for a single entry");
        return std::nullopt;
      }
      return wrong_type(node), std::nullopt;
    }
    std::vector<std::string> items;
    bool valid = true;
    for (const auto& element : *array) {
      if (!element.is_string()) {
        error(element, "expected a string in the array, found " + describe_type(element));
        valid = false;
        continue;
      }
      auto text = expanded_string(element, path_, file_, out_);
      if (!text) {
        valid = false;
        continue;
      }
      items.push_back(std::move(*text));
    }
    if (!valid) return std::nullopt;
    return sdk::ConfigValue{std::move(items)};
  }
  std::optional<sdk::ConfigValue> check_map(const toml::node& node) {
    const auto* table = node.as_table();
    if (table == nullptr) return wrong_type(node), std::nullopt;
    std::map<std::string, std::string> items;
    bool valid = true;
    for (const auto& [key, element] : *table) {
      if (element.is_string()) {
        auto text = expanded_string(element, path_ + "." + std::string(key.str()), file_, out_);
        if (!text) {
          valid = false;
          continue;
        }
        items[std::string(key.str())] = std::move(*text);
      } else if (const auto* integer = element.as_integer()) {
        items[std::string(key.str())] = std::to_string(integer->get());
      } else if (const auto* boolean = element.as_boolean()) {
        items[std::string(key.str())] = boolean->get() ? "true" : "false";
      } else if (const auto* floating = element.as_floating_point()) {
        items[std::string(key.str())] = std::to_string(floating->get());
      } else {
        out_.add(location_of(element, file_), path_ + "." + std::string(key.str()),
                 "expected a string, number or boolean, found " + describe_type(element));
        valid = false;
      }
    }
    if (!valid) return std::nullopt;
    return sdk::ConfigValue{std::move(items)};
  }

  const sdk::OptionSpec& option_;
  const std::string& path_;
  const std::string& file_;
  Diagnostics& out_;
};

// Defaults are written as TOML values; parse them the same way as user input so that the
// documentation and the behaviour cannot disagree.
std::optional<sdk::ConfigValue> parse_default(const sdk::OptionSpec& option, Diagnostics& out) {
  if (!option.default_value) return std::nullopt;
  const std::string file = "<default>";
  toml::table parsed;
  try {
    parsed = toml::parse("value = " + *option.default_value);
  } catch (const toml::parse_error& error) {
    out.add(Location{file, 0, 0}, option.name, "not a TOML value: " + std::string(error.description()));
    return std::nullopt;
  }
  const toml::node* node = parsed.get("value");
  if (node == nullptr) return std::nullopt;
  return OptionChecker(option, option.name, file, out).check(*node);
}

}  // namespace

std::vector<std::string> declaration_problems(const sdk::ConfigSpec& spec) {
  std::vector<std::string> problems;
  std::vector<std::string> seen;
  for (const auto& option : spec.options()) {
    if (std::find(seen.begin(), seen.end(), option.name) != seen.end()) {
      problems.push_back("option '" + option.name + "' is declared twice");
    }
    seen.push_back(option.name);
    if (option.required && option.default_value) {
      problems.push_back("option '" + option.name + "' is required and has a default: drop one of them");
    }
    if (!option.default_value) continue;
    Diagnostics errors;
    if (!parse_default(option, errors)) {
      std::string why = errors.empty() ? "" : ": " + errors.items().front().message;
      problems.push_back("the default of option '" + option.name + "' (" + *option.default_value +
                         ") is not a valid " + std::string(sdk::to_string(option.type)) + why);
    }
  }
  return problems;
}

std::optional<sdk::ConfigValue> check_option(const toml::node& node, const sdk::OptionSpec& option,
                                             const std::string& path, const std::string& file, Diagnostics& out) {
  return OptionChecker(option, path, file, out).check(node);
}

sdk::Config validate_table(const toml::table& table, const sdk::ConfigSpec& spec,
                           const std::string& path, const std::string& file, Diagnostics& out,
                           const std::vector<std::string>& reserved) {
  sdk::Config config;
  std::vector<std::string> known;
  for (const auto& option : spec.options()) known.push_back(option.name);
  for (const auto& name : reserved) known.push_back(name);

  for (const auto& [key, node] : table) {
    std::string name(key.str());
    std::string key_path = path.empty() ? name : path + "." + name;
    if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) continue;
    const sdk::OptionSpec* option = spec.find(name);
    if (option == nullptr) {
      const auto& source = key.source();
      Location where{file, source.begin.line, source.begin.column};
      if (where.line == 0) where = location_of(node, file);
      out.add(where, key_path, "unknown key '" + name + "'" + did_you_mean(name, known));
      continue;
    }
    if (auto value = OptionChecker(*option, key_path, file, out).check(node)) {
      config.set(name, std::move(*value));
    }
  }
  for (const auto& option : spec.options()) {
    if (config.has(option.name) || table.contains(option.name)) continue;
    if (option.required) {
      std::string hint = option.example ? " (for example: " + option.name + " = " + *option.example + ")" : "";
      out.add(location_of(table, file), path.empty() ? option.name : path + "." + option.name,
              "missing required key '" + option.name + "'" + hint);
      continue;
    }
    Diagnostics declaration_errors;  // reported when the plugin is loaded (declaration_problems)
    if (auto value = parse_default(option, declaration_errors)) config.set(option.name, std::move(*value));
  }
  return config;
}

}  // namespace invalidator::config
