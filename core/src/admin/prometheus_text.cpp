#include "admin/prometheus_text.hpp"

#include <charconv>
#include <cmath>

namespace invalidator::admin {
namespace {

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
}

bool is_name_rest(char c, bool colon_allowed) { return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9'); }

bool is_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || !is_name_start(name.front(), colon_allowed)) return false;
  for (char c : name.substr(1)) {
    if (!is_name_rest(c, colon_allowed)) return false;
  }
  return true;
}

// HELP text escapes backslash and line feed; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote_too) {
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        if (quote_too) {
          out += "\\\"";
          break;
        }
        [[fallthrough]];
      default: out += c;
    }
  }
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

bool is_metric_name(std::string_view name) { return is_name(name, true); }

bool is_label_name(std::string_view name) { return is_name(name, false) && !name.starts_with("__"); }

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char digits[64];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  return std::string(digits, error == std::errc{} ? end : digits);
}

void PrometheusText::family(std::string_view name, MetricType type, std::string_view help) {
  family_ = std::string(name);
  type_ = type;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void PrometheusText::write_sample(std::string_view suffix, const Labels& labels,
                                  const std::pair<std::string, std::string>* extra, double value) {
  text_ += family_;
  text_ += suffix;
  if (!labels.empty() || extra != nullptr) {
    text_ += '{';
    bool first = true;
    auto write_label = [&](const std::pair<std::string, std::string>& label) {
      if (!first) text_ += ',';
      first = false;
      text_ += label.first;
      text_ += "=\"";
      append_escaped(text_, label.second, true);
      text_ += '"';
    };
    for (const auto& label : labels) write_label(label);
    if (extra != nullptr) write_label(*extra);
    text_ += '}';
  }
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void PrometheusText::sample(const Labels& labels, double value) { write_sample("", labels, nullptr, value); }

void PrometheusText::histogram(const Labels& labels, const HistogramSnapshot& snapshot) {
  std::uint64_t cumulative = 0;
  std::pair<std::string, std::string> le{"le", ""};
  for (std::size_t i = 0; i < snapshot.upper_bounds.size(); ++i) {
    cumulative += i < snapshot.bucket_counts.size() ? snapshot.bucket_counts[i] : 0;
    le.second = format_value(snapshot.upper_bounds[i]);
    write_sample("_bucket", labels, &le, static_cast<double>(cumulative));
  }
  cumulative += snapshot.above;
  le.second = "+Inf";
  write_sample("_bucket", labels, &le, static_cast<double>(cumulative));
  write_sample("_sum", labels, nullptr, snapshot.sum);
  write_sample("_count", labels, nullptr, static_cast<double>(cumulative));
}

std::uint64_t HistogramSnapshot::count() const {
  std::uint64_t total = above;
  for (auto bucket : bucket_counts) total += bucket;
  return total;
}

void HistogramSnapshot::add(const HistogramSnapshot& other) {
  for (std::size_t b = 0; b < bucket_counts.size() && b < other.bucket_counts.size(); ++b) {
    bucket_counts[b] += other.bucket_counts[b];
  }
  above += other.above;
  sum += other.sum;
}

double HistogramSnapshot::quantile(double quantile) const {
  const std::uint64_t total = count();
  if (total == 0) return 0;
  const double rank = quantile * static_cast<double>(total);
  double below = 0;
  for (std::size_t i = 0; i < bucket_counts.size(); ++i) {
    const double in_bucket = static_cast<double>(bucket_counts[i]);
    if (below + in_bucket >= rank && in_bucket > 0) {
      const double lower = i == 0 ? 0 : upper_bounds[i - 1];
      return lower + (upper_bounds[i] - lower) * (rank - below) / in_bucket;
    }
    below += in_bucket;
  }
  return upper_bounds.empty() ? 0 : upper_bounds.back();  // above the last bound: its bound, as Prometheus says
}

}  // namespace invalidator::admin
