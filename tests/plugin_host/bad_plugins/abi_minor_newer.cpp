// Built against a newer minor version of this SDK than the host has. The descriptor is written by hand, as an
// old or foreign build of a plugin would have it.
#include <boost/dll/alias.hpp>

#include "invalidator/sdk/plugin.hpp"

namespace {
invalidator::sdk::ConfigSpec spec() { return {}; }
invalidator::sdk::Result<std::unique_ptr<invalidator::sdk::Sink>> create(const invalidator::sdk::Config&,
                                                                         const invalidator::sdk::PluginContext&) {
  return invalidator::sdk::Status::error("never created");
}
}  // namespace

namespace bad_plugin {
extern const invalidator::sdk::PluginDescriptor descriptor;
const invalidator::sdk::PluginDescriptor descriptor{INVALIDATOR_SDK_ABI_MAJOR, INVALIDATOR_SDK_ABI_MINOR + 1, INVALIDATOR_SDK_TOOLCHAIN, "bad_abi_minor_newer",
                                                    invalidator::sdk::PluginKind::sink, "9.9.9", spec, nullptr, create};
}  // namespace bad_plugin

BOOST_DLL_ALIAS(bad_plugin::descriptor, invalidator_plugin)
