#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace invalidator::plugins {

// The version fence, run atomically inside Redis. Beside each cache key, a fence key
// (`<key><fence_suffix>`) holds the newest version the sink applied to it, written as 20
// decimal digits so that Lua compares versions as strings without losing precision
// (Lua numbers are doubles; LSNs are 64-bit).
//
//   EVALSHA <sha> 2 <key> <fence key> set    <version> <value> <ttl ms, 0: none> <fence ttl ms>
//       writes the value unless the fence already holds this version or a newer one.
//   EVALSHA <sha> 2 <key> <fence key> delete <version> <fence ttl ms>
//       deletes the value and leaves the fence (a tombstone) at the newest version seen.
//   EVALSHA <sha> 2 <key> <fence key> fill   <fence seen, "" if none> <value> <ttl ms, 0: none>
//       a reader's write-back after a cache miss: writes only if the fence is still what the
//       reader saw before reading the database, i.e. no invalidation came in between.
//
// Replies 1 when it wrote, 0 when it refused.
inline constexpr std::string_view kFenceScript = R"lua(
local fence = redis.call('GET', KEYS[2])
local operation = ARGV[1]
if operation == 'set' then
  if fence and fence >= ARGV[2] then return 0 end
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[3])
  end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
  return 1
elseif operation == 'delete' then
  redis.call('DEL', KEYS[1])
  if (not fence) or fence < ARGV[2] then fence = ARGV[2] end
  redis.call('SET', KEYS[2], fence, 'PX', ARGV[3])
  return 1
elseif operation == 'fill' then
  if (fence or '') ~= ARGV[2] then return 0 end
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[3])
  end
  return 1
end
return redis.error_reply('ERR unknown fence operation ' .. tostring(operation))
)lua";

// A version as the fence stores it: fixed width, so string order is numeric order.
inline std::string fence_version(std::uint64_t version) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(version));
  return digits;
}

}  // namespace invalidator::plugins
