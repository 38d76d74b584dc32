// A cache of files, one per key under a directory (rendered pages, exported reports, a CDN's
// pull directory), kept fresh by deleting the file of every key a change invalidates.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "invalidator/sdk/plugin.hpp"
#include "invalidator/sdk/state.hpp"

namespace filecache {

namespace fs = std::filesystem;
using namespace invalidator::sdk;

// Keys become file names: every byte outside [A-Za-z0-9._-] is written as %XX.
std::string file_name(std::string_view key) {
  std::string name;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') name += static_cast<char>(c);
    else name += std::string("%") + "0123456789ABCDEF"[c >> 4] + "0123456789ABCDEF"[c & 15];
  }
  return name;
}

struct Options {
  std::string directory;
};

class FileCacheSink final : public Sink {
 public:
  explicit FileCacheSink(Options options) : directory_(std::move(options.directory)) {}

  DeliveryResult deliver(std::span<const Invalidation> batch, const DeliveryContext&) override {
    if (!fs::is_directory(directory_)) return DeliveryResult::retry(directory_.string() + " is not there (yet)");
    std::vector<ItemFailure> failures;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (stopped_) return DeliveryResult::retry("stopped");
      const fs::path file = directory_ / file_name(batch[i].key);
      // A set writes the value; delete and expire remove the file (it cannot expire later).
      Status applied = batch[i].action == Action::set_value ? write_file_atomically(file, batch[i].value.value_or(""))
                                                            : remove(file);
      if (!applied) failures.push_back(ItemFailure{i, applied.message(), false});
    }
    return failures.empty() ? DeliveryResult::ok() : DeliveryResult::partial(std::move(failures));
  }
  void stop() override { stopped_ = true; }

 private:
  static Status remove(const fs::path& file) {
    if (::unlink(file.c_str()) == 0 || errno == ENOENT) return Status::success();
    return Status::error("cannot delete " + file.string() + ": " + std::strerror(errno));
  }

  fs::path directory_;
  std::atomic<bool> stopped_{false};
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
  return std::unique_ptr<Sink>(std::make_unique<FileCacheSink>(std::move(options)));
}

}  // namespace filecache

INVALIDATOR_SINK_PLUGIN(filecache, "2.0.0", filecache::options, filecache::create)
