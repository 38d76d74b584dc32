#include "plugin_host/registry.hpp"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "config/spec_validation.hpp"

#ifndef INVALIDATOR_INSTALL_PLUGIN_DIR
#define INVALIDATOR_INSTALL_PLUGIN_DIR ""
#endif
#ifndef INVALIDATOR_BUILD_PLUGIN_DIR
#define INVALIDATOR_BUILD_PLUGIN_DIR ""
#endif
#ifndef INVALIDATOR_BUILD_ROOT
#define INVALIDATOR_BUILD_ROOT ""
#endif
#ifndef INVALIDATOR_INSTALL_LIBDIR
#define INVALIDATOR_INSTALL_LIBDIR "lib"
#endif

namespace invalidator::plugin_host {

namespace fs = std::filesystem;

namespace {

std::string abi_text(std::uint32_t major, std::uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string mode_text(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

// Code loaded into the process must not be replaceable by other users.
std::string check_permissions(const fs::path& file) {
  struct stat file_status {};
  if (::stat(file.c_str(), &file_status) != 0) return "cannot stat the file: " + std::string(std::strerror(errno));
  if ((file_status.st_mode & S_IWOTH) != 0) {
    return "refused: the file is writable by other users (mode " + mode_text(file_status.st_mode) +
           "), so anyone could replace the code it runs; fix with: chmod o-w " + file.string();
  }
  // Whoever owns the file can change the code it runs: root, or the user running invalidator.
  if (file_status.st_uid != 0 && file_status.st_uid != ::geteuid()) {
    return "refused: the file is owned by uid " + std::to_string(file_status.st_uid) +
           ", neither root nor the user invalidator runs as (uid " + std::to_string(::geteuid()) +
           "), so that user could change the code it runs; fix with: chown root " + file.string();
  }
  fs::path directory = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  struct stat directory_status {};
  if (::stat(directory.c_str(), &directory_status) == 0 && (directory_status.st_mode & S_IWOTH) != 0 &&
      (directory_status.st_mode & S_ISVTX) == 0) {
    return "refused: its directory " + directory.string() + " is writable by other users (mode " +
           mode_text(directory_status.st_mode) +
           "), so anyone could swap the library; fix with: chmod o-w " + directory.string();
  }
  return {};
}

// Before a library is loaded, its name says what it claims to be: libinvalidator_<kind>_<name>.so.
Refusal refusal_for_file(const fs::path& file, std::string message) {
  Refusal refusal{file.string(), {}, sdk::PluginKind::sink, std::move(message)};
  std::string stem = file.stem().string();
  for (auto [prefix, kind] : {std::pair{"libinvalidator_source_", sdk::PluginKind::source},
                              std::pair{"libinvalidator_sink_", sdk::PluginKind::sink}}) {
    std::string_view text(prefix);
    if (stem.rfind(text, 0) == 0) {
      refusal.kind = kind;
      refusal.plugin_name = stem.substr(text.size());
    }
  }
  return refusal;
}

}  // namespace

std::string check_compatibility(const sdk::PluginDescriptor& descriptor) {
  const std::string name = descriptor.name ? descriptor.name : "?";
  if (descriptor.abi_major != sdk::kAbiMajor) {
    return "plugin '" + name + "' was built against SDK ABI " +
           abi_text(descriptor.abi_major, descriptor.abi_minor) + ", but this invalidator provides ABI " +
           abi_text(sdk::kAbiMajor, sdk::kAbiMinor) +
           ": rebuild the plugin against this invalidator's SDK headers (major versions never mix)";
  }
  if (descriptor.abi_minor > sdk::kAbiMinor) {
    return "plugin '" + name + "' needs SDK ABI " + abi_text(descriptor.abi_major, descriptor.abi_minor) +
           ", newer than this invalidator's " + abi_text(sdk::kAbiMajor, sdk::kAbiMinor) +
           ": upgrade invalidator, or rebuild the plugin against SDK " + abi_text(sdk::kAbiMajor, sdk::kAbiMinor);
  }
  const char* toolchain = descriptor.toolchain ? descriptor.toolchain : "(none)";
  if (std::strcmp(toolchain, sdk::kToolchain) != 0) {
    return "plugin '" + name + "' was built with " + toolchain + ", but this invalidator with " +
           sdk::kToolchain +
           ": C++ objects cross the plugin boundary, so rebuild the plugin with the same compiler "
           "and standard library as invalidator";
  }
  if (descriptor.kind != sdk::PluginKind::source && descriptor.kind != sdk::PluginKind::sink) {
    return "plugin '" + name + "' declares an unknown kind";
  }
  if (descriptor.spec == nullptr ||
      (descriptor.kind == sdk::PluginKind::source && descriptor.create_source == nullptr) ||
      (descriptor.kind == sdk::PluginKind::sink && descriptor.create_sink == nullptr)) {
    return "plugin '" + name + "' has an incomplete descriptor (no spec or factory)";
  }
  if (auto problems = config::declaration_problems(descriptor.spec()); !problems.empty()) {
    std::string text = "plugin '" + name + "' declares its options wrongly: ";
    for (std::size_t i = 0; i < problems.size(); ++i) text += (i == 0 ? "" : "; ") + problems[i];
    return text + ": fix the plugin's options declaration";
  }
  return {};
}

Registry::Registry() = default;
Registry::~Registry() = default;

sdk::Status Registry::refuse(Refusal refusal) {
  std::string message = refusal.file + ": " + refusal.message;
  refusals_.push_back(std::move(refusal));
  return sdk::Status::error(std::move(message));
}

sdk::Status Registry::accept(const sdk::PluginDescriptor& descriptor, std::string origin,
                             std::shared_ptr<boost::dll::shared_library> library) {
  auto key = std::make_pair(descriptor.kind, std::string(descriptor.name));
  if (auto existing = plugins_.find(key); existing != plugins_.end()) {
    std::string message = "two plugins are named '" + std::string(descriptor.name) + "' (" +
                          sdk::to_string(descriptor.kind) + "): " + existing->second.origin + " and " +
                          origin + "; remove one of them, or take its directory out of the plugin path";
    Refusal first{existing->second.origin, descriptor.name, descriptor.kind, message};
    plugins_.erase(existing);
    refusals_.push_back(first);
    return refuse(Refusal{origin, descriptor.name, descriptor.kind, message});
  }
  // A name that already clashed stays refused, whatever comes later.
  for (const auto& refused : refusals_) {
    if (refused.plugin_name == descriptor.name && refused.kind == descriptor.kind &&
        refused.message.rfind("two plugins", 0) == 0) {
      return refuse(Refusal{origin, descriptor.name, descriptor.kind, refused.message});
    }
  }
  plugins_.emplace(std::move(key), PluginEntry{&descriptor, std::move(origin), std::move(library)});
  return sdk::Status::success();
}

sdk::Status Registry::add(const sdk::PluginDescriptor& descriptor) {
  if (std::string problem = check_compatibility(descriptor); !problem.empty()) {
    return refuse(Refusal{"built-in", descriptor.name ? descriptor.name : "", descriptor.kind, problem});
  }
  return accept(descriptor, "built-in", nullptr);
}

sdk::Status Registry::load_file(const fs::path& file) {
  std::error_code error;
  fs::path canonical = fs::canonical(file, error);
  if (error) return refuse(refusal_for_file(file, "cannot be read: " + error.message()));
  if (std::find(loaded_files_.begin(), loaded_files_.end(), canonical) != loaded_files_.end()) {
    return sdk::Status::success();  // the same file reached through two search directories
  }
  loaded_files_.push_back(canonical);

  if (std::string problem = check_permissions(file); !problem.empty()) {
    return refuse(refusal_for_file(file, problem));
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    // Never unmapped, even once nothing of the plugin is left: the libraries a plugin brings
    // (librdkafka, OpenSSL, libcurl) keep global state, threads and exit handlers that assume
    // they stay, and LeakSanitizer would report what only their unmapped globals pointed to.
    library->load(canonical, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local |
                                 static_cast<boost::dll::load_mode::type>(RTLD_NODELETE));
  } catch (const std::exception& load_error) {
    return refuse(refusal_for_file(file, std::string("cannot be loaded: ") + load_error.what()));
  }
  if (!library->has(INVALIDATOR_PLUGIN_ALIAS_NAME)) {
    return refuse(refusal_for_file(file,
                          "not an invalidator plugin: it exports no '" INVALIDATOR_PLUGIN_ALIAS_NAME
                          "' descriptor; build it with INVALIDATOR_SINK_PLUGIN or INVALIDATOR_SOURCE_PLUGIN "
                          "from <invalidator/sdk/plugin.hpp>, or remove it from the plugin path"));
  }
  const auto& descriptor = library->get_alias<const sdk::PluginDescriptor>(INVALIDATOR_PLUGIN_ALIAS_NAME);
  if (std::string problem = check_compatibility(descriptor); !problem.empty()) {
    return refuse(Refusal{file.string(), descriptor.name ? descriptor.name : "", descriptor.kind, problem});
  }
  return accept(descriptor, file.string(), std::move(library));
}

std::size_t Registry::load_directory(const fs::path& directory) {
  std::error_code error;
  if (!fs::is_directory(directory, error)) return 0;
  std::vector<fs::path> files;
  for (const auto& item : fs::directory_iterator(directory, error)) {
    if (item.path().extension() == ".so" && item.is_regular_file(error)) files.push_back(item.path());
  }
  std::sort(files.begin(), files.end());  // a stable order makes clashes reproducible
  std::size_t before = plugins_.size();
  for (const auto& file : files) load_file(file);
  return plugins_.size() > before ? plugins_.size() - before : 0;
}

std::vector<fs::path> Registry::default_directories() {
  std::vector<fs::path> directories;
  if (const char* env = std::getenv("INVALIDATOR_PLUGIN_PATH"); env != nullptr) {
    std::stringstream list(env);
    std::string item;
    while (std::getline(list, item, ':')) {
      if (!item.empty()) directories.emplace_back(item);
    }
  }
  // An installed binary finds the plugins installed beside it, wherever the tree was moved.
  std::error_code error;
  fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    directories.push_back(executable.parent_path().parent_path() / INVALIDATOR_INSTALL_LIBDIR / "invalidator" / "plugins");
  }
  if (*INVALIDATOR_INSTALL_PLUGIN_DIR) directories.emplace_back(INVALIDATOR_INSTALL_PLUGIN_DIR);
  // The build directory only for binaries run from the build tree: an installed binary must
  // not pick up a developer's build.
  std::string build_root = INVALIDATOR_BUILD_ROOT;
  if (*INVALIDATOR_BUILD_PLUGIN_DIR && !error && !build_root.empty() &&
      executable.string().rfind(build_root + "/", 0) == 0) {
    directories.emplace_back(INVALIDATOR_BUILD_PLUGIN_DIR);
  }
  return directories;
}

void Registry::load_search_path(const std::vector<std::string>& plugin_path) {
  for (const auto& directory : plugin_path) load_directory(directory);
  for (const auto& directory : default_directories()) load_directory(directory);
}

const PluginEntry* Registry::entry(sdk::PluginKind kind, std::string_view name) const {
  auto found = plugins_.find(std::make_pair(kind, std::string(name)));
  return found == plugins_.end() ? nullptr : &found->second;
}

std::vector<const PluginEntry*> Registry::entries() const {
  std::vector<const PluginEntry*> all;
  for (const auto& [key, entry] : plugins_) all.push_back(&entry);
  return all;
}

const sdk::PluginDescriptor* Registry::find(sdk::PluginKind kind, std::string_view name) const {
  const PluginEntry* found = entry(kind, name);
  return found ? found->descriptor : nullptr;
}

std::vector<std::string> Registry::names(sdk::PluginKind kind) const {
  std::vector<std::string> names;
  for (const auto& [key, entry] : plugins_) {
    if (key.first == kind) names.push_back(key.second);
  }
  return names;
}

std::string Registry::refusal(sdk::PluginKind kind, std::string_view name) const {
  for (const auto& refused : refusals_) {
    if (refused.kind == kind && refused.plugin_name == name) return refused.file + ": " + refused.message;
  }
  return {};
}

namespace {
// The instance is the plugin's own object, with no wrapper to outlive: a loaded library is
// never unmapped (see load_file), so its code stays callable after the registry is gone.
template <typename Factory>
auto create_from(const PluginEntry* found, Factory factory, std::string_view kind, std::string_view type,
                 const sdk::Config& config, const sdk::PluginContext& context) -> decltype(factory(config, context)) {
  if (found == nullptr) {
    return sdk::Status::error("no " + std::string(kind) + " plugin named '" + std::string(type) + "'");
  }
  auto created = factory(config, context);
  if (created && !created.value()) return sdk::Status::error("the plugin's factory returned nothing");
  return created;
}
}  // namespace

sdk::Result<std::unique_ptr<sdk::Source>> Registry::create_source(std::string_view type, const sdk::Config& config,
                                                                  const sdk::PluginContext& context) const {
  const PluginEntry* found = entry(sdk::PluginKind::source, type);
  return create_from(found, found ? found->descriptor->create_source : nullptr, "source", type, config, context);
}

sdk::Result<std::unique_ptr<sdk::Sink>> Registry::create_sink(std::string_view type, const sdk::Config& config,
                                                              const sdk::PluginContext& context) const {
  const PluginEntry* found = entry(sdk::PluginKind::sink, type);
  return create_from(found, found ? found->descriptor->create_sink : nullptr, "sink", type, config, context);
}

}  // namespace invalidator::plugin_host
