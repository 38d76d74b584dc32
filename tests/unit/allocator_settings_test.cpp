// The allocator settings the invalidator binary is linked with (core/app/jemalloc_settings.cpp),
// checked by what they do: a buffer freed and taken again must not be faulted in again.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Faults taken by allocating, writing to every byte of and freeing `size` bytes, after a
// buffer of the same size was written and freed once before.
long faults_of_a_reused_buffer(std::size_t size) {
  auto write_and_free = [size] {
    char* buffer = static_cast<char*>(std::malloc(size));
    if (buffer == nullptr) return false;
    std::memset(buffer, 1, size);
    // The compiler may drop a buffer that is only written, and the allocation with it: this
    // tells it the memory is read.
    asm volatile("" : : "r"(buffer) : "memory");
    std::free(buffer);
    return true;
  };
  if (!write_and_free()) return -1;
  long before = minor_faults();
  if (!write_and_free()) return -1;
  return minor_faults() - before;
}

constexpr long kPage = 4096;

// librdkafka's fetch responses reach 8 MiB and more when a consumer catches up on many
// partitions; jemalloc's default returns buffers that large to the kernel as soon as they are
// freed, so the next response was faulted in and zeroed page by page again.
TEST(AllocatorSettings, ABufferOfSixteenMiBIsReusedWithoutFaultingAgain) {
  constexpr std::size_t size = 16u << 20;
  long faults = faults_of_a_reused_buffer(size);
  ASSERT_GE(faults, 0) << "cannot allocate " << size << " bytes";
  EXPECT_LT(faults, static_cast<long>(size) / kPage / 10)
      << "the second 16 MiB buffer was faulted in again, page by page: large buffers go back to the kernel "
         "when freed (is oversize_threshold:0 still in core/app/jemalloc_settings.cpp?)";
}

// jemalloc gives the main thread arena 0, whose settings it makes before reading the options,
// and later threads arenas of their own: both must keep large buffers.
TEST(AllocatorSettings, ABufferOfSixteenMiBIsReusedOnAThreadOfItsOwn) {
  constexpr std::size_t size = 16u << 20;
  long faults = 0;
  std::thread([&] { faults = faults_of_a_reused_buffer(size); }).join();
  ASSERT_GE(faults, 0) << "cannot allocate " << size << " bytes";
  EXPECT_LT(faults, static_cast<long>(size) / kPage / 10)
      << "on a thread of its own, the second 16 MiB buffer was faulted in again, page by page";
}

TEST(AllocatorSettings, ABufferOfOneMiBIsReusedWithoutFaultingAgain) {
  constexpr std::size_t size = 1u << 20;
  long faults = faults_of_a_reused_buffer(size);
  ASSERT_GE(faults, 0) << "cannot allocate " << size << " bytes";
  EXPECT_LT(faults, static_cast<long>(size) / kPage / 10) << "a freed 1 MiB buffer went back to the kernel at once";
}

}  // namespace
