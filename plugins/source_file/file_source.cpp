#include "file_source.hpp"

#include <fstream>
#include <iostream>
#include <thread>

#include "invalidator/sdk/plugin.hpp"

namespace invalidator::plugins {

sdk::ConfigSpec FileSource::spec() {
  sdk::ConfigSpec spec;
  spec.summary("Reads Debezium messages as JSON Lines, one a line, from a file or standard input. Without "
               "`follow`, the source ends at the end of the file, and `invalidator run` exits once everything "
               "read was delivered.")
      .option("path", sdk::OptionType::string)
      .description("File to read; \"-\" reads standard input.")
      .required()
      .example("\"events.jsonl\"")
      .option("topic", sdk::OptionType::string)
      .description("Topic name given to every message; the codec takes the table from it when a message does not name one.")
      .default_value("\"\"")
      .example("\"dbserver1.public.customers\"")
      .option("follow", sdk::OptionType::boolean)
      .description("Keep reading lines appended to the file, like `tail -f`, until stopped.")
      .default_value("false")
      .option("poll_interval", sdk::OptionType::duration)
      .description("With follow, how often to look for new lines.")
      .default_value("\"200ms\"")
      .min(1);
  return spec;
}

sdk::Result<std::unique_ptr<sdk::Source>> FileSource::create(const sdk::Config& config,
                                                             const sdk::PluginContext& context) {
  Options options;
  options.path = config.string("path");
  options.topic = config.string("topic");
  options.follow = config.boolean("follow");
  options.poll_interval = config.duration("poll_interval", options.poll_interval);
  if (options.path != "-") {
    std::ifstream probe(options.path);
    if (!probe) return sdk::Status::error("cannot open " + options.path + " for reading");
  }
  return std::unique_ptr<sdk::Source>(std::make_unique<FileSource>(std::move(options), context.logger));
}

sdk::Status FileSource::run(sdk::Emitter& emitter, std::stop_token stop) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (options_.path != "-") {
    file.open(options_.path, std::ios::binary);
    if (!file) return sdk::Status::error("cannot open " + options_.path + " for reading");
    in = &file;
  }
  std::string line;
  std::uint64_t line_number = 0;
  while (!stop.stop_requested()) {
    if (!std::getline(*in, line)) {
      if (!options_.follow || in == &std::cin) break;
      // Keep the partial line (if any) and wait for the writer to finish it.
      in->clear();
      std::this_thread::sleep_for(options_.poll_interval);
      continue;
    }
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    sdk::RawMessage message;
    message.topic = options_.topic;
    message.value = std::move(line);
    message.position = sdk::Position{0, line_number};
    line = std::string();
    if (!emitter.emit(std::move(message))) break;
  }
  if (logger_) logger_->info("read " + std::to_string(line_number) + " lines from " + options_.path);
  return sdk::Status::success();
}

void FileSource::acknowledge(const sdk::Position& position) {
  acknowledged_.store(position.offset, std::memory_order_release);
}

}  // namespace invalidator::plugins

INVALIDATOR_SOURCE_PLUGIN(file, "0.1.0", invalidator::plugins::FileSource::spec, invalidator::plugins::FileSource::create)
