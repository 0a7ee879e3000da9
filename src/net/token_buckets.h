// A fixed table of token buckets keyed by a 64-bit hash: the accounting behind every rate limit
// (DNS answers per resolver prefix, observations per test, test creation per HTTP client).
//
// Each bucket holds `rate * burst_seconds` tokens and refills at `rate` a second. Buckets live in
// sets of four; a new key takes a free bucket of its set or the least recently used one (counted
// in evictions()), so the table never grows. Every thread may call take(): each set has a lock of
// its own, held for a few dozen instructions. The caller hashes its key (with a keyed hash where
// an attacker picks the keys, so that they cannot be aimed at one set).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace dnsleak::net {

class TokenBuckets {
 public:
  // `size` buckets, rounded up to a power of two (at least four); 32 octets each.
  explicit TokenBuckets(uint32_t size);

  struct Taken {
    bool room = true;      // the bucket had `weight` tokens, and gave them
    bool started = false;  // without room: the first refusal since it last had room
    uint32_t refused = 0;  // without room: refusals in a row, this one included
    int64_t retry_ms = 0;  // without room: when `weight` tokens will be there again
  };
  [[nodiscard]] Taken take(uint64_t hash, int64_t now_ms, uint32_t rate, uint32_t burst_seconds,
                           uint32_t weight = 1) noexcept;

  [[nodiscard]] uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }
  [[nodiscard]] size_t size() const noexcept { return size_t{set_mask_ + 1} * kWays; }

 private:
  static constexpr size_t kWays = 4;
  struct Bucket {
    uint64_t key = 0;      // 0: free
    int64_t last_ms = 0;   // when tokens were last brought up to date
    int64_t tokens = 0;    // in thousandths
    uint32_t refused = 0;  // refusals since the bucket last had room
    uint32_t unused = 0;
  };
  struct alignas(64) Set {
    std::atomic<bool> lock{false};
    Bucket ways[kWays];
  };

  uint32_t set_mask_ = 0;
  std::unique_ptr<Set[]> sets_;
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace dnsleak::net
