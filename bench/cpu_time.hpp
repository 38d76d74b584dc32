#pragma once

// CPU seconds (user and system) of a process: on a shared machine steadier than wall time,
// and what a run costs whatever else the cores were doing.

#include <sys/resource.h>

namespace invalidator::bench {

inline double cpu_seconds(const rusage& usage) {
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// This process so far, every thread of it.
inline double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return cpu_seconds(usage);
}

}  // namespace invalidator::bench
