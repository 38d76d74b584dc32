#include "pipeline/coalescer.hpp"

#include <algorithm>
#include <string>

namespace invalidator::pipeline {

namespace {
bool same_effect(const sdk::Invalidation& a, const sdk::Invalidation& b) {
  return a.action == b.action && a.key == b.key && a.value == b.value && a.ttl == b.ttl;
}
}  // namespace

std::size_t Coalescer::coalesce(std::vector<sdk::Invalidation>& invalidations) {
  const std::size_t n = invalidations.size();
  owner_.assign(n, 0);  // first counted from the end, turned around below
  latest_.clear();
  nearest_later_.reset(n);
  auto key_of = [&](std::uint32_t index) -> const std::string& { return invalidations[index].key; };
  for (std::size_t i = n; i-- > 0;) {
    bool inserted = false;
    std::uint32_t& later =
        nearest_later_.find_or_insert(invalidations[i].key, static_cast<std::uint32_t>(i), inserted, key_of);
    if (!inserted && same_effect(invalidations[later], invalidations[i])) {
      owner_[i] = owner_[later];
    } else {
      owner_[i] = latest_.size();
      latest_.push_back(i);
    }
    later = static_cast<std::uint32_t>(i);
  }
  const std::size_t kept = latest_.size();
  for (std::size_t i = 0; i < n; ++i) owner_[i] = kept - 1 - owner_[i];
  if (kept == n) return 0;  // each item stands for itself, where it is
  std::reverse(latest_.begin(), latest_.end());
  versions_.assign(kept, 0);
  for (std::size_t i = 0; i < n; ++i) versions_[owner_[i]] = std::max(versions_[owner_[i]], invalidations[i].version);
  // Compacted in place, front to back: a kept invalidation moves to a place no later than its
  // own, and that place is no longer needed by one still to move (theirs are all later).
  for (std::size_t u = 0; u < kept; ++u) {
    if (latest_[u] != u) invalidations[u] = std::move(invalidations[latest_[u]]);
    invalidations[u].version = versions_[u];
  }
  invalidations.erase(invalidations.begin() + static_cast<std::ptrdiff_t>(kept), invalidations.end());
  return n - kept;
}

}  // namespace invalidator::pipeline
