// The client egress addresses that HTTP probes saw, per test: the tunnel exit(s), as the web
// server sees them. Bounded in tests and in addresses per test; expires with the observations.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/observation.h"
#include "testname/test_token.h"

namespace dnsleak::http {

struct EgressSighting {
  store::IpAddress address;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  uint32_t count = 0;
};

class EgressStore {
 public:
  EgressStore(size_t max_tests, int64_t max_age_ms) : max_tests_(max_tests), max_age_ms_(max_age_ms) {}

  void record(const testname::TestId& id, const store::IpAddress& address, int64_t now_ms);
  [[nodiscard]] std::vector<EgressSighting> of(const testname::TestId& id, int64_t now_ms) const;
  [[nodiscard]] size_t tests() const;

  static constexpr size_t kMaxAddressesPerTest = 8;  // a client has a few exits, not hundreds

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

}  // namespace dnsleak::http
