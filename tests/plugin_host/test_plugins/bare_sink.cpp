// The smallest sink a plugin author could write: it accepts every batch. Built with
// -fno-gnu-unique so that nothing in it makes the dynamic loader pin it on its own (glibc never
// unloads a library with STB_GNU_UNIQUE symbols, as any with an inline static has): only the
// plugin host keeps it mapped, and the loader tests can see whether it does.
#include <memory>

#include "invalidator/sdk/plugin.hpp"

namespace bare_sink {

struct Options {};

class BareSink final : public invalidator::sdk::Sink {
 public:
  invalidator::sdk::DeliveryResult deliver(std::span<const invalidator::sdk::Invalidation>,
                                           const invalidator::sdk::DeliveryContext&) override {
    return invalidator::sdk::DeliveryResult::ok();
  }
};

invalidator::sdk::OptionsSpec<Options> options() {
  return invalidator::sdk::OptionsSpec<Options>("Accepts every batch.");
}

invalidator::sdk::Result<std::unique_ptr<invalidator::sdk::Sink>> create(Options,
                                                                         const invalidator::sdk::PluginContext&) {
  return std::unique_ptr<invalidator::sdk::Sink>(std::make_unique<BareSink>());
}

}  // namespace bare_sink

INVALIDATOR_SINK_PLUGIN(bare, "1.0.0", bare_sink::options, bare_sink::create)
