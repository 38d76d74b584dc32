#pragma once

// Options declared once. A plugin binds each option to a field of its own options struct;
// the declaration carries the name, type, default, bounds and documentation. The host
// validates a configuration table against it, and the same declaration fills the struct the
// plugin's factory receives: a plugin never reads an option by name nor writes a default of
// its own.
//
//   struct Options { std::string url; std::size_t pool; std::chrono::milliseconds timeout; };
//
//   sdk::OptionsSpec<Options> options() {
//     sdk::OptionsSpec<Options> spec("Writes to a cache.");
//     spec.option("url", &Options::url).description("Where the cache is.").required();
//     spec.option("pool", &Options::pool).description("Connections.").default_value(4).min(1);
//     spec.option("timeout", &Options::timeout).description("Per reply.").default_value(std::chrono::seconds(5));
//     return spec;
//   }

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::sdk {

namespace toml_text {

inline std::string quoted_text(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789ABCDEF";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// In the largest unit that divides it exactly, as a reader would write it.
inline std::string duration(std::chrono::milliseconds value) {
  const std::int64_t ms = value.count();
  if (ms != 0 && ms % 3'600'000 == 0) return quoted_text(std::to_string(ms / 3'600'000) + "h");
  if (ms != 0 && ms % 60'000 == 0) return quoted_text(std::to_string(ms / 60'000) + "m");
  if (ms != 0 && ms % 1000 == 0) return quoted_text(std::to_string(ms / 1000) + "s");
  return quoted_text(std::to_string(ms) + "ms");
}

inline std::string size(std::int64_t bytes) {
  static constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {std::int64_t{1} << 30, "GiB"}, {std::int64_t{1} << 20, "MiB"}, {std::int64_t{1} << 10, "KiB"}};
  for (const auto& [unit, name] : kUnits) {
    if (bytes != 0 && bytes % unit == 0) return quoted_text(std::to_string(bytes / unit) + name);
  }
  return std::to_string(bytes);
}

inline std::string number(double value) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, error == std::errc{} ? end : buffer);
  // TOML reads "2" as an integer; a number option accepts both, but the text says "number".
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

inline std::string list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ", ") + quoted_text(items[i]);
  return out + "]";
}

inline std::string table(const std::map<std::string, std::string>& items) {
  if (items.empty()) return "{}";
  std::string out = "{ ";
  bool first = true;
  for (const auto& [key, value] : items) {
    out += (first ? "" : ", ") + quoted_text(key) + " = " + quoted_text(value);
    first = false;
  }
  return out + " }";
}

}  // namespace toml_text

namespace detail {

template <typename T>
struct is_duration : std::false_type {};
template <typename Rep, typename Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};

template <typename Field>
constexpr bool kBindable = std::is_same_v<Field, std::string> || std::is_same_v<Field, bool> ||
                           std::is_integral_v<Field> || std::is_floating_point_v<Field> ||
                           is_duration<Field>::value || std::is_enum_v<Field> ||
                           std::is_same_v<Field, std::vector<std::string>> ||
                           std::is_same_v<Field, std::map<std::string, std::string>>;

template <typename Field>
constexpr OptionType option_type_of() {
  if constexpr (std::is_same_v<Field, bool>) return OptionType::boolean;
  else if constexpr (std::is_integral_v<Field>) return OptionType::integer;
  else if constexpr (std::is_floating_point_v<Field>) return OptionType::number;
  else if constexpr (is_duration<Field>::value) return OptionType::duration;
  else if constexpr (std::is_same_v<Field, std::vector<std::string>>) return OptionType::string_list;
  else if constexpr (std::is_same_v<Field, std::map<std::string, std::string>>) return OptionType::string_map;
  else return OptionType::string;  // std::string, and enums named by strings
}

}  // namespace detail

// Declares the options of one plugin (or of one table of the host) bound to the fields of
// `Options`. describe() is what the host validates against and documents; fill() turns a
// validated Config into the struct.
template <typename Options>
class OptionsSpec {
 public:
  template <typename Field>
  class OptionBuilder {
   public:
    OptionBuilder(OptionsSpec& spec, std::size_t index, Field Options::*member)
        : spec_(&spec), index_(index), member_(member) {}

    OptionBuilder& description(std::string text) { get().description = std::move(text); return *this; }
    OptionBuilder& example(std::string toml) { get().example = std::move(toml); return *this; }
    OptionBuilder& required() { get().required = true; return *this; }
    OptionBuilder& secret() { get().secret = true; return *this; }
    OptionBuilder& min(double value) { get().min = value; return *this; }
    OptionBuilder& max(double value) { get().max = value; return *this; }
    // Plain strings only; an enum field names its values with choices().
    OptionBuilder& one_of(std::vector<std::string> values)
      requires std::is_same_v<Field, std::string>
    {
      get().one_of = std::move(values);
      return *this;
    }
    // An integer field holding a byte count: written as "64KiB", "10MB" or a number.
    OptionBuilder& size()
      requires std::is_integral_v<Field> && (!std::is_same_v<Field, bool>)
    {
      get().type = OptionType::size;
      return *this;
    }
    // The strings that name an enum field's values.
    OptionBuilder& choices(std::initializer_list<std::pair<const char*, Field>> names)
      requires std::is_enum_v<Field>
    {
      auto& binding = spec_->bindings_[index_];
      for (const auto& [name, value] : names) {
        get().one_of.emplace_back(name);
        binding.enum_names.emplace_back(name, static_cast<std::int64_t>(value));
      }
      return *this;
    }
    // The value taken when the configuration leaves the option out. Written as TOML text for
    // the documentation and the validation, from this one typed value.
    template <typename Value>
    OptionBuilder& default_value(const Value& value) {
      Field typed(value);
      get().default_value = render(typed);
      spec_->bindings_[index_].apply_default = [member = member_, typed](Options& options) { options.*member = typed; };
      return *this;
    }

    template <typename Next>
    OptionBuilder<Next> option(std::string name, Next Options::*member) {
      return spec_->option(std::move(name), member);
    }

   private:
    OptionSpec& get() { return spec_->spec_.options_at(index_); }
    std::string render(const Field& value) {
      if constexpr (std::is_same_v<Field, std::string>) return toml_text::quoted_text(value);
      else if constexpr (std::is_same_v<Field, bool>) return value ? "true" : "false";
      else if constexpr (std::is_integral_v<Field>) {
        if (get().type == OptionType::size) return toml_text::size(static_cast<std::int64_t>(value));
        return std::to_string(value);
      } else if constexpr (std::is_floating_point_v<Field>) return toml_text::number(static_cast<double>(value));
      else if constexpr (detail::is_duration<Field>::value) {
        return toml_text::duration(std::chrono::duration_cast<std::chrono::milliseconds>(value));
      } else if constexpr (std::is_enum_v<Field>) {
        for (const auto& [name, number] : spec_->bindings_[index_].enum_names) {
          if (number == static_cast<std::int64_t>(value)) return toml_text::quoted_text(name);
        }
        return "\"(a value without a name: declare choices() before default_value())\"";
      } else if constexpr (std::is_same_v<Field, std::vector<std::string>>) return toml_text::list(value);
      else return toml_text::table(value);
    }

    OptionsSpec* spec_;
    std::size_t index_;
    Field Options::*member_;
  };

  explicit OptionsSpec(std::string summary = {}) { spec_.summary(std::move(summary)); }

  OptionsSpec& summary(std::string text) {
    spec_.summary(std::move(text));
    return *this;
  }

  template <typename Field>
  OptionBuilder<Field> option(std::string name, Field Options::*member) {
    static_assert(detail::kBindable<Field>,
                  "an option binds to a std::string, bool, integer, floating-point, std::chrono duration, enum, "
                  "std::vector<std::string> or std::map<std::string, std::string> field");
    spec_.option(name, detail::option_type_of<Field>());
    Binding binding;
    binding.name = std::move(name);
    binding.assign = [member](Options& options, const ConfigValue& value, const Binding& self) {
      return assign(options.*member, value, self);
    };
    bindings_.push_back(std::move(binding));
    return OptionBuilder<Field>(*this, bindings_.size() - 1, member);
  }

  // What the host validates a table against and renders as documentation.
  const ConfigSpec& describe() const { return spec_; }

  // The struct from a validated table. Every declared option the table holds is assigned;
  // one it leaves out takes its declared default (the host fills those in already; a table
  // built in code may not), or else keeps the field's value-initialized state. An error names
  // an option whose value is not of its declared type (a host that did not validate) or a
  // value the table holds that nothing declares.
  Result<Options> fill(const Config& config) const {
    Options options{};
    for (const auto& binding : bindings_) {
      auto found = config.values().find(binding.name);
      if (found == config.values().end()) {
        if (binding.apply_default) binding.apply_default(options);
        continue;
      }
      if (!binding.assign(options, found->second, binding)) {
        return Status::error("option '" + binding.name + "' holds a value of another type than it was declared with");
      }
    }
    for (const auto& [name, value] : config.values()) {
      if (spec_.find(name) == nullptr) {
        return Status::error("option '" + name + "' is not declared by this plugin");
      }
    }
    return options;
  }

 private:
  struct Binding {
    std::string name;
    std::vector<std::pair<std::string, std::int64_t>> enum_names;
    std::function<bool(Options&, const ConfigValue&, const Binding&)> assign;
    std::function<void(Options&)> apply_default;
  };

  template <typename Field>
  static bool assign(Field& field, const ConfigValue& value, const Binding& binding) {
    if constexpr (std::is_same_v<Field, bool>) {
      return take<bool>(field, value);
    } else if constexpr (std::is_integral_v<Field>) {
      const auto* number = std::get_if<std::int64_t>(&value);
      if (number == nullptr) return false;
      field = static_cast<Field>(*number);
      return true;
    } else if constexpr (std::is_floating_point_v<Field>) {
      if (const auto* number = std::get_if<double>(&value)) {
        field = static_cast<Field>(*number);
        return true;
      }
      if (const auto* integer = std::get_if<std::int64_t>(&value)) {
        field = static_cast<Field>(*integer);
        return true;
      }
      return false;
    } else if constexpr (detail::is_duration<Field>::value) {
      const auto* duration = std::get_if<std::chrono::milliseconds>(&value);
      if (duration == nullptr) return false;
      field = std::chrono::duration_cast<Field>(*duration);
      return true;
    } else if constexpr (std::is_enum_v<Field>) {
      const auto* text = std::get_if<std::string>(&value);
      if (text == nullptr) return false;
      for (const auto& [name, number] : binding.enum_names) {
        if (name == *text) {
          field = static_cast<Field>(number);
          return true;
        }
      }
      return false;
    } else {
      return take<Field>(field, value);
    }
  }
  template <typename Alternative, typename Field>
  static bool take(Field& field, const ConfigValue& value) {
    const auto* held = std::get_if<Alternative>(&value);
    if (held == nullptr) return false;
    field = *held;
    return true;
  }

  ConfigSpec spec_;
  std::vector<Binding> bindings_;  // bindings_[i] fills spec_.options()[i]
};

}  // namespace invalidator::sdk
