#include <gtest/gtest.h>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "plugin_host/registry.hpp"
#include "support/test_support.hpp"

INVALIDATOR_DECLARE_STATIC_PLUGIN(memory);

namespace invalidator::plugin_host {
namespace {

namespace fs = std::filesystem;
using invalidator::testing::TempDir;

const fs::path kBadPlugins = BAD_PLUGIN_DIR;
const fs::path kPlugins = INVALIDATOR_BUILD_PLUGIN_DIR;

fs::path bad(const std::string& name) { return kBadPlugins / name / ("libinvalidator_bad_" + name + ".so"); }

std::string refusal_text(const Registry& registry) {
  std::string text;
  for (const auto& refusal : registry.refusals()) text += refusal.file + ": " + refusal.message + "\n";
  return text;
}

TEST(Loader, LoadsARealPluginAndCreatesInstances) {
  Registry registry;
  auto loaded = registry.load_file(kPlugins / "libinvalidator_sink_memory.so");
  ASSERT_TRUE(loaded) << loaded.message();
  const auto* entry = registry.entry(sdk::PluginKind::sink, "memory");
  ASSERT_NE(entry, nullptr);
  EXPECT_NE(entry->origin.find("libinvalidator_sink_memory.so"), std::string::npos);
  auto sink = registry.create_sink("memory", sdk::Config{}, sdk::PluginContext{"cache", nullptr});
  ASSERT_TRUE(sink) << sink.error();
  std::vector<sdk::Invalidation> batch{sdk::Invalidation{sdk::Action::delete_key, "k", std::nullopt, 1, {}}};
  EXPECT_TRUE(sink.value()->deliver(batch, {}).is_ok());
}

// A loaded source keeps its whole contract, individual completion included (the Pulsar source
// acknowledges message by message): nothing between the engine and the plugin may lose it.
TEST(Loader, ALoadedSourceKeepsItsWayOfCompleting) {
  Registry registry;
  auto loaded = registry.load_file(kPlugins / "libinvalidator_source_pulsar.so");
  ASSERT_TRUE(loaded) << loaded.message();
  sdk::Config config;
  config.set("url", std::string("ws://127.0.0.1:9"));
  config.set("topics", std::vector<std::string>{"customers"});
  auto source = registry.create_source("pulsar", config, sdk::PluginContext{"pulsar", nullptr});
  ASSERT_TRUE(source) << source.error();
  EXPECT_EQ(source.value()->completion(), sdk::Completion::individual);
  // Not yet handed over: both are no-ops, and must reach the source to be.
  source.value()->complete(sdk::Position{1, 0});
  source.value()->reject(sdk::Position{1, 1}, "test");
}

// Instances are the plugin's own objects, unwrapped, so nothing of theirs holds the library:
// the host must never unmap it, or the instance's code would be gone from under it.
TEST(Loader, InstanceOutlivesTheRegistry) {
  const fs::path library = kBadPlugins / "bare" / "libinvalidator_sink_bare.so";
  std::unique_ptr<sdk::Sink> sink;
  {
    Registry registry;
    auto loaded = registry.load_file(library);
    ASSERT_TRUE(loaded) << loaded.message();
    sink = std::move(registry.create_sink("bare", sdk::Config{}, sdk::PluginContext{}).value());
  }
  void* still_mapped = ::dlopen(library.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(still_mapped, nullptr) << "the registry unloaded the library while an instance of it lives";
  ::dlclose(still_mapped);
  std::vector<sdk::Invalidation> batch{sdk::Invalidation{sdk::Action::delete_key, "k", std::nullopt, 1, {}}};
  EXPECT_TRUE(sink->deliver(batch, {}).is_ok());
  sink.reset();
}

TEST(Loader, RefusesALibraryWithoutDescriptor) {
  Registry registry;
  auto loaded = registry.load_file(bad("no_descriptor"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("libinvalidator_bad_no_descriptor.so: not an invalidator plugin: it exports no "
                                  "'invalidator_plugin' descriptor"),
            std::string::npos)
      << loaded.message();
  EXPECT_NE(loaded.message().find("INVALIDATOR_SINK_PLUGIN"), std::string::npos) << "says how to fix it";
}

TEST(Loader, RefusesAnotherAbiMajorVersion) {
  Registry registry;
  auto loaded = registry.load_file(bad("abi_major"));
  ASSERT_FALSE(loaded);
  std::string expected = "plugin 'bad_abi_major' was built against SDK ABI " + std::to_string(sdk::kAbiMajor + 1) +
                         ".0, but this invalidator provides ABI " + std::to_string(sdk::kAbiMajor) + "." +
                         std::to_string(sdk::kAbiMinor) + ": rebuild the plugin";
  EXPECT_NE(loaded.message().find(expected), std::string::npos) << loaded.message();
  EXPECT_EQ(registry.find(sdk::PluginKind::sink, "bad_abi_major"), nullptr);
}

TEST(Loader, RefusesAPluginBuiltAgainstSdk1) {
  ASSERT_EQ(sdk::kAbiMajor, 2u);
  Registry registry;
  auto loaded = registry.load_file(bad("sdk1"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("plugin 'memory' was built against SDK ABI 1.0, but this invalidator provides ABI 2." +
                                  std::to_string(sdk::kAbiMinor) + ": rebuild the plugin"),
            std::string::npos)
      << loaded.message();
  EXPECT_EQ(registry.find(sdk::PluginKind::sink, "memory"), nullptr);
}

sdk::ConfigSpec spec_with_a_bad_default() {
  sdk::ConfigSpec spec;
  spec.option("pool", sdk::OptionType::integer).default_value("\"four\"");
  return spec;
}
sdk::Result<std::unique_ptr<sdk::Sink>> never_created(const sdk::Config&, const sdk::PluginContext&) {
  return sdk::Status::error("never created");
}

TEST(Loader, RefusesAPluginWhoseDeclaredDefaultIsNotAValueOfItsOption) {
  const sdk::PluginDescriptor descriptor{sdk::kAbiMajor, sdk::kAbiMinor, sdk::kToolchain, "misdeclared",
                                         sdk::PluginKind::sink, "1.0.0", spec_with_a_bad_default, nullptr,
                                         never_created};
  Registry registry;
  auto added = registry.add(descriptor);
  ASSERT_FALSE(added);
  EXPECT_NE(added.message().find("plugin 'misdeclared' declares its options wrongly: the default of option 'pool' "
                                 "(\"four\") is not a valid integer"),
            std::string::npos)
      << added.message();
  EXPECT_NE(added.message().find("fix the plugin's options declaration"), std::string::npos);
}

TEST(Loader, RefusesANewerAbiMinorVersion) {
  Registry registry;
  auto loaded = registry.load_file(bad("abi_minor_newer"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("needs SDK ABI " + std::to_string(sdk::kAbiMajor) + "." +
                                  std::to_string(sdk::kAbiMinor + 1) + ", newer than this invalidator's"),
            std::string::npos)
      << loaded.message();
  EXPECT_NE(loaded.message().find("upgrade invalidator"), std::string::npos);
}

TEST(Loader, RefusesAnotherCompilerOrStandardLibrary) {
  Registry registry;
  auto loaded = registry.load_file(bad("toolchain"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find(std::string("was built with msvc-1930/msvc-stl, but this invalidator with ") +
                                  sdk::kToolchain),
            std::string::npos)
      << loaded.message();
  EXPECT_NE(loaded.message().find("rebuild the plugin with the same compiler"), std::string::npos);
}

TEST(Loader, RefusesTwoPluginsWithOneNameNamingBothFiles) {
  TempDir first, second;
  fs::copy_file(kPlugins / "libinvalidator_sink_memory.so", first / "libinvalidator_sink_memory.so");
  fs::copy_file(kPlugins / "libinvalidator_sink_memory.so", second / "libinvalidator_sink_memory.so");
  Registry registry;
  registry.load_directory(first.path());
  EXPECT_NE(registry.find(sdk::PluginKind::sink, "memory"), nullptr);
  registry.load_directory(second.path());
  EXPECT_EQ(registry.find(sdk::PluginKind::sink, "memory"), nullptr) << "neither copy is trusted";
  std::string why = registry.refusal(sdk::PluginKind::sink, "memory");
  EXPECT_NE(why.find((first / "libinvalidator_sink_memory.so").string()), std::string::npos) << why;
  EXPECT_NE(why.find((second / "libinvalidator_sink_memory.so").string()), std::string::npos) << why;
  EXPECT_NE(why.find("two plugins are named 'memory'"), std::string::npos) << why;
}

TEST(Loader, ABuiltInAndALoadedPluginWithOneNameClash) {
  Registry registry;
  ASSERT_TRUE(registry.add(invalidator_static_plugin_memory()));
  EXPECT_FALSE(registry.load_file(kPlugins / "libinvalidator_sink_memory.so"));
  EXPECT_NE(registry.refusal(sdk::PluginKind::sink, "memory").find("built-in"), std::string::npos);
}

TEST(Loader, RefusesAFileWritableByOthers) {
  TempDir dir;
  auto copy = dir / "libinvalidator_sink_memory.so";
  fs::copy_file(kPlugins / "libinvalidator_sink_memory.so", copy);
  ::chmod(copy.c_str(), 0666);
  Registry registry;
  auto loaded = registry.load_file(copy);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("the file is writable by other users (mode 0666)"), std::string::npos)
      << loaded.message();
  EXPECT_NE(loaded.message().find("chmod o-w " + copy.string()), std::string::npos) << loaded.message();
  EXPECT_NE(registry.refusal(sdk::PluginKind::sink, "memory"), "") << "the refusal is found by the plugin's name";
}

TEST(Loader, RefusesADirectoryWritableByOthers) {
  TempDir dir;
  auto copy = dir / "libinvalidator_sink_memory.so";
  fs::copy_file(kPlugins / "libinvalidator_sink_memory.so", copy);
  ::chmod(copy.c_str(), 0755);
  ::chmod(dir.path().c_str(), 0777);
  Registry registry;
  auto loaded = registry.load_file(copy);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("its directory " + dir.path().string() + " is writable by other users"),
            std::string::npos)
      << loaded.message();
}

// A library owned by another user (neither root nor the one running) is refused: that user
// could change the code it runs.
TEST(Loader, RefusesAFileOwnedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file to another user needs root";
  TempDir dir;
  auto copy = dir / "libinvalidator_sink_memory.so";
  fs::copy_file(kPlugins / "libinvalidator_sink_memory.so", copy);
  ::chmod(copy.c_str(), 0755);
  ASSERT_EQ(::chown(copy.c_str(), 65534, 65534), 0) << std::strerror(errno);  // nobody
  Registry registry;
  auto loaded = registry.load_file(copy);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.message().find("the file is owned by uid 65534, neither root nor the user invalidator runs as"),
            std::string::npos)
      << loaded.message();
  EXPECT_NE(loaded.message().find("chown root " + copy.string()), std::string::npos) << loaded.message();
  ASSERT_EQ(::chown(copy.c_str(), 0, 0), 0);
  EXPECT_TRUE(Registry().load_file(copy)) << "the same file, owned by root, loads";
}

TEST(Loader, ScanningADirectoryRecordsEveryRefusalAndKeepsTheGoodPlugins) {
  TempDir dir;
  fs::copy_file(bad("no_descriptor"), dir / "libinvalidator_bad_no_descriptor.so");
  fs::copy_file(bad("abi_major"), dir / "libinvalidator_bad_abi_major.so");
  fs::copy_file(kPlugins / "libinvalidator_source_file.so", dir / "libinvalidator_source_file.so");
  Registry registry;
  EXPECT_EQ(registry.load_directory(dir.path()), 1u);
  EXPECT_NE(registry.find(sdk::PluginKind::source, "file"), nullptr);
  EXPECT_EQ(registry.refusals().size(), 2u) << refusal_text(registry);
}

TEST(Loader, TheSameFileReachedTwiceIsLoadedOnce) {
  std::size_t libraries = 0;
  for (const auto& entry : fs::directory_iterator(kPlugins)) libraries += entry.path().extension() == ".so" ? 1 : 0;
  ASSERT_GT(libraries, 0u);
  Registry registry;
  EXPECT_EQ(registry.load_directory(kPlugins), libraries);
  EXPECT_EQ(registry.load_directory(kPlugins), 0u);
  EXPECT_NE(registry.find(sdk::PluginKind::sink, "memory"), nullptr);
  EXPECT_TRUE(registry.refusals().empty()) << refusal_text(registry);
}

}  // namespace
}  // namespace invalidator::plugin_host
