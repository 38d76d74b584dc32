#pragma once

#include <string>

namespace invalidator::app {

// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// `log_format_given`: the command line chose the log format, which then overrides engine.log_format.
int run_command(const std::string& config_file, bool log_format_given);
int validate_command(const std::string& config_file);
struct ExplainOptions {
  std::string config_file;
  std::string source_id;
  std::string topic;
  std::string key_file;
  std::string message_file;  // "-": standard input
};
int explain_command(const ExplainOptions& options);
int plugins_command(const std::string& config_file, bool docs, const std::string& options_of);

}  // namespace invalidator::app
