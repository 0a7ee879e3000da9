#include "verdict/verdict.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace dnsleak::verdict {
namespace {

net::IpAddress ip(const char* text) {
  net::IpAddress a;
  if (inet_pton(AF_INET, text, a.bytes.data()) == 1) {
    a.family = 4;
  } else {
    a.family = 6;
    EXPECT_EQ(inet_pton(AF_INET6, text, a.bytes.data()), 1) << text;
  }
  return a;
}

// The lab's networks (documentation ASNs, RFC 5398).
const Network kIsp{64500, "Example ISP", "ZZ", ""};
const Network kVpn{64501, "Example VPN", "ZZ", ""};
const Network kPublic{64502, "Example Public DNS", "ZZ", "ExamplePublicDNS"};

ResolverEvidence resolver(const char* address, Network network) { return {ip(address), std::move(network), {}}; }
EgressEvidence exit_at(const char* address, Network network) { return {ip(address), std::move(network)}; }

bool has(const Verdict& v, const std::string& code) {
  return std::any_of(v.findings.begin(), v.findings.end(), [&](const Finding& f) { return f.code == code; });
}

struct LabCase {
  const char* scenario;
  std::vector<ResolverEvidence> resolvers;
  Outcome expected;
};

TEST(Judge, EveryLabScenarioGetsItsGroundTruth) {
  // The client's exits in the lab: IPv4 through the tunnel (the VPN's NAT), IPv6 outside it (the
  // ISP's), for every scenario; split-tunnel routes the web service into the tunnel too.
  const std::vector<EgressEvidence> exits{exit_at("10.77.0.3", kVpn), exit_at("fd77::2", kIsp)};
  const std::vector<LabCase> cases{
      {"no-leak", {resolver("10.77.20.53", kVpn)}, Outcome::no_leak},
      {"full-leak", {resolver("10.77.10.53", kIsp)}, Outcome::leak},
      {"ipv6-leak", {resolver("10.77.10.53", kIsp)}, Outcome::leak},
      {"fallback-leak", {resolver("10.77.10.53", kIsp)}, Outcome::leak},
      {"parallel", {resolver("10.77.20.53", kVpn), resolver("10.77.10.53", kIsp)}, Outcome::leak},
      {"split-tunnel", {resolver("10.77.10.53", kIsp)}, Outcome::leak},
      {"public-via-tunnel", {resolver("10.77.30.53", kPublic)}, Outcome::no_leak},
      {"isp-via-tunnel", {resolver("10.77.10.53", kIsp)}, Outcome::leak},
  };
  for (const LabCase& c : cases) {
    const Verdict v = judge({c.resolvers, exits, {}, {}});
    EXPECT_EQ(v.outcome, c.expected) << c.scenario;
    EXPECT_TRUE(has(v, "ipv6_egress_differs")) << c.scenario;  // the lab's VPN carries IPv4 only
  }
}

TEST(Judge, SeveralIpv6ExitsOutsideTheTunnelAllCount) {
  // Two IPv6 addresses of the ISP (privacy addresses): neither may pass for the tunnel's network.
  const Verdict v = judge({{resolver("10.77.10.53", kIsp)},
                           {exit_at("fd77::2", kIsp), exit_at("10.77.0.3", kVpn), exit_at("fd77::99", kIsp)},
                           {},
                           {}});
  EXPECT_EQ(v.outcome, Outcome::leak);
  EXPECT_TRUE(has(v, "ipv6_egress_differs"));
}

TEST(Judge, ParallelQueriesNameSeveralNetworks) {
  const Verdict v =
      judge({{resolver("10.77.20.53", kVpn), resolver("10.77.10.53", kIsp)}, {exit_at("10.77.0.3", kVpn)}, {}, {}});
  EXPECT_TRUE(has(v, "several_resolver_networks"));
  EXPECT_TRUE(has(v, "resolver_network_differs"));
}

TEST(Judge, PublicResolverIsNotALeakButIsSaid) {
  const Verdict v = judge({{resolver("10.77.30.53", kPublic)}, {exit_at("10.77.0.3", kVpn)}, {}, {}});
  EXPECT_EQ(v.outcome, Outcome::no_leak);
  EXPECT_TRUE(has(v, "public_resolver"));
  EXPECT_FALSE(has(v, "ipv6_egress_differs"));
}

TEST(Judge, ExpectationsOverrideTheHeuristics) {
  // The user's VPN deliberately uses a resolver in another network: not a leak.
  Evidence e{{resolver("10.77.10.53", kIsp)}, {exit_at("10.77.0.3", kVpn)}, {{}, {64500}}, {}};
  EXPECT_EQ(judge(e).outcome, Outcome::no_leak);
  EXPECT_TRUE(has(judge(e), "as_expected"));
  // And a resolver in the exit's own network that the user did not list is one.
  e = {{resolver("10.77.20.53", kVpn)}, {exit_at("10.77.0.3", kVpn)}, {{ip("10.77.20.54")}, {}}, {}};
  EXPECT_EQ(judge(e).outcome, Outcome::leak);
  EXPECT_TRUE(has(judge(e), "unexpected_resolver"));
}

TEST(Judge, BaselineResolverSeenAgainIsALeak) {
  const Evidence e{{resolver("10.77.10.53", kIsp)}, {exit_at("10.77.10.99", kIsp)}, {}, {{ip("10.77.10.53")}, {}}};
  const Verdict v = judge(e);
  EXPECT_EQ(v.outcome, Outcome::leak);
  EXPECT_TRUE(has(v, "baseline_resolver_seen"));
}

TEST(Judge, ForwardedSubnetIsAWarning) {
  ResolverEvidence r = resolver("10.77.20.53", kVpn);
  dns::ClientSubnet subnet;
  subnet.family = 1;
  subnet.source_prefix = 24;
  subnet.address = {198, 51, 100};
  r.client_subnet = subnet;
  const Verdict v = judge({{r}, {exit_at("10.77.0.3", kVpn)}, {}, {}});
  EXPECT_EQ(v.outcome, Outcome::no_leak);
  ASSERT_TRUE(has(v, "resolver_forwards_subnet"));
  const auto f = std::find_if(v.findings.begin(), v.findings.end(),
                              [](const Finding& x) { return x.code == "resolver_forwards_subnet"; });
  EXPECT_NE(f->reason.find("198.51.100.0/24"), std::string::npos) << f->reason;
}

TEST(Judge, InconclusiveWithoutEnoughToCompare) {
  EXPECT_EQ(judge({}).outcome, Outcome::inconclusive);
  EXPECT_TRUE(has(judge({}), "no_resolver_seen"));
  const Verdict no_exit = judge({{resolver("10.77.20.53", kVpn)}, {}, {}, {}});
  EXPECT_EQ(no_exit.outcome, Outcome::inconclusive);
  EXPECT_TRUE(has(no_exit, "no_exit_seen"));
  const Verdict unknown = judge({{resolver("192.0.2.1", Network{})}, {exit_at("10.77.0.3", kVpn)}, {}, {}});
  EXPECT_EQ(unknown.outcome, Outcome::inconclusive);
  EXPECT_TRUE(has(unknown, "resolver_network_unknown"));
}

TEST(Judge, ReasonsNameTheResolverAndItsNetwork) {
  const Verdict v = judge({{resolver("10.77.10.53", kIsp)}, {exit_at("10.77.0.3", kVpn)}, {}, {}});
  const auto f = std::find_if(v.findings.begin(), v.findings.end(),
                              [](const Finding& x) { return x.code == "resolver_network_differs"; });
  ASSERT_NE(f, v.findings.end());
  EXPECT_EQ(f->severity, Severity::leak);
  EXPECT_NE(f->reason.find("10.77.10.53 (AS64500 Example ISP)"), std::string::npos) << f->reason;
}

}  // namespace
}  // namespace dnsleak::verdict
