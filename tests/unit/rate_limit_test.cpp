// Server cookies (RFC 7873/9018), the response rate limiter, and how the responder feeds both.
#include "auth/rate_limit.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "auth/cookies.h"
#include "auth/responder.h"
#include "dns_test_support.h"

namespace dnsleak::auth {
namespace {

net::IpAddress v4(const char* text) { return *net::parse_ip(text); }

template <size_t N>
std::array<uint8_t, N> hex(std::string_view text) {
  std::array<uint8_t, N> out{};
  EXPECT_TRUE(testname::parse_hex(text, out)) << text;
  return out;
}

// RFC 9018 Appendix A.1 ("Learning a New Server Cookie"): the one published vector, so a match
// means the cookies interoperate with BIND, Knot, PowerDNS and Unbound in one anycast set.
TEST(CookieTest, MatchesTheRfc9018TestVector) {
  const CookieAuthority cookies = CookieAuthority::from_key(hex<16>("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  const ClientCookie client = hex<8>("2464c4abcf10c957");
  const ServerCookie made = cookies.make(client, v4("198.51.100.100"), 1559731985);
  EXPECT_EQ(testname::to_hex(made), "010000005cf79f111f8130c3eee29480");
  EXPECT_EQ(cookies.check(client, made, v4("198.51.100.100"), 1559731985 + 10), CookieCheck::valid);
}

TEST(CookieTest, AServerCookieHoldsOnlyForItsClientAddressSecretAndHour) {
  const CookieAuthority cookies("a secret of sixteen or more octets");
  const ClientCookie client = hex<8>("0102030405060708");
  const uint32_t now = 1'800'000'000;
  const ServerCookie made = cookies.make(client, v4("192.0.2.1"), now);
  EXPECT_EQ(cookies.check(client, made, v4("192.0.2.1"), now + 3599), CookieCheck::valid);
  EXPECT_EQ(cookies.check(client, made, v4("192.0.2.2"), now), CookieCheck::bad_hash);  // spoofed source
  EXPECT_EQ(cookies.check(hex<8>("0102030405060709"), made, v4("192.0.2.1"), now), CookieCheck::bad_hash);
  EXPECT_EQ(CookieAuthority("another secret, sixteen octets+").check(client, made, v4("192.0.2.1"), now),
            CookieCheck::bad_hash);
  EXPECT_EQ(cookies.check(client, made, v4("192.0.2.1"), now + 3601), CookieCheck::expired);
  EXPECT_EQ(cookies.check(client, made, v4("192.0.2.1"), now - 301), CookieCheck::from_future);
  EXPECT_EQ(cookies.check(client, std::span<const uint8_t>(made).first(8), v4("192.0.2.1"), now),
            CookieCheck::wrong_size);
  ServerCookie other_version = made;
  other_version[0] = 2;
  EXPECT_EQ(cookies.check(client, other_version, v4("192.0.2.1"), now), CookieCheck::wrong_version);
  // IPv6 clients hash their 16 octets.
  const ServerCookie six = cookies.make(client, *net::parse_ip("2001:db8::1"), now);
  EXPECT_EQ(cookies.check(client, six, *net::parse_ip("2001:db8::1"), now), CookieCheck::valid);
  EXPECT_EQ(cookies.check(client, six, *net::parse_ip("2001:db8::2"), now), CookieCheck::bad_hash);
}

RateLimitOptions small_limits() {
  RateLimitOptions o;
  o.test_rate = 5;
  o.answer_rate = 5;
  o.nxdomain_rate = 5;
  o.error_rate = 5;
  o.burst_seconds = 1;
  o.slip = 2;
  o.table_size = 1024;
  return o;
}

constexpr testname::SipKey kSeed{1, 2, 3};

// Counts what `n` answers at one instant get.
struct Tally {
  int sent = 0, slipped = 0, dropped = 0;
};
Tally burst(RateLimiter& limiter, const net::IpAddress& source, RateClass c, uint64_t key, int n, int64_t now) {
  Tally t;
  for (int i = 0; i < n; ++i) {
    switch (limiter.account(source, c, key, now).decision) {
      case RateDecision::send: ++t.sent; break;
      case RateDecision::slip: ++t.slipped; break;
      case RateDecision::drop: ++t.dropped; break;
    }
  }
  return t;
}

TEST(RateLimitTest, ABucketPassesItsBurstThenSlipsEverySecondAnswer) {
  RateLimiter limiter(small_limits(), kSeed);
  const Tally t = burst(limiter, v4("192.0.2.1"), RateClass::nxdomain, 0, 25, 1000);
  EXPECT_EQ(t.sent, 5);
  EXPECT_EQ(t.slipped, 10);
  EXPECT_EQ(t.dropped, 10);
}

TEST(RateLimitTest, EachTestOfOnePrefixHasItsOwnBucket) {
  // Many users behind one resolver: a thousand tests at once, none throttled.
  RateLimiter limiter(small_limits(), kSeed);
  int sent = 0;
  for (uint64_t test = 1; test <= 1000; ++test)
    sent += burst(limiter, v4("8.8.8.8"), RateClass::test, test, 4, 5000).sent;
  EXPECT_EQ(sent, 4000);
  // One token flooded is limited like any bucket.
  EXPECT_EQ(burst(limiter, v4("8.8.8.8"), RateClass::test, 7777, 20, 5000).sent, 5);
}

TEST(RateLimitTest, NxdomainIsSharedByThePrefixNotPerAddressOrName) {
  RateLimiter limiter(small_limits(), kSeed);
  int sent = 0;
  for (int host = 1; host <= 20; ++host) {
    const std::string address = "203.0.113." + std::to_string(host);
    sent += burst(limiter, v4(address.c_str()), RateClass::nxdomain, 0, 1, 1000).sent;
  }
  EXPECT_EQ(sent, 5);  // one /24
  // Another /24, and another class, have buckets of their own.
  EXPECT_EQ(burst(limiter, v4("203.0.114.1"), RateClass::nxdomain, 0, 5, 1000).sent, 5);
  EXPECT_EQ(burst(limiter, v4("203.0.113.1"), RateClass::error, 0, 5, 1000).sent, 5);
}

TEST(RateLimitTest, IPv6IsAccountedPerSlash56) {
  RateLimiter limiter(small_limits(), kSeed);
  EXPECT_EQ(burst(limiter, *net::parse_ip("2001:db8:0:ff::1"), RateClass::error, 0, 5, 1000).sent, 5);
  EXPECT_EQ(burst(limiter, *net::parse_ip("2001:db8:0:1::9"), RateClass::error, 0, 5, 1000).sent, 0);
  EXPECT_EQ(burst(limiter, *net::parse_ip("2001:db8:0:100::1"), RateClass::error, 0, 5, 1000).sent, 5);
}

TEST(RateLimitTest, TheBucketRefillsAtItsRate) {
  RateLimiter limiter(small_limits(), kSeed);
  const net::IpAddress source = v4("192.0.2.9");
  EXPECT_EQ(burst(limiter, source, RateClass::answer, 3, 10, 1000).sent, 5);
  EXPECT_EQ(burst(limiter, source, RateClass::answer, 3, 10, 1200).sent, 1);    // 5/s: one in 200 ms
  EXPECT_EQ(burst(limiter, source, RateClass::answer, 3, 10, 60'000).sent, 5);  // never past the burst
}

TEST(RateLimitTest, StartedMarksOnlyTheFirstLimitedAnswer) {
  RateLimiter limiter(small_limits(), kSeed);
  const net::IpAddress source = v4("192.0.2.10");
  int started = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    const RateVerdict v = limiter.account(source, RateClass::error, 0, 1000);
    started += v.started;
    limited += v.limited;
  }
  EXPECT_EQ(limited, 15);
  EXPECT_EQ(started, 1);
}

TEST(RateLimitTest, LogOnlyCountsButSendsAndOffAndZeroRateLimitNothing) {
  RateLimitOptions o = small_limits();
  o.mode = RateMode::log_only;
  RateLimiter log_only(o, kSeed);
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    const RateVerdict v = log_only.account(v4("192.0.2.1"), RateClass::error, 0, 1000);
    EXPECT_EQ(v.decision, RateDecision::send);
    limited += v.limited;
  }
  EXPECT_EQ(limited, 15);
  o.mode = RateMode::off;
  RateLimiter off(o, kSeed);
  EXPECT_EQ(burst(off, v4("192.0.2.1"), RateClass::error, 0, 50, 1000).sent, 50);
  o = small_limits();
  o.error_rate = 0;
  RateLimiter unlimited(o, kSeed);
  EXPECT_EQ(burst(unlimited, v4("192.0.2.1"), RateClass::error, 0, 50, 1000).sent, 50);
}

TEST(RateLimitTest, SlipOfZeroDropsAllAndOneSlipsAll) {
  RateLimitOptions o = small_limits();
  o.slip = 0;
  RateLimiter none(o, kSeed);
  Tally t = burst(none, v4("192.0.2.1"), RateClass::error, 0, 15, 1000);
  EXPECT_EQ(t.slipped, 0);
  EXPECT_EQ(t.dropped, 10);
  o.slip = 1;
  RateLimiter all(o, kSeed);
  t = burst(all, v4("192.0.2.1"), RateClass::error, 0, 15, 1000);
  EXPECT_EQ(t.slipped, 10);
  EXPECT_EQ(t.dropped, 0);
}

TEST(RateLimitTest, AllowListAndTableBound) {
  RateLimitOptions o = small_limits();
  o.allow.push_back(*net::parse_prefix("10.0.0.0/8"));
  RateLimiter limiter(o, kSeed);
  EXPECT_TRUE(limiter.allowed(v4("10.1.2.3")));
  EXPECT_FALSE(limiter.allowed(v4("11.1.2.3")));
  EXPECT_EQ(limiter.buckets(), 1024u);
  // Far more keys than buckets: the table stays its size, evicting the least recently used.
  for (uint64_t k = 0; k < 10'000; ++k) (void)limiter.account(v4("192.0.2.1"), RateClass::answer, k, 1000 + int64_t(k));
  EXPECT_GE(limiter.evictions(), 10'000u - 1024u);
  EXPECT_EQ(limiter.prefix_of(v4("192.0.2.77")).to_string(), "192.0.2.0/24");
}

// --- the responder's side ------------------------------------------------------------------------

class ResponderLimitTest : public ::testing::Test {
 protected:
  ResponderLimitTest()
      : zone_(testing::leak_test_zone()), tokens_("responder test secret", 3600), cookies_("responder test secret") {
    responder_ = std::make_unique<Responder>(zone_, tokens_, &cookies_);
    client_.remote = v4("198.51.100.7");
    client_.remote_port = 40000;
    client_.now_ms = kNowMs;
  }
  ResponseResult ask(const testing::QuerySpec& spec) {
    query_ = testing::make_query(spec);
    out_.assign(65535, std::byte{0});
    observation_ = {};
    return responder_->respond(query_, client_, out_, observation_);
  }
  std::string test_name(const std::string& probe) {
    return tokens_.issue(static_cast<uint32_t>(kNowMs / 1000))->text() + "-" + probe + ".leak.test";
  }
  static constexpr int64_t kNowMs = 1'800'000'000'000;
  ZoneConfig zone_;
  testname::TokenAuthority tokens_;
  CookieAuthority cookies_;
  std::unique_ptr<Responder> responder_;
  QueryContext client_;
  std::vector<std::byte> query_, out_;
  store::ResolverObservation observation_;
};

TEST_F(ResponderLimitTest, AClientCookieGetsAServerCookieThatThenHolds) {
  testing::QuerySpec spec{.name = "whoami.leak.test", .qtype = 16, .edns = true};
  spec.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  ResponseResult r = ask(spec);
  EXPECT_EQ(r.cookie, CookieState::client_only);
  auto response = testing::parse_response({out_.data(), r.length});
  ASSERT_TRUE(response);
  // The OPT's RDATA: option 10, length 24, the client cookie back, then ours.
  const std::vector<uint8_t>& rdata = response->opt_rdata;
  ASSERT_EQ(rdata.size(), 28u);
  EXPECT_EQ(rdata[1], 10);
  EXPECT_EQ(rdata[3], 24);
  EXPECT_EQ(std::vector<uint8_t>(rdata.begin() + 4, rdata.begin() + 12),
            std::vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8}));
  // Sent back with the next query: valid, and so exempt from the rate limit.
  spec.options = {0, 10, 0, 24};
  spec.options.insert(spec.options.end(), rdata.begin() + 4, rdata.end());
  EXPECT_EQ(ask(spec).cookie, CookieState::valid);
  // From another address (a spoofer replaying it): not valid, answered with a fresh one.
  client_.remote = v4("198.51.100.8");
  EXPECT_EQ(ask(spec).cookie, CookieState::invalid);
  // Without EDNS there is no cookie.
  EXPECT_EQ(ask({.name = "whoami.leak.test", .qtype = 16}).cookie, CookieState::none);
}

TEST_F(ResponderLimitTest, TheRateClassFollowsWhatTheAnswerIs) {
  const std::string token = tokens_.issue(static_cast<uint32_t>(kNowMs / 1000))->text();
  ResponseResult r = ask({.name = token + "-p1.leak.test"});
  EXPECT_EQ(r.rate_class, RateClass::test);
  const uint64_t key = r.rate_key;
  EXPECT_NE(key, 0u);
  EXPECT_EQ(ask({.name = token + "-p2.leak.test", .qtype = 28}).rate_key, key);  // one test id, any probe
  EXPECT_NE(ask({.name = test_name("p1")}).rate_key, key);                       // another test
  EXPECT_EQ(ask({.name = "whoami.leak.test", .qtype = 16}).rate_class, RateClass::answer);
  EXPECT_EQ(ask({.name = "nothing-here.leak.test"}).rate_class, RateClass::nxdomain);
  std::string forged = test_name("p1");
  forged[2] = forged[2] == 'a' ? 'b' : 'a';
  EXPECT_EQ(ask({.name = forged}).rate_class, RateClass::nxdomain);
  EXPECT_EQ(ask({.name = "example.com"}).rate_class, RateClass::error);
  // A random name below the IPv6-only sub-zone asked over IPv4: a referral, its name not checked.
  r = ask({.name = "random-name.v6.leak.test"});
  EXPECT_EQ(r.outcome, Outcome::referral);
  EXPECT_EQ(r.rate_class, RateClass::nxdomain);
}

TEST_F(ResponderLimitTest, ASlipIsTruncatedEmptyAndNoLargerThanTheQuery) {
  testing::QuerySpec spec{.name = "leak.test", .qtype = 2, .edns = true};
  spec.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  const ResponseResult r = ask(spec);
  ASSERT_GT(r.length, query_.size());  // an NS answer with glue and a cookie: amplifying
  const size_t length = Responder::slip(out_, r, query_.size());
  EXPECT_LE(length, query_.size());
  auto response = testing::parse_response({out_.data(), length});
  ASSERT_TRUE(response);
  EXPECT_TRUE(response->tc());
  EXPECT_EQ(response->qname, "leak.test");
  EXPECT_TRUE(response->answer.empty());
  EXPECT_TRUE(response->authority.empty());
  EXPECT_TRUE(response->opt_ttl.has_value());
  EXPECT_TRUE(response->opt_rdata.empty());
  // Without EDNS: the header and question only.
  const ResponseResult plain = ask({.name = "leak.test", .qtype = 2});
  EXPECT_EQ(Responder::slip(out_, plain, query_.size()), query_.size());
  // A query that compressed its question (legal, if rare): written out whole, the slip would be
  // larger than the query, so nothing is sent.
  EXPECT_EQ(Responder::slip(out_, plain, query_.size() - 1), 0u);
}

TEST(RateLimitTest, APrefixWithinTheRateNeedsNoBucketPerTest) {
  // Below the per-test rate for the whole prefix, every test passes on the prefix's one bucket:
  // no new key reaches the table, so none is evicted however many tests there are.
  RateLimitOptions o = small_limits();
  o.test_rate = 1000;
  RateLimiter limiter(o, kSeed);
  for (uint64_t test = 1; test <= 5000; ++test) {
    ASSERT_EQ(limiter.account(v4("192.0.2.1"), RateClass::test, test, 1000 + int64_t(test)).decision,
              RateDecision::send);
  }
  EXPECT_EQ(limiter.evictions(), 0u);
  // A weighed account takes that many answers at once.
  RateLimiter weighed(small_limits(), kSeed);
  EXPECT_FALSE(weighed.account(v4("192.0.2.1"), RateClass::error, 0, 1000, 5).limited);
  EXPECT_TRUE(weighed.account(v4("192.0.2.1"), RateClass::error, 0, 1000, 1).limited);
}

}  // namespace
}  // namespace dnsleak::auth

#include "server/privileges.h"

namespace dnsleak::server {
namespace {

TEST(Privileges, WhatToDoFollowsWhoWeAreAndWhatIsConfigured) {
  EXPECT_EQ(plan_privileges(0, true, std::nullopt), PrivilegeAction::keep_root_warned);
  EXPECT_EQ(plan_privileges(0, true, "root"), PrivilegeAction::keep_root_chosen);
  EXPECT_EQ(plan_privileges(0, true, "dnsleak"), PrivilegeAction::switch_user);
  EXPECT_EQ(plan_privileges(998, true, std::nullopt), PrivilegeAction::drop_capabilities);
  EXPECT_EQ(plan_privileges(998, true, "dnsleak"), PrivilegeAction::drop_capabilities);
  EXPECT_EQ(plan_privileges(998, false, std::nullopt), PrivilegeAction::nothing);
}

}  // namespace
}  // namespace dnsleak::server
