// A plugin whose descriptor says it was built against another SDK or toolchain, written by
// hand as an old or foreign build would have it. Built three times by CMake, with
// BAD_ABI_MAJOR, BAD_ABI_MINOR, BAD_TOOLCHAIN and BAD_NAME set differently.
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
const invalidator::sdk::PluginDescriptor descriptor{BAD_ABI_MAJOR, BAD_ABI_MINOR, BAD_TOOLCHAIN, BAD_NAME,
                                                    invalidator::sdk::PluginKind::sink, "9.9.9", spec, nullptr, create};
}  // namespace bad_plugin

BOOST_DLL_ALIAS(bad_plugin::descriptor, invalidator_plugin)
