#include "auth/responder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <tuple>

#include "dns_test_support.h"

namespace dnsleak::auth {
namespace {

using testing::make_query;
using testing::parse_response;
using testing::QuerySpec;
using testing::Response;

constexpr int64_t kNowMs = 1'800'000'000'000;

class ResponderTest : public ::testing::Test {
 protected:
  ResponderTest() : zone_(testing::leak_test_zone()), tokens_("responder test secret", 3600) {
    responder_ = std::make_unique<Responder>(zone_, tokens_);
    v4_client_.remote.family = 4;
    v4_client_.remote.bytes = {198, 51, 100, 7};
    v4_client_.remote_port = 40000;
    v4_client_.now_ms = kNowMs;
    v6_client_ = v4_client_;
    v6_client_.remote.family = 6;
    inet_pton(AF_INET6, "2001:db8:1::7", v6_client_.remote.bytes.data());
  }

  std::string test_name(const std::string& probe, const std::string& under = "leak.test") {
    return tokens_.issue(static_cast<uint32_t>(kNowMs / 1000))->text() + "-" + probe + "." + under;
  }

  // Sends a query; returns the parsed response (or nothing if dropped) and the result.
  std::optional<Response> ask(const QuerySpec& spec, const QueryContext& context, size_t out_size = 65535) {
    return ask_wire(make_query(spec), context, out_size);
  }
  std::optional<Response> ask_wire(const std::vector<std::byte>& wire, const QueryContext& context,
                                   size_t out_size = 65535) {
    std::vector<std::byte> out(out_size);
    observation_ = {};
    result_ = responder_->respond(wire, context, out, observation_);
    if (result_.length == 0) return std::nullopt;
    return parse_response({out.data(), result_.length});
  }

  ZoneConfig zone_;
  testname::TokenAuthority tokens_;
  std::unique_ptr<Responder> responder_;
  QueryContext v4_client_, v6_client_;
  store::ResolverObservation observation_;
  ResponseResult result_;
};

TEST_F(ResponderTest, TestNameAnswersWebAddressAndIsObserved) {
  const std::string name = test_name("a1");
  const auto r = ask({.name = name}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_TRUE(r->aa());
  EXPECT_EQ(r->flags & 0x8100, 0x8100);  // QR, RD copied
  ASSERT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->answer[0].name, name);
  EXPECT_EQ(testing::ipv4_text(r->answer[0].rdata), "192.0.2.80");
  EXPECT_EQ(result_.outcome, Outcome::answer);
  ASSERT_TRUE(result_.observed);
  EXPECT_EQ(observation_.probe.view(), "a1");
  EXPECT_EQ(observation_.resolver.to_string(), "198.51.100.7");
  EXPECT_EQ(observation_.resolver_port, 40000);
  EXPECT_EQ(observation_.qtype, 1);
  EXPECT_EQ(observation_.sub_zone, store::SubZone::none);
  EXPECT_EQ(observation_.time_ms, kNowMs);
}

TEST_F(ResponderTest, EchoesMixedCaseQuestionExactly) {
  std::string name = test_name("x");
  for (size_t i = 0; i < name.size(); i += 3) name[i] = static_cast<char>(std::toupper(name[i]));
  const auto r = ask({.name = name, .qtype = 28}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->qname, name);
  ASSERT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->answer[0].name, name);  // owner compressed to the question, case and all
  EXPECT_EQ(r->answer[0].rdata.size(), 16u);
  EXPECT_EQ(observation_.qname.to_text(), name);
}

TEST_F(ResponderTest, ForgedAndExpiredTokensAreNxdomainAndNotObserved) {
  std::string name = test_name("a");
  name[3] = name[3] == 'a' ? 'b' : 'a';
  auto r = ask({.name = name}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 3);
  ASSERT_EQ(r->authority.size(), 1u);
  EXPECT_EQ(r->authority[0].type, 6);
  EXPECT_EQ(result_.outcome, Outcome::nxdomain_bad_token);
  EXPECT_FALSE(result_.observed);

  const std::string old = tokens_.issue(static_cast<uint32_t>(kNowMs / 1000 - 7200))->text() + "-a.leak.test";
  r = ask({.name = old}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 3);
  EXPECT_EQ(result_.outcome, Outcome::nxdomain_expired_token);

  r = ask({.name = "random.leak.test"}, v4_client_);
  EXPECT_EQ(r->rcode, 3);
  EXPECT_EQ(result_.outcome, Outcome::nxdomain);
  r = ask({.name = "deep." + test_name("a")}, v4_client_);
  EXPECT_EQ(r->rcode, 3);
}

TEST_F(ResponderTest, OutOfZoneRefusedAndOtherClassesRefused) {
  auto r = ask({.name = "example.com"}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 5);
  EXPECT_FALSE(r->aa());
  EXPECT_TRUE(r->answer.empty());
  r = ask({.name = "leak.test", .qtype = 16, .qclass = 3}, v4_client_);  // CHAOS
  EXPECT_EQ(r->rcode, 5);
  r = ask({.name = "leak.test", .qtype = 252}, v4_client_);  // AXFR
  EXPECT_EQ(r->rcode, 5);
}

TEST_F(ResponderTest, ApexRecords) {
  auto r = ask({.name = "LEAK.test", .qtype = 6}, v4_client_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->answer[0].type, 6);
  r = ask({.name = "leak.test", .qtype = 2}, v4_client_);
  ASSERT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->answer[0].rdata_name, "ns1.leak.test");
  EXPECT_EQ(r->additional.size(), 2u);  // A and AAAA glue
  r = ask({.name = "leak.test", .qtype = 1}, v4_client_);
  EXPECT_EQ(testing::ipv4_text(r->answer.at(0).rdata), "192.0.2.80");
  r = ask({.name = "leak.test", .qtype = 15}, v4_client_);  // MX: NODATA with SOA
  EXPECT_EQ(r->rcode, 0);
  EXPECT_TRUE(r->answer.empty());
  EXPECT_EQ(r->authority.at(0).type, 6);
  EXPECT_EQ(result_.outcome, Outcome::nodata);
  r = ask({.name = "ns1.leak.test", .qtype = 1}, v4_client_);
  EXPECT_EQ(testing::ipv4_text(r->answer.at(0).rdata), "192.0.2.53");
}

TEST_F(ResponderTest, AnyIsAnsweredMinimally) {
  const auto r = ask({.name = test_name("any"), .qtype = 255}, v4_client_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->answer[0].type, 1);
  const auto apex = ask({.name = "leak.test", .qtype = 255}, v4_client_);
  ASSERT_EQ(apex->answer.size(), 1u);
}

TEST_F(ResponderTest, WhoamiReflectsTheAsker) {
  auto r = ask({.name = "whoami.leak.test"}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(testing::ipv4_text(r->answer.at(0).rdata), "198.51.100.7");
  EXPECT_EQ(r->answer[0].ttl, 0u);
  r = ask({.name = "whoami.leak.test", .qtype = 28}, v4_client_);
  EXPECT_TRUE(r->answer.empty());  // an IPv4 asker has no IPv6 address to show
  r = ask({.name = "whoami.leak.test", .qtype = 28}, v6_client_);
  EXPECT_EQ(r->answer.at(0).rdata.size(), 16u);
  QuerySpec spec{.name = "whoami.leak.test", .qtype = 16, .edns = true};
  spec.options = testing::ecs_option(1, 24, {203, 0, 113});
  r = ask(spec, v4_client_);
  ASSERT_EQ(r->answer.size(), 1u);
  const std::string txt(r->answer[0].rdata.begin(), r->answer[0].rdata.end());
  EXPECT_NE(txt.find("resolver=198.51.100.7 port=40000 transport=udp"), std::string::npos) << txt;
  EXPECT_NE(txt.find("ecs=203.0.113.0/24"), std::string::npos) << txt;
  // The ECS option comes back with scope = source: the TXT depends on the subnet.
  ASSERT_GE(r->opt_rdata.size(), 8u);
  EXPECT_EQ(r->opt_rdata[6], 24);
  EXPECT_EQ(r->opt_rdata[7], 24);
  EXPECT_FALSE(result_.observed);  // whoami is not a test name
}

TEST_F(ResponderTest, SubnetIsRecordedAndEchoedWithScopeZero) {
  QuerySpec spec{.name = test_name("e"), .edns = true};
  spec.options = testing::ecs_option(1, 24, {203, 0, 113});
  const auto r = ask(spec, v4_client_);
  ASSERT_TRUE(r);
  ASSERT_TRUE(observation_.has_client_subnet);
  EXPECT_EQ(observation_.client_subnet.source_prefix, 24);
  EXPECT_EQ(observation_.client_subnet.address[0], 203);
  ASSERT_GE(r->opt_rdata.size(), 8u);
  EXPECT_EQ(r->opt_rdata[7], 0);
}

TEST_F(ResponderTest, ApexNsWithoutNameServersIsNodata) {
  zone_.nameservers.clear();  // only a hand-built zone: the configuration always has one
  responder_ = std::make_unique<Responder>(zone_, tokens_);
  const auto r = ask({.name = "leak.test", .qtype = 2}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_TRUE(r->answer.empty());
  ASSERT_EQ(r->authority.size(), 1u);
  EXPECT_EQ(r->authority[0].type, 6);  // the SOA
  EXPECT_EQ(result_.outcome, Outcome::nodata);
}

TEST_F(ResponderTest, AReferralThatDoesNotFitIsObservedAsTruncated) {
  // 30 IPv6 addresses for the name server: the v6. referral's AAAA glue (28 octets each) cannot
  // fit 512 octets, so a test name below v6. asked over IPv4 UDP gets TC instead.
  Ipv6Bytes v6{};
  v6[0] = 0x20;
  zone_.nameservers[0].ipv6.clear();
  for (uint8_t i = 0; i < 30; ++i) {
    v6[15] = i;
    zone_.nameservers[0].ipv6.push_back(v6);
  }
  responder_ = std::make_unique<Responder>(zone_, tokens_);
  auto r = ask({.name = test_name("t", "v6.leak.test")}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(result_.outcome, Outcome::truncated_size);
  EXPECT_TRUE(r->tc());
  ASSERT_TRUE(result_.observed);
  EXPECT_EQ(observation_.answer, store::AnswerKind::truncated);
  // Over TCP the same referral fits, and is observed as one.
  QueryContext tcp = v4_client_;
  tcp.transport = net::Transport::tcp;
  r = ask({.name = test_name("t", "v6.leak.test")}, tcp);
  ASSERT_TRUE(r);
  EXPECT_EQ(result_.outcome, Outcome::referral);
  EXPECT_EQ(observation_.answer, store::AnswerKind::referral);
}

TEST_F(ResponderTest, OnlyAnAnsweredWhoamiScopesTheSubnet) {
  // The scope is set where the answer depends on the subnet: whoami of this zone, answered. A
  // whoami elsewhere (refused), under an unknown name (NXDOMAIN) or below a cut (a referral)
  // is the same for every subnet.
  for (const auto& [name, client, rcode] :
       std::vector<std::tuple<std::string, QueryContext*, uint8_t>>{{"whoami.example.org", &v4_client_, 5},
                                                                    {"whoami.nothing.leak.test", &v4_client_, 3},
                                                                    {"whoami.v6.leak.test", &v4_client_, 0}}) {
    QuerySpec spec{.name = name, .qtype = 16, .edns = true};
    spec.options = testing::ecs_option(1, 24, {203, 0, 113});
    const auto r = ask(spec, *client);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->rcode, rcode) << name;
    ASSERT_GE(r->opt_rdata.size(), 8u) << name;
    EXPECT_EQ(r->opt_rdata[6], 24) << name;
    EXPECT_EQ(r->opt_rdata[7], 0) << name;
  }
  QuerySpec spec{.name = "whoami.v6.leak.test", .qtype = 16, .edns = true};
  spec.options = testing::ecs_option(1, 24, {203, 0, 113});
  const auto r = ask(spec, v6_client_);  // over IPv6 the sub-zone answers
  ASSERT_TRUE(r);
  EXPECT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(r->opt_rdata.at(7), 24);
}

TEST_F(ResponderTest, V6SubZoneReferralOverIpv4AnswerOverIpv6) {
  const std::string name = test_name("v6", "v6.leak.test");
  auto r = ask({.name = name}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_FALSE(r->aa());
  EXPECT_TRUE(r->answer.empty());
  ASSERT_EQ(r->authority.size(), 1u);
  EXPECT_EQ(r->authority[0].type, 2);
  EXPECT_EQ(r->authority[0].name, "v6.leak.test");
  EXPECT_EQ(r->authority[0].rdata_name, "ns.v6.leak.test");
  ASSERT_EQ(r->additional.size(), 1u);
  EXPECT_EQ(r->additional[0].type, 28);  // AAAA glue only
  EXPECT_EQ(result_.outcome, Outcome::referral);
  EXPECT_TRUE(result_.observed);
  EXPECT_EQ(observation_.answer, store::AnswerKind::referral);

  r = ask({.name = name}, v6_client_);
  EXPECT_TRUE(r->aa());
  EXPECT_EQ(testing::ipv4_text(r->answer.at(0).rdata), "192.0.2.80");
  EXPECT_EQ(observation_.sub_zone, store::SubZone::v6);
  EXPECT_EQ(observation_.resolver.family, 6);

  // QNAME minimisation walks the cut: v6.leak.test itself is a referral over IPv4 ...
  r = ask({.name = "v6.leak.test"}, v4_client_);
  EXPECT_EQ(result_.outcome, Outcome::referral);
  // ... and an authoritative apex over IPv6, whose name server answers its own AAAA.
  r = ask({.name = "v6.leak.test", .qtype = 2}, v6_client_);
  EXPECT_EQ(r->answer.at(0).rdata_name, "ns.v6.leak.test");
  r = ask({.name = "ns.v6.leak.test", .qtype = 28}, v6_client_);
  EXPECT_EQ(r->answer.at(0).rdata.size(), 16u);
}

TEST_F(ResponderTest, BadTokensBelowACutAreReferredLikeGoodOnes) {
  std::string name = test_name("v6", "v6.leak.test");
  name[2] = name[2] == 'a' ? 'b' : 'a';
  const auto r = ask({.name = name}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rcode, 0);
  EXPECT_FALSE(r->aa());
  EXPECT_EQ(result_.outcome, Outcome::referral);
  EXPECT_EQ(r->authority.at(0).rdata_name, "ns.v6.leak.test");
  EXPECT_FALSE(result_.observed);
}

TEST_F(ResponderTest, V4SubZoneIsTheMirror) {
  const std::string name = test_name("v4", "v4.leak.test");
  auto r = ask({.name = name}, v6_client_);
  EXPECT_EQ(result_.outcome, Outcome::referral);
  ASSERT_EQ(r->additional.size(), 1u);
  EXPECT_EQ(r->additional[0].type, 1);
  r = ask({.name = name}, v4_client_);
  EXPECT_EQ(result_.outcome, Outcome::answer);
}

TEST_F(ResponderTest, TcpSubZoneTruncatesUdpAndAnswersTcp) {
  const std::string name = test_name("t", "tcp.leak.test");
  auto r = ask({.name = name}, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->tc());
  EXPECT_TRUE(r->answer.empty());
  EXPECT_EQ(result_.outcome, Outcome::truncated_tcp_only);
  EXPECT_EQ(observation_.answer, store::AnswerKind::truncated);
  QueryContext tcp = v4_client_;
  tcp.transport = net::Transport::tcp;
  r = ask({.name = name}, tcp);
  EXPECT_FALSE(r->tc());
  EXPECT_EQ(r->answer.size(), 1u);
  EXPECT_EQ(observation_.transport, net::Transport::tcp);
  EXPECT_EQ(observation_.sub_zone, store::SubZone::tcp);
}

TEST_F(ResponderTest, ErrorsKeepTheHeader) {
  auto wire = make_query({.name = "leak.test", .id = 0xBEEF});
  wire[5] = std::byte{2};  // two questions
  auto r = ask_wire(wire, v4_client_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 0xBEEF);
  EXPECT_EQ(r->rcode, 1);
  EXPECT_EQ(result_.outcome, Outcome::formerr);

  r = ask({.name = "leak.test", .flags = 2 << 11}, v4_client_);  // STATUS opcode
  EXPECT_EQ(r->rcode, 4);
  EXPECT_EQ(r->flags & 0x7800, 2 << 11);

  r = ask({.name = "leak.test", .edns = true, .edns_version = 1}, v4_client_);
  EXPECT_EQ(r->rcode, 0);
  ASSERT_TRUE(r->opt_ttl);
  EXPECT_EQ(*r->opt_ttl >> 24, 1u);  // BADVERS = 16: upper 8 bits of 12 in the OPT TTL
  EXPECT_EQ(result_.outcome, Outcome::badvers);

  EXPECT_FALSE(ask_wire(std::vector<std::byte>(5), v4_client_));
  EXPECT_EQ(result_.outcome, Outcome::drop_too_short);
  EXPECT_FALSE(ask({.name = "leak.test", .flags = 0x8000}, v4_client_));
  EXPECT_EQ(result_.outcome, Outcome::drop_is_response);
}

TEST_F(ResponderTest, TruncatesWhatDoesNotFitUdp) {
  for (int i = 0; i < 30; ++i) zone_.web_ipv6.push_back(zone_.web_ipv6.front());
  const auto r = ask({.name = test_name("big"), .qtype = 28}, v4_client_);  // 31 AAAA > 512 octets, < 1232
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->tc());
  EXPECT_TRUE(r->answer.empty());
  EXPECT_EQ(result_.outcome, Outcome::truncated_size);
  const auto with_edns = ask({.name = test_name("big"), .qtype = 28, .edns = true, .payload = 1232}, v4_client_);
  EXPECT_FALSE(with_edns->tc());
  EXPECT_EQ(with_edns->answer.size(), 31u);
}

TEST_F(ResponderTest, EdnsAnswerCarriesOpt) {
  QuerySpec spec{.name = test_name("c"), .edns = true, .payload = 4096, .dnssec_ok = true};
  spec.options = testing::cookie_option(8);
  const auto r = ask(spec, v4_client_);
  ASSERT_TRUE(r && r->opt_ttl);
  EXPECT_TRUE(observation_.edns);
  EXPECT_EQ(observation_.edns_payload_size, 4096);
  EXPECT_TRUE(observation_.dnssec_ok);
  EXPECT_TRUE(observation_.cookie);
  EXPECT_EQ(*r->opt_ttl & 0x8000u, 0x8000u);  // DO copied back (RFC 3225 3)
}

TEST_F(ResponderTest, AnswersInPlaceOverTheQueryExactlyAsIntoASeparateBuffer) {
  // The UDP path writes each answer over its own query: same octets, same outcome, same
  // observation as with a separate buffer, for every kind of answer.
  const std::vector<QuerySpec> specs{
      {.name = test_name("p1")},
      {.name = test_name("p2"), .qtype = 28, .edns = true, .dnssec_ok = true, .options = testing::cookie_option(8)},
      {.name = "WhoAmI.leak.test", .qtype = 16, .edns = true, .options = testing::ecs_option(1, 24, {203, 0, 113})},
      {.name = "leak.test", .qtype = 6},
      {.name = "leak.test", .qtype = 255},
      {.name = test_name("p3", "v6.leak.test")},
      {.name = test_name("p4", "tcp.leak.test")},
      {.name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-p5.leak.test"},
      {.name = "example.org"},
      {.name = "leak.test", .edns = true, .edns_version = 1},
  };
  for (const QuerySpec& spec : specs) {
    const std::vector<std::byte> query = make_query(spec);
    std::vector<std::byte> separate(1232);
    store::ResolverObservation seen_separate, seen_in_place;
    const ResponseResult a = responder_->respond(query, v4_client_, separate, seen_separate);
    std::vector<std::byte> buffer(1232);
    std::copy(query.begin(), query.end(), buffer.begin());
    const ResponseResult b = responder_->respond({buffer.data(), query.size()}, v4_client_, buffer, seen_in_place);
    SCOPED_TRACE(spec.name);
    ASSERT_GT(a.length, 0u);
    EXPECT_EQ(a.length, b.length);
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.observed, b.observed);
    EXPECT_TRUE(std::equal(separate.begin(), separate.begin() + static_cast<ptrdiff_t>(a.length), buffer.begin()));
    if (a.observed) {
      EXPECT_EQ(seen_separate.qname.to_text(), seen_in_place.qname.to_text());
      EXPECT_EQ(seen_separate.token.raw, seen_in_place.token.raw);
    }
  }
}

}  // namespace
}  // namespace dnsleak::auth
