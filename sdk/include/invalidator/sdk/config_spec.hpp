#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace invalidator::sdk {

enum class OptionType {
  string,
  integer,
  number,
  boolean,
  duration,     // "500ms", "2s", "1m", "1h"
  size,         // "64KiB", "10MB", or a plain byte count
  string_list,  // ["a", "b"]
  string_map,   // a table of string values passed through (e.g. a client library's settings)
};

constexpr std::string_view to_string(OptionType type) {
  switch (type) {
    case OptionType::string: return "string";
    case OptionType::integer: return "integer";
    case OptionType::number: return "number";
    case OptionType::boolean: return "boolean";
    case OptionType::duration: return "duration";
    case OptionType::size: return "size";
    case OptionType::string_list: return "array of strings";
    case OptionType::string_map: return "table";
  }
  return "unknown";
}

// One option a plugin accepts. The core validates a configuration table against these
// before the plugin is created, and renders them as documentation.
struct OptionSpec {
  std::string name;
  OptionType type = OptionType::string;
  std::string description;
  std::optional<std::string> default_value;  // as written in TOML, e.g. "\"5s\"" or "64"
  std::optional<std::string> example;        // a TOML value
  bool required = false;
  bool secret = false;  // never logged, masked in diagnostics
  std::optional<double> min;  // integer, number; duration in milliseconds; size in bytes
  std::optional<double> max;
  std::vector<std::string> one_of;  // allowed string values
};

template <typename Options>
class OptionsSpec;

// The options of a plugin or of one of the host's tables, as data: what the host validates
// against and documents. Plugins build it through OptionsSpec (options.hpp), which binds each
// option to a field and derives the default's TOML text from a typed value.
// Fluent builder: ConfigSpec{}.summary("...").option(...) reads like the documentation it makes.
class ConfigSpec {
 public:
  class OptionBuilder {
   public:
    OptionBuilder(ConfigSpec& spec, std::size_t index) : spec_(&spec), index_(index) {}
    OptionBuilder& description(std::string text) { get().description = std::move(text); return *this; }
    OptionBuilder& default_value(std::string toml) { get().default_value = std::move(toml); return *this; }
    OptionBuilder& example(std::string toml) { get().example = std::move(toml); return *this; }
    OptionBuilder& required() { get().required = true; return *this; }
    OptionBuilder& secret() { get().secret = true; return *this; }
    OptionBuilder& min(double value) { get().min = value; return *this; }
    OptionBuilder& max(double value) { get().max = value; return *this; }
    OptionBuilder& one_of(std::vector<std::string> values) { get().one_of = std::move(values); return *this; }
    OptionBuilder option(std::string name, OptionType type) { return spec_->option(std::move(name), type); }
    ConfigSpec& done() { return *spec_; }

   private:
    OptionSpec& get() { return spec_->options_[index_]; }
    ConfigSpec* spec_;
    std::size_t index_;
  };

  ConfigSpec& summary(std::string text) { summary_ = std::move(text); return *this; }
  OptionBuilder option(std::string name, OptionType type) {
    OptionSpec option;
    option.name = std::move(name);
    option.type = type;
    options_.push_back(std::move(option));
    return OptionBuilder{*this, options_.size() - 1};
  }

  const std::string& summary() const { return summary_; }
  const std::vector<OptionSpec>& options() const { return options_; }
  const OptionSpec* find(std::string_view name) const {
    for (const auto& option : options_) {
      if (option.name == name) return &option;
    }
    return nullptr;
  }

 private:
  template <typename Options>
  friend class OptionsSpec;
  OptionSpec& options_at(std::size_t index) { return options_[index]; }

  std::string summary_;
  std::vector<OptionSpec> options_;
};

using ConfigValue = std::variant<std::string, std::int64_t, double, bool, std::chrono::milliseconds,
                                 std::vector<std::string>, std::map<std::string, std::string>>;

// A validated configuration table: every option of the spec that has a value (given or
// defaulted) is present and of the declared type. Sizes are int64 bytes. Plugins never see
// it: OptionsSpec::fill() turns it into their options struct. The accessors have no fallback
// of their own: a value the table does not hold reads as the type's empty value.
class Config {
 public:
  void set(std::string name, ConfigValue value) { values_[std::move(name)] = std::move(value); }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }

  std::string string(std::string_view name) const { return get<std::string>(name).value_or(std::string{}); }
  std::int64_t integer(std::string_view name) const { return get<std::int64_t>(name).value_or(0); }
  bool boolean(std::string_view name) const { return get<bool>(name).value_or(false); }
  std::chrono::milliseconds duration(std::string_view name) const {
    return get<std::chrono::milliseconds>(name).value_or(std::chrono::milliseconds{0});
  }
  std::vector<std::string> string_list(std::string_view name) const {
    return get<std::vector<std::string>>(name).value_or(std::vector<std::string>{});
  }
  std::map<std::string, std::string> string_map(std::string_view name) const {
    return get<std::map<std::string, std::string>>(name).value_or(std::map<std::string, std::string>{});
  }
  const std::map<std::string, ConfigValue, std::less<>>& values() const { return values_; }

 private:
  template <typename T>
  std::optional<T> get(std::string_view name) const {
    auto found = values_.find(name);
    if (found == values_.end()) return std::nullopt;
    if (const T* value = std::get_if<T>(&found->second)) return *value;
    return std::nullopt;
  }

  std::map<std::string, ConfigValue, std::less<>> values_;
};

}  // namespace invalidator::sdk
