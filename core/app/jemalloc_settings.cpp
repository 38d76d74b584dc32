// jemalloc reads this at start-up; MALLOC_CONF in the environment still overrides it.
//
// With jemalloc's defaults (dirty pages kept 10 s, then returned at once with
// MADV_DONTNEED) the pipeline's message buffers, freed by the decode thread in bursts,
// were handed back to the kernel and faulted in again by the source thread: 50 000 page
// faults in a 2-second run of pipeline_bench. Passing freed pages through the "muzzy"
// state (MADV_FREE: the kernel takes them only under memory pressure, and reusing them
// costs no fault) halves the faults, lowers the peak RSS and raises the throughput by a
// third (docs/performance.md).
extern "C" {
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:1000";
}
