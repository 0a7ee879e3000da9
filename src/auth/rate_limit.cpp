#include "auth/rate_limit.h"

#include <cstring>

namespace dnsleak::auth {

const char* to_string(RateClass c) noexcept {
  switch (c) {
    case RateClass::test: return "test";
    case RateClass::answer: return "answer";
    case RateClass::nxdomain: return "nxdomain";
    case RateClass::error: return "error";
    case RateClass::count_: break;
  }
  return "unknown";
}

const char* to_string(RateMode m) noexcept {
  switch (m) {
    case RateMode::off: return "off";
    case RateMode::on: return "on";
    case RateMode::log_only: return "log-only";
  }
  return "unknown";
}

uint32_t RateLimitOptions::rate(RateClass c) const noexcept {
  switch (c) {
    case RateClass::test: return test_rate;
    case RateClass::answer: return answer_rate;
    case RateClass::nxdomain: return nxdomain_rate;
    case RateClass::error: return error_rate;
    case RateClass::count_: break;
  }
  return 0;
}

uint64_t RateLimiter::next_id() noexcept {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

RateLimiter::RateLimiter(RateLimitOptions options, const testname::SipKey& seed)
    : options_(std::move(options)), seed_(seed), buckets_(options_.table_size), id_(next_id()) {
  if (options_.burst_seconds == 0) options_.burst_seconds = 1;
}

bool RateLimiter::allowed(const net::IpAddress& source) const noexcept {
  for (const net::Prefix& p : options_.allow) {
    if (p.contains(source)) return true;
  }
  return false;
}

net::Prefix RateLimiter::prefix_of(const net::IpAddress& source) const noexcept {
  const uint8_t length = source.family == 6 ? options_.ipv6_prefix : options_.ipv4_prefix;
  return {net::prefix_of(source, length), length};
}

RateVerdict RateLimiter::account(const net::IpAddress& source, RateClass c, uint64_t key, int64_t now_ms,
                                 uint32_t weight) noexcept {
  RateVerdict verdict;
  const uint32_t rate = options_.rate(c);
  if (options_.mode == RateMode::off || rate == 0) return verdict;
  const net::Prefix prefix = prefix_of(source);
  if (c == RateClass::test && key != 0) {
    RateVerdict whole;
    if (take(prefix, source.family, c, 0, now_ms, rate, weight, whole)) return verdict;
  }
  if (take(prefix, source.family, c, key, now_ms, rate, weight, verdict)) return verdict;
  verdict.limited = true;
  if (options_.mode == RateMode::on) {
    verdict.decision = verdict.decision == RateDecision::slip ? RateDecision::slip : RateDecision::drop;
  } else {
    verdict.decision = RateDecision::send;
  }
  return verdict;
}

bool RateLimiter::take(const net::Prefix& prefix, uint8_t family, RateClass c, uint64_t key, int64_t now_ms,
                       uint32_t rate, uint32_t weight, RateVerdict& verdict) noexcept {
  // The bucket's key: class, family, the source's prefix and the class's own key.
  uint8_t input[1 + 1 + 16 + 8];
  static_assert(sizeof input == 26);
  input[0] = static_cast<uint8_t>(c);
  input[1] = family;
  std::memcpy(input + 2, prefix.address.bytes.data(), 16);
  std::memcpy(input + 18, &key, 8);
  // Answers come in runs from one resolver: the key hashed last by this thread is kept.
  struct LastKey {
    uint64_t limiter = 0;  // the limiter's id: an address may be reused by another limiter
    uint8_t bytes[26] = {};
    uint64_t hash = 0;
  };
  thread_local LastKey last;
  uint64_t hash;
  if (last.limiter == id_ && std::memcmp(last.bytes, input, sizeof input) == 0) {
    hash = last.hash;
  } else {
    hash = testname::siphash24(seed_, input);
    last.limiter = id_;
    std::memcpy(last.bytes, input, sizeof input);
    last.hash = hash;
  }
  const net::TokenBuckets::Taken taken = buckets_.take(hash, now_ms, rate, options_.burst_seconds, weight);
  if (taken.room) return true;
  verdict.started = taken.started;
  const bool slip = options_.slip != 0 && taken.refused % options_.slip == 0;
  verdict.decision = slip ? RateDecision::slip : RateDecision::drop;
  return false;
}

}  // namespace dnsleak::auth
