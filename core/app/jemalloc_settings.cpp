// jemalloc reads this at start-up; MALLOC_CONF in the environment still overrides it.
//
// Decay: with jemalloc's defaults (dirty pages kept 10 s, then returned at once with
// MADV_DONTNEED) the pipeline's message buffers, freed by the decode thread in bursts,
// were handed back to the kernel and faulted in again by the source thread: 50 000 page
// faults in a 2-second run of pipeline_bench. Passing freed pages through the "muzzy"
// state (MADV_FREE: the kernel takes them only under memory pressure, and reusing them
// costs no fault) halves the faults, lowers the peak RSS and raises the throughput by a
// third (docs/performance.md).
//
// oversize_threshold:0: by default jemalloc returns a freed buffer of 8 MiB or more to the
// kernel at once. librdkafka's fetch responses reach that size when a consumer catches up
// on many partitions, so each one was faulted in, zeroed and copied into cold memory again:
// librdkafka's threads in the Kafka source cost twice what they do in a plain consumer.
// Without the threshold, large buffers are reused like the others (docs/performance.md has
// the Kafka runs with and without it).
#include <jemalloc/jemalloc.h>

#include <cstddef>
#include <cstdint>

extern "C" {
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:1000,oversize_threshold:0";
}

namespace {

// jemalloc 5.3 creates arena 0, the main thread's and the one threads share once there are
// more threads than arenas, before it reads oversize_threshold: that arena keeps the 8 MiB
// default whatever the option says. Its own setting is raised here, before main(). A
// jemalloc without this setting leaves it as it was, which only costs speed.
struct LargeBuffersKeptInArenaZero {
  LargeBuffersKeptInArenaZero() {
    std::size_t never = SIZE_MAX;
    mallctl("arena.0.oversize_threshold", nullptr, nullptr, &never, sizeof never);
  }
};
const LargeBuffersKeptInArenaZero large_buffers_kept_in_arena_zero;

}  // namespace
