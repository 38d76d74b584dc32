#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "invalidator/sdk/result.hpp"

namespace invalidator::plugins {

// The pieces of transactions PostgreSQL streams before they commit (pgoutput protocol 2, for
// a transaction larger than the server's logical_decoding_work_mem), kept on disk until the
// transaction's Stream Commit or Stream Abort: memory holds one write buffer per open
// transaction, whatever its size. The files are unlinked as soon as they are made, so that
// nothing is left behind by a crash: the server streams an unfinished transaction again to
// the next connection.
class StreamSpill {
 public:
  explicit StreamSpill(std::filesystem::path directory) : directory_(std::move(directory)) {}
  ~StreamSpill() { clear(); }
  StreamSpill(const StreamSpill&) = delete;
  StreamSpill& operator=(const StreamSpill&) = delete;

  // Keeps one message of transaction `xid`, made by its (sub)transaction `subtransaction`.
  sdk::Status append(std::uint32_t xid, std::uint32_t subtransaction, std::string_view message);
  // A subtransaction (or, when subtransaction == xid, the whole transaction) rolled back.
  void abort(std::uint32_t xid, std::uint32_t subtransaction);
  // Hands each kept message of `xid` to `each` in the order it came, leaving out those of
  // aborted subtransactions, then forgets the transaction. `each` may stop the replay with an
  // error, which is returned.
  sdk::Status replay(std::uint32_t xid, const std::function<sdk::Status(std::string_view message)>& each);
  // Forgets every transaction (a new connection: the server streams them again).
  void clear();

  std::size_t open_transactions() const { return transactions_.size(); }
  // Bytes on disk and in buffers, for every open transaction.
  std::uint64_t bytes() const;

 private:
  struct Transaction {
    int fd = -1;
    std::string buffer;  // not yet written
    std::uint64_t written = 0;
    std::set<std::uint32_t> aborted;
  };
  sdk::Status flush(Transaction& transaction);
  void close(Transaction& transaction);

  std::filesystem::path directory_;
  std::map<std::uint32_t, Transaction> transactions_;
};

}  // namespace invalidator::plugins
