#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "invalidator/sdk/config_spec.hpp"
#include "invalidator/sdk/context.hpp"
#include "invalidator/sdk/options.hpp"
#include "invalidator/sdk/result.hpp"
#include "invalidator/sdk/sink.hpp"
#include "invalidator/sdk/source.hpp"

// The SDK's binary interface. A plugin built against another major version, or a newer minor
// version, than the host is refused. Bump the minor for additions a host may ignore, the
// major for any change of layout or meaning. Only the loader's tests define them beforehand,
// to build a plugin for another SDK and see it refused.
#ifndef INVALIDATOR_SDK_ABI_MAJOR
#define INVALIDATOR_SDK_ABI_MAJOR 2
#endif
#ifndef INVALIDATOR_SDK_ABI_MINOR
#define INVALIDATOR_SDK_ABI_MINOR 1
#endif

#define INVALIDATOR_SDK_STRINGIFY_(x) #x
#define INVALIDATOR_SDK_STRINGIFY(x) INVALIDATOR_SDK_STRINGIFY_(x)

// C++ objects (std::string, std::unique_ptr, vtables) cross the plugin boundary, so host and
// plugin must agree on compiler family and standard library ABI.
#if defined(__clang__)
#define INVALIDATOR_SDK_COMPILER "clang-" INVALIDATOR_SDK_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define INVALIDATOR_SDK_COMPILER "gcc-" INVALIDATOR_SDK_STRINGIFY(__GNUC__)
#elif defined(_MSC_VER)
#define INVALIDATOR_SDK_COMPILER "msvc-" INVALIDATOR_SDK_STRINGIFY(_MSC_VER)
#else
#define INVALIDATOR_SDK_COMPILER "unknown-compiler"
#endif

#if defined(_GLIBCXX_RELEASE)
#if _GLIBCXX_USE_CXX11_ABI
#define INVALIDATOR_SDK_STDLIB "libstdc++-" INVALIDATOR_SDK_STRINGIFY(_GLIBCXX_RELEASE) "-cxx11abi"
#else
#define INVALIDATOR_SDK_STDLIB "libstdc++-" INVALIDATOR_SDK_STRINGIFY(_GLIBCXX_RELEASE) "-oldabi"
#endif
#elif defined(_LIBCPP_VERSION)
#define INVALIDATOR_SDK_STDLIB "libc++-" INVALIDATOR_SDK_STRINGIFY(_LIBCPP_ABI_VERSION)
#elif defined(_MSC_VER)
#define INVALIDATOR_SDK_STDLIB "msvc-stl"
#else
#define INVALIDATOR_SDK_STDLIB "unknown-stdlib"
#endif

#define INVALIDATOR_SDK_TOOLCHAIN INVALIDATOR_SDK_COMPILER "/" INVALIDATOR_SDK_STDLIB

namespace invalidator::sdk {

inline constexpr std::uint32_t kAbiMajor = INVALIDATOR_SDK_ABI_MAJOR;
inline constexpr std::uint32_t kAbiMinor = INVALIDATOR_SDK_ABI_MINOR;
inline constexpr const char* kToolchain = INVALIDATOR_SDK_TOOLCHAIN;

enum class PluginKind : std::uint32_t { source = 1, sink = 2 };

constexpr const char* to_string(PluginKind kind) {
  return kind == PluginKind::source ? "source" : "sink";
}

using SourceFactory = Result<std::unique_ptr<Source>> (*)(const Config&, const PluginContext&);
using SinkFactory = Result<std::unique_ptr<Sink>> (*)(const Config&, const PluginContext&);

// What a plugin library exports under the alias `invalidator_plugin`.
struct PluginDescriptor {
  // Stable prefix: the host reads these four fields before trusting anything else, in every
  // ABI version. Never reorder or retype them.
  std::uint32_t abi_major;
  std::uint32_t abi_minor;
  const char* toolchain;
  const char* name;  // the `type` in configuration: "redis", "kafka"
  // The rest belongs to abi_major.
  PluginKind kind;
  const char* version;
  ConfigSpec (*spec)();
  SourceFactory create_source;  // set for sources
  SinkFactory create_sink;      // set for sinks
};

namespace detail {
// What the export macros generate around a plugin's options declaration and factory: the
// declaration is built once, the host validates against its description, and the factory
// receives the struct filled from the validated table. No exception unwinds into the host.
template <typename Product, auto OptionsFunction, auto Factory>
struct PluginGlue {
  using Spec = decltype(OptionsFunction());

  static const Spec& options() {
    static const Spec spec = OptionsFunction();
    return spec;
  }
  static ConfigSpec describe() { return options().describe(); }
  static Result<std::unique_ptr<Product>> create(const Config& config, const PluginContext& context) noexcept {
    try {
      auto filled = options().fill(config);
      if (!filled) return Status::error(filled.error());
      return Factory(std::move(filled).value(), context);
    } catch (const std::exception& error) {
      return Status::error(error.what());
    } catch (...) {
      return Status::error("unknown exception while creating the plugin instance");
    }
  }
};
}  // namespace detail

}  // namespace invalidator::sdk

#define INVALIDATOR_PLUGIN_ALIAS invalidator_plugin
#define INVALIDATOR_PLUGIN_ALIAS_NAME INVALIDATOR_SDK_STRINGIFY(INVALIDATOR_PLUGIN_ALIAS)

// A plugin built as a shared library exports its descriptor under a fixed Boost.DLL alias.
// The same source compiled with INVALIDATOR_PLUGIN_STATIC instead defines
// `invalidator_static_plugin_<name>()`, which a binary registers in-process.
#if defined(INVALIDATOR_PLUGIN_STATIC)
#define INVALIDATOR_DETAIL_EXPORT(Name, Descriptor)                                   \
  const ::invalidator::sdk::PluginDescriptor& invalidator_static_plugin_##Name() {    \
    return Descriptor;                                                                \
  }
#else
#include <boost/dll/alias.hpp>
#define INVALIDATOR_DETAIL_EXPORT(Name, Descriptor) \
  BOOST_DLL_ALIAS(Descriptor, INVALIDATOR_PLUGIN_ALIAS)
#endif

// Declares a static plugin's registration function for the binary that links it.
#define INVALIDATOR_DECLARE_STATIC_PLUGIN(Name) \
  const ::invalidator::sdk::PluginDescriptor& invalidator_static_plugin_##Name()

// INVALIDATOR_SINK_PLUGIN(memory, "1.0.0", options_function, factory_function)
//   options_function: sdk::OptionsSpec<Options>()  (options.hpp)
//   factory_function: Result<std::unique_ptr<Sink>>(Options, const PluginContext&)
#define INVALIDATOR_DETAIL_PLUGIN(Name, Version, Kind, Product, OptionsFunction, FactoryFunction, CreateSource, CreateSink) \
  namespace invalidator_plugin_##Name {                                                                     \
  using Glue = ::invalidator::sdk::detail::PluginGlue<::invalidator::sdk::Product, OptionsFunction,         \
                                                      FactoryFunction>;                                     \
  extern const ::invalidator::sdk::PluginDescriptor descriptor;                                             \
  const ::invalidator::sdk::PluginDescriptor descriptor{                                                    \
      INVALIDATOR_SDK_ABI_MAJOR, INVALIDATOR_SDK_ABI_MINOR, INVALIDATOR_SDK_TOOLCHAIN, #Name,               \
      ::invalidator::sdk::PluginKind::Kind, Version, &Glue::describe, CreateSource, CreateSink};                        \
  }                                                                                                         \
  INVALIDATOR_DETAIL_EXPORT(Name, invalidator_plugin_##Name::descriptor)

#define INVALIDATOR_SINK_PLUGIN(Name, Version, OptionsFunction, FactoryFunction)                    \
  INVALIDATOR_DETAIL_PLUGIN(Name, Version, sink, Sink, OptionsFunction, FactoryFunction, nullptr, \
                            &invalidator_plugin_##Name::Glue::create)

#define INVALIDATOR_SOURCE_PLUGIN(Name, Version, OptionsFunction, FactoryFunction)                        \
  INVALIDATOR_DETAIL_PLUGIN(Name, Version, source, Source, OptionsFunction, FactoryFunction,            \
                            &invalidator_plugin_##Name::Glue::create, nullptr)
