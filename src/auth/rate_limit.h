// Response rate limiting (RRL) shaped for a leak-test zone.
//
// The classic designs (BIND's rate-limit, NSD's rrl-*, Knot's mod-rrl) put every wildcard or
// synthesised answer to one resolver prefix in one bucket for the zone. Here all legitimate
// traffic is unique names, and one big public resolver's egress prefix carries the tests of
// thousands of users at once: a bucket per (prefix, zone) would throttle exactly the real use.
// So answers to a valid test token are accounted per (prefix, test id) — many users behind one
// resolver never share a bucket, while one token cannot be turned into a flood — and only what
// no legitimate test produces in bulk (forged or expired tokens, NXDOMAIN, errors) shares a bucket
// per (prefix, zone). Other answers (the apex, whoami, the name servers) are few names; they are
// accounted per (prefix, name).
//
// Each bucket is a token bucket: `rate` answers a second, `burst_seconds` of them in reserve.
// Past it, every `slip`-th answer goes out as an empty TC=1 answer (no larger than the query,
// so a spoofed victim gets at most what was sent in its name), telling a real resolver to ask
// again over TCP, which cannot be spoofed; the others are dropped. TCP answers are never limited,
// nor answers to queries carrying a valid server cookie (a spoofed source cannot have one), nor
// allow-listed prefixes.
//
// The buckets are a net::TokenBuckets table: fixed in size, the least recently used giving way,
// safe to use from every thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/ip_address.h"
#include "net/token_buckets.h"
#include "testname/siphash.h"

namespace dnsleak::auth {

enum class RateClass : uint8_t {
  test,      // an answer (or referral, NODATA, TC) for a valid test token: per (prefix, test id)
  answer,    // other names of the zone: per (prefix, name and type)
  nxdomain,  // NXDOMAIN, forged and expired tokens, referrals for names not checked: per prefix
  error,     // REFUSED, FORMERR, NOTIMP, BADVERS: per prefix
  count_,
};
inline constexpr size_t kRateClassCount = static_cast<size_t>(RateClass::count_);
[[nodiscard]] const char* to_string(RateClass) noexcept;

enum class RateMode : uint8_t { off, on, log_only };
[[nodiscard]] const char* to_string(RateMode) noexcept;

struct RateLimitOptions {
  RateMode mode = RateMode::on;
  // Answers a second per bucket, by class (0: that class is not limited).
  uint32_t test_rate = 50;
  uint32_t answer_rate = 100;
  uint32_t nxdomain_rate = 20;
  uint32_t error_rate = 10;
  uint32_t burst_seconds = 2;  // a bucket holds this many seconds of answers
  uint32_t slip = 2;           // every slip-th limited answer is sent truncated; 0: none, 1: all
  uint8_t ipv4_prefix = 24;
  uint8_t ipv6_prefix = 56;
  uint32_t table_size = 1u << 18;  // buckets (rounded up to a power of two; 32 octets each)
  std::vector<net::Prefix> allow;  // never limited

  [[nodiscard]] uint32_t rate(RateClass c) const noexcept;
};

enum class RateDecision : uint8_t { send, slip, drop };

struct RateVerdict {
  RateDecision decision = RateDecision::send;
  bool limited = false;  // over the rate (in log-only mode the answer is still sent)
  bool started = false;  // the first limited answer of this bucket since it was last within rate
};

class RateLimiter {
 public:
  // `seed` keys the bucket hash, so that an attacker cannot aim keys at one set.
  RateLimiter(RateLimitOptions options, const testname::SipKey& seed);

  [[nodiscard]] bool allowed(const net::IpAddress& source) const noexcept;
  // Accounts `weight` answers to `source` of class `c`; `key` tells buckets of one class apart
  // (the test id, the name; 0 where the class has one bucket per prefix).
  //
  // Test answers go first to one bucket for the whole prefix, at the per-test rate: while the
  // prefix as a whole is within it, no test of it can be over, and the answer passes on that
  // one (cached) bucket. Only a prefix past it gets a bucket per test, so the table sees new keys
  // only under load from that prefix, not for every test there is.
  [[nodiscard]] RateVerdict account(const net::IpAddress& source, RateClass c, uint64_t key, int64_t now_ms,
                                    uint32_t weight = 1) noexcept;

  [[nodiscard]] const RateLimitOptions& options() const noexcept { return options_; }
  [[nodiscard]] uint64_t evictions() const noexcept { return buckets_.evictions(); }
  [[nodiscard]] size_t buckets() const noexcept { return buckets_.size(); }
  // The prefix a source is accounted under ("192.0.2.0/24"), for log lines.
  [[nodiscard]] net::Prefix prefix_of(const net::IpAddress& source) const noexcept;

 private:
  // One bucket: true when it had room for `weight` answers (and took them).
  [[nodiscard]] bool take(const net::Prefix& prefix, uint8_t family, RateClass c, uint64_t key, int64_t now_ms,
                          uint32_t rate, uint32_t weight, RateVerdict& verdict) noexcept;
  RateLimitOptions options_;
  testname::SipKey seed_;
  net::TokenBuckets buckets_;
  uint64_t id_;  // tells limiters apart in the per-thread cache of the last key hashed
  [[nodiscard]] static uint64_t next_id() noexcept;
};

}  // namespace dnsleak::auth
