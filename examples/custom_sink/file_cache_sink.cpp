// A cache of files, one per key under a directory (rendered pages, exported reports, a CDN's
// pull directory), kept fresh by deleting the file of every key a change invalidates.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "invalidator/sdk/pattern.hpp"
#include "key_file_name.hpp"
#include "invalidator/sdk/plugin.hpp"

namespace filecache {

namespace fs = std::filesystem;
using namespace invalidator::sdk;

class FileCacheSink final : public Sink {
 public:
  explicit FileCacheSink(fs::path directory) : directory_(std::move(directory)) {}

  Status start() override {
    stopped_ = false;
    std::error_code error;
    if (!fs::is_directory(directory_, error)) {
      return Status::error("cache directory " + directory_.string() + " does not exist");
    }
    return Status::success();
  }

  DeliveryResult deliver(std::span<const Invalidation> batch, const DeliveryContext&) override {
    if (!fs::is_directory(directory_)) {
      return DeliveryResult::retry("cache directory " + directory_.string() + " is not there (yet)");
    }
    std::vector<ItemFailure> failures;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (stopped_) return DeliveryResult::retry("stopped");
      const Invalidation& item = batch[i];
      std::string error;
      switch (item.action) {
        case Action::delete_key:
        case Action::expire:  // a file cannot expire later; removing it now is the safe side
          error = remove(directory_ / file_name(item.key));
          break;
        case Action::set_value:
          error = write(directory_ / file_name(item.key), item.value.value_or(""));
          break;
        case Action::delete_pattern:
          for (const auto& entry : fs::directory_iterator(directory_)) {
            if (glob_match(item.key, key_of(entry.path().filename().string()))) {
              if (auto failed = remove(entry.path()); !failed.empty()) error = failed;
            }
          }
          break;
      }
      if (!error.empty()) failures.push_back(ItemFailure{i, error, false});
    }
    if (!failures.empty()) return DeliveryResult::partial(std::move(failures));
    return DeliveryResult::ok();
  }

  void stop() override { stopped_ = true; }

 private:
  static std::string remove(const fs::path& file) {
    if (::unlink(file.c_str()) == 0 || errno == ENOENT) return {};
    return "cannot delete " + file.string() + ": " + std::strerror(errno);
  }
  static std::string write(const fs::path& file, const std::string& value) {
    // Write aside, then rename: a reader never sees half a file.
    fs::path temporary = file;
    temporary += ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << value;
      if (!out) return "cannot write " + temporary.string();
    }
    if (std::rename(temporary.c_str(), file.c_str()) != 0) return "cannot rename to " + file.string();
    return {};
  }

  fs::path directory_;
  std::atomic<bool> stopped_{false};
};

struct Options {
  std::string directory;
};

OptionsSpec<Options> options() {
  OptionsSpec<Options> spec("Deletes cached files, one file per key under a directory.");
  spec.option("directory", &Options::directory)
      .description("The cache directory; keys are file names with bytes outside [A-Za-z0-9._-] written as %XX.")
      .required()
      .example("\"/var/cache/pages\"");
  return spec;
}

Result<std::unique_ptr<Sink>> create(Options options, const PluginContext&) {
  return std::unique_ptr<Sink>(std::make_unique<FileCacheSink>(options.directory));
}

}  // namespace filecache

INVALIDATOR_SINK_PLUGIN(filecache, "2.0.0", filecache::options, filecache::create)
