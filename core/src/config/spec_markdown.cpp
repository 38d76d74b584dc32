#include "config/spec_markdown.hpp"

namespace invalidator::config {

namespace {
std::string escape_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}
std::string code(const std::string& text) { return "`" + escape_cell(text) + "`"; }
}  // namespace

std::string options_table(const sdk::ConfigSpec& spec) {
  std::string out = "| option | type | default | description |\n|---|---|---|---|\n";
  for (const auto& option : spec.options()) {
    std::string type(sdk::to_string(option.type));
    std::string default_text = option.required ? "**required**" : option.default_value ? code(*option.default_value) : "";
    std::string description = option.description;
    if (!option.one_of.empty()) {
      description += " One of:";
      for (std::size_t i = 0; i < option.one_of.size(); ++i) description += (i ? ", " : " ") + code(option.one_of[i]);
      description += ".";
    }
    if (option.min || option.max) {
      auto number = [](double value) {
        return value == static_cast<double>(static_cast<long long>(value)) ? std::to_string(static_cast<long long>(value))
                                                                            : std::to_string(value);
      };
      std::string unit = option.type == sdk::OptionType::duration ? " ms" : option.type == sdk::OptionType::size ? " bytes" : "";
      if (option.min && option.max) description += " Range: " + number(*option.min) + " to " + number(*option.max) + unit + ".";
      else if (option.min) description += " At least " + number(*option.min) + unit + ".";
      else description += " At most " + number(*option.max) + unit + ".";
    }
    if (option.secret) description += " Secret: never logged.";
    if (option.example) description += " Example: " + code(option.name + " = " + *option.example) + ".";
    out += "| " + code(option.name) + " | " + type + " | " + default_text + " | " + escape_cell(description) + " |\n";
  }
  return out;
}

std::string spec_section(const std::string& heading, const sdk::ConfigSpec& spec) {
  std::string out = heading + "\n\n";
  if (!spec.summary().empty()) out += spec.summary() + "\n\n";
  out += options_table(spec);
  return out;
}

}  // namespace invalidator::config
