#pragma once

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace invalidator::sdk {

// Keeps a write to a socket the peer closed from killing the process with SIGPIPE, for sinks
// whose client library writes with plain write()/send(). The signal is blocked on the calling
// thread only, while the guard lives, and one it raised is discarded, so the host's own
// SIGPIPE handling is left as it was.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_only_);
    sigaddset(&pipe_only_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_only_, &previous_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    if (!was_pending_ && sigismember(&previous_, SIGPIPE) != 1) {
      timespec no_wait{};
      while (sigtimedwait(&pipe_only_, nullptr, &no_wait) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_only_{};
  sigset_t previous_{};
  bool was_pending_ = false;
  bool blocked_ = false;
};

}  // namespace invalidator::sdk
