#include "pipeline/threads.hpp"

#include <pthread.h>
#include <sched.h>

#include <spdlog/spdlog.h>

namespace invalidator::pipeline {

void prepare_thread(const std::string& name, bool batch_scheduling) {
  // Named after their role, threads show up in top -H, perf and debuggers.
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());  // the kernel keeps 15 characters
  if (!batch_scheduling) return;
  // Under the normal policy every wake-up of a thread that shares the core (a full queue
  // getting room, a batch getting full) preempts the running thread, a switch that costs a
  // few microseconds on a virtual machine (docs/performance.md counts them). SCHED_BATCH lets
  // the running thread go on until its time slice ends or it waits.
  sched_param param{};
  if (int error = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param); error != 0) {
    spdlog::debug("thread {}: SCHED_BATCH refused ({}), keeping the normal policy", name, error);
  }
}

}  // namespace invalidator::pipeline
