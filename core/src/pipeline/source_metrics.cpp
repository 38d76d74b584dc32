#include "pipeline/source_metrics.hpp"

namespace invalidator::pipeline {

std::string_view to_string(SourceState state) {
  switch (state) {
    case SourceState::starting: return "starting";
    case SourceState::running: return "running";
    case SourceState::reconnecting: return "reconnecting";
    case SourceState::finished: return "finished";
    case SourceState::failed: return "failed";
  }
  return "unknown";
}

std::string SourceHealth::not_ready_reason() const {
  if (ready()) return {};
  switch (state) {
    case SourceState::starting: return "not started yet";
    case SourceState::running: return "disconnected: " + (reason.empty() ? std::string("(no reason given)") : reason);
    case SourceState::reconnecting: return "reconnecting after: " + reason;
    case SourceState::failed: return "failed: " + reason;
    case SourceState::finished: break;
  }
  return {};
}

}  // namespace invalidator::pipeline
