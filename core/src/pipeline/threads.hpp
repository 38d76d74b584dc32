#pragma once

#include <string>

namespace invalidator::pipeline {

// Names the calling thread and, with `batch_scheduling` (engine.batch_scheduling), puts it
// under SCHED_BATCH.
void prepare_thread(const std::string& name, bool batch_scheduling);

}  // namespace invalidator::pipeline
