#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string_view>

#include "invalidator/sdk/event.hpp"
#include "invalidator/sdk/result.hpp"

namespace invalidator::sdk {

enum class EmitResult {
  accepted,  // the pipeline has it (and has moved it out of the argument)
  full,      // no room before the deadline: the argument is untouched, still the source's
  stopping,  // the pipeline is stopping: the source should return from run()
};

enum class LagUnit : std::uint8_t { messages, bytes };

// Hands messages to the pipeline. Flow control is the pipeline's: while it is full, an emit
// waits for room up to its deadline and then answers `full`, so that a source whose transport
// must keep being served (a Kafka consumer answers its group; a WebSocket answers pings) can
// pause its input, serve, and offer the same message again, without sleeping.
class Emitter {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  virtual ~Emitter() = default;
  // Bytes for the core's codec (Debezium JSON).
  virtual EmitResult try_emit(RawMessage& message, Deadline deadline) = 0;
  // An event the source decoded itself (e.g. PostgreSQL logical replication).
  virtual EmitResult try_emit(ChangeEvent& event, Deadline deadline) = 0;
  // A position that carries no event: a PostgreSQL commit's end, an idle slot's keepalive, a
  // heartbeat. It is acknowledged (cumulative) or completed (individual) like a message with
  // no invalidation, once everything before it on its stream is, so that the source's
  // committed position moves past messages that invalidated nothing.
  virtual EmitResult try_emit_position(const Position& position, Deadline deadline) = 0;

  // For the metrics, /readyz and the status page (SDK ABI 2.1); a source that never reports
  // is shown connected while it runs, with no lag. Cheap: call them whenever the transport
  // tells, from any thread of the source.
  //
  // How far the source's acknowledged position is behind the end of its input: a Kafka
  // partition's high watermark minus its next offset to commit, in messages; the PostgreSQL
  // server's WAL end minus the slot's confirmed position, in bytes. `stream` names the part
  // of the input ("orders/3" for a partition, empty for a source with one stream); the last
  // report of a stream stands until the next one.
  virtual void report_lag(std::string_view stream, std::uint64_t lag, LagUnit unit) {
    (void)stream;
    (void)lag;
    (void)unit;
  }
  // Whether the source reaches its input: false with a reason while its transport is
  // reconnecting inside run() (librdkafka with every broker down). A run() that returns a
  // transient error needs no report: the engine shows the source reconnecting until run()
  // is called again.
  virtual void report_connection(bool connected, std::string_view reason) {
    (void)connected;
    (void)reason;
  }

  // Without a deadline, for a source with nothing else to serve: waits as long as the
  // pipeline is full. False once the pipeline is stopping.
  bool emit(RawMessage message) { return try_emit(message, Deadline::max()) == EmitResult::accepted; }
  bool emit(ChangeEvent event) { return try_emit(event, Deadline::max()) == EmitResult::accepted; }
  bool emit_position(const Position& position) {
    return try_emit_position(position, Deadline::max()) == EmitResult::accepted;
  }
};

// How the engine reports what it finished.
enum class Completion {
  // acknowledge(P): everything up to and including P on P's stream is done. Kafka offsets,
  // file lines, PostgreSQL LSNs.
  cumulative,
  // complete(P) for each message (or position) once its own invalidations are done, in any
  // order; reject(P) for one that was not kept. Pulsar's acknowledgements per message id.
  individual,
};

class Source {
 public:
  virtual ~Source() = default;

  // Reads until `stop` is requested, or until the input ends for a bounded source (a file),
  // then returns. An error return stops the engine, unless it is transient
  // (Status::transient: a lost connection, a server restarting): then the engine calls run()
  // again after a backoff, on the same object, and the source resumes from its transport's
  // committed position.
  virtual Status run(Emitter& emitter, std::stop_token stop) = 0;

  virtual Completion completion() const { return Completion::cumulative; }

  // Cumulative: everything up to and including `position` on its stream was delivered or
  // dead-lettered, and the source may commit it. Called in order per stream, never under a
  // lock of the engine (a source may write and fsync here: it delays that stream alone), from
  // a pipeline thread, possibly while run() is active and after it returned.
  virtual void acknowledge(const Position& position) { (void)position; }

  // Individual: the invalidations of the message at `position` were all delivered or
  // dead-lettered. Any order, any pipeline thread, never under a lock of the engine.
  virtual void complete(const Position& position) { (void)position; }
  // Individual: the message at `position` was not kept (it failed before routing and there is
  // no dead-letter file to keep it): hand it back to the transport to be delivered again
  // (a negative acknowledgement).
  virtual void reject(const Position& position, std::string_view reason) {
    (void)position;
    (void)reason;
  }
};

}  // namespace invalidator::sdk
