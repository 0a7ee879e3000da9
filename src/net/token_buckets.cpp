#include "net/token_buckets.h"

#include <algorithm>
#include <bit>

namespace dnsleak::net {

TokenBuckets::TokenBuckets(uint32_t size) {
  const uint32_t sets = std::bit_ceil(std::max<uint32_t>(size, kWays)) / kWays;
  set_mask_ = sets - 1;
  sets_ = std::make_unique<Set[]>(sets);
}

TokenBuckets::Taken TokenBuckets::take(uint64_t hash, int64_t now_ms, uint32_t rate, uint32_t burst_seconds,
                                       uint32_t weight) noexcept {
  Taken taken;
  if (rate == 0) return taken;
  if (hash == 0) hash = 1;
  Set& set = sets_[hash & set_mask_];
  const int64_t capacity = int64_t{rate} * 1000 * std::max<uint32_t>(burst_seconds, 1);
  const int64_t cost = int64_t{weight} * 1000;
  while (set.lock.exchange(true, std::memory_order_acquire)) {
    while (set.lock.load(std::memory_order_relaxed)) {
    }
  }
  Bucket* bucket = nullptr;
  Bucket* oldest = &set.ways[0];
  for (Bucket& b : set.ways) {
    if (b.key == hash) {
      bucket = &b;
      break;
    }
    if (b.key == 0 || (oldest->key != 0 && b.last_ms < oldest->last_ms)) oldest = &b;
  }
  if (bucket == nullptr) {
    if (oldest->key != 0) evictions_.fetch_add(1, std::memory_order_relaxed);
    bucket = oldest;
    *bucket = Bucket{hash, now_ms, capacity, 0, 0};
  }
  // Refill: `rate` a second is `rate` thousandths a millisecond.
  const int64_t elapsed = now_ms - bucket->last_ms;
  if (elapsed > 0) {
    bucket->tokens = std::min(capacity, bucket->tokens + elapsed * rate);
    bucket->last_ms = now_ms;
  }
  if (bucket->tokens >= cost) {
    bucket->tokens -= cost;
    bucket->refused = 0;
  } else {
    taken.room = false;
    taken.started = bucket->refused == 0;
    taken.refused = ++bucket->refused;
    taken.retry_ms = (cost - bucket->tokens + rate - 1) / rate;
  }
  set.lock.store(false, std::memory_order_release);
  return taken;
}

}  // namespace dnsleak::net
