#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "invalidator/engine.hpp"
#include "invalidator/logging.hpp"

int main(int argc, char** argv) {
  using namespace invalidator::app;
  CLI::App app{"Invalidator: keeps caches in step with a database's change stream."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(invalidator::version()));
  std::string log_format = "text";
  auto* log_format_option = app.add_option("--log-format", log_format, "Log lines as text or json (overrides engine.log_format)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  std::string config_file;
  auto* run = app.add_subcommand("run", "Run a pipeline until SIGINT/SIGTERM, or until every source has ended");
  run->add_option("-c,--config", config_file, "Pipeline configuration (TOML)")->required();

  auto* validate = app.add_subcommand("validate", "Check a configuration, its plugins and routes without connecting");
  validate->add_option("-c,--config", config_file, "Pipeline configuration (TOML)")->required();

  ExplainOptions explain_options;
  auto* explain = app.add_subcommand(
      "explain", "Decode one message and print the invalidations it causes (JSON on stdout), contacting nothing");
  explain->add_option("-c,--config", explain_options.config_file, "Pipeline configuration (TOML)")->required();
  explain->add_option("--source", explain_options.source_id, "Source whose format and routes apply (default: the only one)");
  explain->add_option("--topic", explain_options.topic, "Topic the message came from (default: the source's topic option)");
  explain->add_option("--key", explain_options.key_file, "File holding the record key (Debezium key JSON)");
  explain->add_option("message", explain_options.message_file, "File holding the message value, or - for stdin")
      ->required();

  bool docs = false;
  std::string options_of;
  auto* plugins = app.add_subcommand("plugins", "List the plugins found, or document their options");
  plugins->add_flag("--docs", docs, "Print every option of the core and of each plugin as Markdown");
  plugins->add_option("--options", options_of, "Print the options table of one plugin (as in its README)");
  plugins->add_option("-c,--config", config_file, "Also search this configuration's engine.plugin_path");

  auto* metrics = app.add_subcommand("metrics", "Print the admin endpoint's paths and every metric it exposes, as Markdown");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? kExitOk : kExitUsage;
  }
  invalidator::configure_logging(log_format, "info");

  if (*run) return run_command(config_file, log_format_option->count() > 0);
  if (*validate) return validate_command(config_file);
  if (*explain) return explain_command(explain_options);
  if (*plugins) return plugins_command(config_file, docs, options_of);
  if (*metrics) {
    std::cout << invalidator::metrics_reference();
    return kExitOk;
  }
  return kExitUsage;
}
