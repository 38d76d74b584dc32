#pragma once

#include <atomic>
#include <cstdint>

namespace invalidator::pipeline {

// Counters of one pipeline; relaxed atomics, read at any time. Those the decode threads
// count and those the lanes count sit on separate cache lines: on one line, every count by a
// decode thread took the line from the lane's core and back.
struct Counters {
  alignas(64) std::atomic<std::uint64_t> messages{0};  // taken from sources
  std::atomic<std::uint64_t> events{0};                // decoded row changes
  std::atomic<std::uint64_t> skipped{0};               // tombstones, heartbeats, markers
  std::atomic<std::uint64_t> malformed{0};             // undecodable messages
  std::atomic<std::uint64_t> invalidations{0};         // produced by routes
  alignas(64) std::atomic<std::uint64_t> coalesced{0};  // duplicates dropped inside a batch
  std::atomic<std::uint64_t> delivered{0};              // applied by sinks
  std::atomic<std::uint64_t> retries{0};                // batches a sink asked to retry
  std::atomic<std::uint64_t> dead_lettered{0};          // invalidations given up on
  std::atomic<std::uint64_t> dead_letter_failures{0};   // writes of the dead-letter file that failed
  std::atomic<std::uint64_t> redeliveries{0};           // delayed second deletes
  alignas(64) std::atomic<std::uint64_t> source_restarts{0};  // runs started again after a transient failure
};

}  // namespace invalidator::pipeline
