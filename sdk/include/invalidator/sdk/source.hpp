#pragma once

#include <stop_token>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::sdk {

// Hands messages to the pipeline. Both calls block while the pipeline is full (backpressure)
// and return false once the pipeline is stopping, after which the source should return.
class Emitter {
 public:
  virtual ~Emitter() = default;
  // Bytes for the core's codec (Debezium JSON).
  virtual bool emit(RawMessage message) = 0;
  // An event the source decoded itself (e.g. PostgreSQL logical replication).
  virtual bool emit(ChangeEvent event) = 0;
  // True while emit() would block. A source that must keep serving its transport while the
  // pipeline is full (a Kafka consumer answers its group's protocol) pauses its input instead
  // of blocking, and emits again once this is false.
  virtual bool full() const { return false; }
};

class Source {
 public:
  virtual ~Source() = default;

  // Reads until `stop` is requested, or until the input ends for a bounded source (a file),
  // then returns. An error return is a fatal failure of the source.
  virtual Status run(Emitter& emitter, std::stop_token stop) = 0;

  // Everything up to and including `position` on its stream was delivered or dead-lettered:
  // the source may commit it. Called in order per stream, from a pipeline thread, possibly
  // while run() is active and after it returned.
  virtual void acknowledge(const Position& position) = 0;
};

}  // namespace invalidator::sdk
