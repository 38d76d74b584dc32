#pragma once

#include <vector>

#include "engine_setup.hpp"
#include "invalidator/configuration.hpp"

namespace invalidator {

struct Configuration::State {
  LoadedConfiguration loaded;
  std::vector<Diagnostic> diagnostics;  // the loaded ones, sorted, in the public form
  std::vector<PluginRefusal> refusals;
};

std::vector<Diagnostic> public_diagnostics(const config::Diagnostics& diagnostics);

}  // namespace invalidator
