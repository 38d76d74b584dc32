#include "stream_spill.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace invalidator::plugins {

namespace {

constexpr std::size_t kBufferBytes = 64 * 1024;
constexpr std::size_t kRecordHeader = 8;  // subtransaction, length: two big-endian 32-bit integers

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

std::uint32_t get_u32(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

sdk::Status errno_error(const std::string& what) { return sdk::Status::error(what + ": " + std::strerror(errno)); }

bool read_exactly(int fd, char* out, std::size_t count, std::uint64_t offset) {
  while (count > 0) {
    ssize_t got = ::pread(fd, out, count, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    count -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

}  // namespace

sdk::Status StreamSpill::append(std::uint32_t xid, std::uint32_t subtransaction, std::string_view message) {
  Transaction& transaction = transactions_[xid];
  put_u32(transaction.buffer, subtransaction);
  put_u32(transaction.buffer, static_cast<std::uint32_t>(message.size()));
  transaction.buffer.append(message);
  return transaction.buffer.size() >= kBufferBytes ? flush(transaction) : sdk::Status::success();
}

sdk::Status StreamSpill::flush(Transaction& transaction) {
  if (transaction.buffer.empty()) return sdk::Status::success();
  if (transaction.fd < 0) {
    std::error_code ignored;
    std::filesystem::create_directories(directory_, ignored);
    std::string pattern = (directory_ / "stream-XXXXXX").string();
    transaction.fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (transaction.fd < 0) return errno_error("cannot make a spill file in " + directory_.string());
    ::unlink(pattern.c_str());
  }
  std::string_view rest = transaction.buffer;
  while (!rest.empty()) {
    ssize_t written = ::pwrite(transaction.fd, rest.data(), rest.size(), static_cast<off_t>(transaction.written));
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno_error("cannot write a spill file in " + directory_.string());
    rest.remove_prefix(static_cast<std::size_t>(written));
    transaction.written += static_cast<std::uint64_t>(written);
  }
  transaction.buffer.clear();
  if (transaction.buffer.capacity() > 2 * kBufferBytes) transaction.buffer.shrink_to_fit();
  return sdk::Status::success();
}

void StreamSpill::abort(std::uint32_t xid, std::uint32_t subtransaction) {
  auto found = transactions_.find(xid);
  if (found == transactions_.end()) return;
  if (subtransaction == xid) {
    close(found->second);
    transactions_.erase(found);
    return;
  }
  found->second.aborted.insert(subtransaction);
}

sdk::Status StreamSpill::replay(std::uint32_t xid, const std::function<sdk::Status(std::string_view)>& each) {
  auto found = transactions_.find(xid);
  if (found == transactions_.end()) return sdk::Status::success();  // streamed nothing we keep
  Transaction& transaction = found->second;
  if (auto flushed = flush(transaction); !flushed) return flushed;
  sdk::Status outcome = sdk::Status::success();
  std::string message;
  std::uint64_t offset = 0;
  while (offset < transaction.written) {
    char header[kRecordHeader];
    if (!read_exactly(transaction.fd, header, sizeof header, offset)) {
      outcome = errno_error("cannot read back a spill file in " + directory_.string());
      break;
    }
    const std::uint32_t subtransaction = get_u32(header);
    const std::uint32_t length = get_u32(header + 4);
    offset += kRecordHeader;
    if (transaction.aborted.count(subtransaction) == 0) {
      message.resize(length);
      if (!read_exactly(transaction.fd, message.data(), length, offset)) {
        outcome = errno_error("cannot read back a spill file in " + directory_.string());
        break;
      }
      if (outcome = each(message); !outcome) break;
    }
    offset += length;
  }
  close(transaction);
  transactions_.erase(found);
  return outcome;
}

void StreamSpill::close(Transaction& transaction) {
  if (transaction.fd >= 0) ::close(transaction.fd);
  transaction.fd = -1;
}

void StreamSpill::clear() {
  for (auto& [xid, transaction] : transactions_) close(transaction);
  transactions_.clear();
}

std::uint64_t StreamSpill::bytes() const {
  std::uint64_t total = 0;
  for (const auto& [xid, transaction] : transactions_) total += transaction.written + transaction.buffer.size();
  return total;
}

}  // namespace invalidator::plugins
