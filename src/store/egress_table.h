// The memory store's egress sightings: the client addresses HTTP probes came from, per test.
// Bounded in tests and in addresses per test; expires with the observations. Internal to store/.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "testname/test_token.h"

namespace dnsleak::store {

class EgressTable {
 public:
  EgressTable(size_t max_tests, int64_t max_age_ms) : max_tests_(max_tests), max_age_ms_(max_age_ms) {}

  void record(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms);
  [[nodiscard]] std::vector<EgressSighting> of(const testname::TestId& id, int64_t now_ms) const;
  [[nodiscard]] size_t tests() const;

 private:
  struct Entry {
    int64_t created_ms = 0;
    std::vector<EgressSighting> sightings;
  };
  void expire(int64_t now_ms);

  size_t max_tests_;
  int64_t max_age_ms_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<int64_t, std::string>> order_;  // creation time and key, oldest first
};

}  // namespace dnsleak::store
