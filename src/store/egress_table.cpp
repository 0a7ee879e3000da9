#include "store/egress_table.h"

namespace dnsleak::store {
namespace {
std::string key_of(const testname::TestId& id) { return std::string(id.begin(), id.end()); }
}  // namespace

void EgressTable::expire(int64_t now_ms) {
  while (!order_.empty() && (order_.front().first < now_ms - max_age_ms_ || entries_.size() > max_tests_)) {
    entries_.erase(order_.front().second);
    order_.pop_front();
  }
}

void EgressTable::record(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  const std::string key = key_of(id);
  auto [it, inserted] = entries_.try_emplace(key);
  if (inserted) {
    it->second.created_ms = now_ms;
    try {
      order_.emplace_back(now_ms, key);
    } catch (...) {
      entries_.erase(it);  // an entry not in the expiry order would escape the bound
      throw;
    }
  }
  for (EgressSighting& s : it->second.sightings) {
    if (s.address == address) {
      s.last_ms = now_ms;
      ++s.count;
      expire(now_ms);
      return;
    }
  }
  if (it->second.sightings.size() < ObservationStore::kMaxEgressPerTest) {
    it->second.sightings.push_back({address, now_ms, now_ms, 1});
  }
  expire(now_ms);
}

std::vector<EgressSighting> EgressTable::of(const testname::TestId& id, int64_t now_ms) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key_of(id));
  if (it == entries_.end() || it->second.created_ms < now_ms - max_age_ms_) return {};
  return it->second.sightings;
}

size_t EgressTable::tests() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace dnsleak::store
