// The local machine's readers on recorded and hand-made inputs, bad ones included: resolv.conf
// and nsswitch.conf, netlink replies recorded in the lab (tests/data/host/<scenario>/, written by
// `dnsleak inspect --record`), the capture decoder, and the verdict with local evidence.
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli/host_commands.h"
#include "cli/local_evidence.h"
#include "dns_test_support.h"
#include "host/capture.h"
#include "host/firewall.h"
#include "host/inspect.h"
#include "host/resolver_config.h"
#include "host/snapshot.h"
#include "host/source.h"
#include "verdict/verdict.h"

namespace dnsleak {
namespace {

using verdict::Certainty;
using verdict::ResolverPath;
using verdict::Severity;

const std::string kRecordings = std::string(DNSLEAK_SOURCE_DIR) + "/tests/data/host/";

net::IpAddress ip(const char* text) { return *net::parse_ip(text); }

std::vector<std::string> codes(const std::vector<verdict::Finding>& findings, std::optional<Severity> only = {}) {
  std::vector<std::string> out;
  for (const verdict::Finding& f : findings) {
    if (!only || f.severity == *only) out.push_back(f.code);
  }
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

host::Snapshot replayed(const std::string& scenario) {
  Result<std::unique_ptr<host::HostSource>> source = host::replay_host(kRecordings + scenario);
  EXPECT_TRUE(source.has_value()) << scenario;
  return host::take_snapshot(**source);
}

std::vector<std::byte> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

// --- resolv.conf and nsswitch.conf ---------------------------------------------------------------

TEST(ResolvConf, ReadsServersSearchAndOptionsAsGlibcDoes) {
  const host::ResolvConf c = host::parse_resolv_conf(
      "# written by NetworkManager\n"
      "; old style comment\n"
      "domain corp.example\n"
      "search lan home.arpa   # the last search line wins\n"
      "nameserver 10.8.0.1\n"
      "nameserver\tfe80::1%eth0\n"
      "nameserver 2001:db8::53 ; trailing comment\n"
      "nameserver 192.0.2.53\n"
      "options edns0 timeout:2\r\n"
      "sortlist 130.155.160.0/255.255.240.0\n");
  ASSERT_EQ(c.nameservers.size(), 4u);
  EXPECT_EQ(c.nameservers[0].address, ip("10.8.0.1"));
  EXPECT_EQ(c.nameservers[1].address, ip("fe80::1"));
  EXPECT_EQ(c.nameservers[1].zone, "eth0");
  EXPECT_EQ(c.nameservers[2].address, ip("2001:db8::53"));
  EXPECT_EQ(c.nameservers[3].line, 8u);
  EXPECT_EQ(c.search, (std::vector<std::string>{"lan", "home.arpa"}));
  EXPECT_EQ(c.options, (std::vector<std::string>{"edns0", "timeout:2"}));
  EXPECT_TRUE(c.problems.empty()) << c.problems.front();
}

TEST(ResolvConf, BadLinesAreReportedAndSkipped) {
  std::string text = "nameserver 1.2.3\nnameserver\nfrobnicate yes\nnameserver 9.9.9.9\n";
  text += "nameserver " + std::string(5000, '1') + "\n";
  text += std::string("nameserver 1.1.1.1\0x\n", 21);
  text += "\xff\xfe garbage \x01\n";
  const host::ResolvConf c = host::parse_resolv_conf(text);
  ASSERT_EQ(c.nameservers.size(), 1u);
  EXPECT_EQ(c.nameservers[0].address, ip("9.9.9.9"));
  ASSERT_EQ(c.problems.size(), 6u);
  EXPECT_EQ(c.problems[0], "line 1: '1.2.3' is not an IP address; ignored");
  EXPECT_EQ(c.problems[1], "line 2: 'nameserver' without an address; ignored");
  EXPECT_NE(c.problems[2].find("unknown keyword 'frobnicate'"), std::string::npos);
  EXPECT_NE(c.problems[3].find("longer than 4096"), std::string::npos);
  EXPECT_NE(c.problems[4].find("NUL"), std::string::npos);
  EXPECT_NE(c.problems[5].find("'?"
                               "?'"),
            std::string::npos);  // unprintable bytes shown as '?'
}

TEST(ResolvConf, AHugeFileIsReadOnlyToItsLimit) {
  std::string text;
  while (text.size() <= host::kMaxConfigFile + 100) text += "nameserver 10.0.0.1\n";
  const host::ResolvConf c = host::parse_resolv_conf(text);
  EXPECT_EQ(c.problems.front().rfind("the file is larger than", 0), 0u) << c.problems.front();
  EXPECT_GT(c.nameservers.size(), 1000u);
}

TEST(NsSwitch, ReadsTheHostsSourcesWithoutTheActions) {
  const host::NsSwitchHosts h = host::parse_nsswitch_hosts(
      "passwd: files\nhosts:  files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns # comment\n");
  EXPECT_TRUE(h.found);
  EXPECT_EQ(h.sources, (std::vector<std::string>{"files", "mdns4_minimal", "resolve", "dns"}));
  EXPECT_FALSE(host::parse_nsswitch_hosts("passwd: files\n").found);
  EXPECT_TRUE(host::parse_nsswitch_hosts("hosts:\n").sources.empty());
}

// --- recordings of the lab's client ----------------------------------------------------------------

TEST(Recordings, FullLeakShowsTheIspResolverRoutedOverEth0) {
  const host::Snapshot s = replayed("full-leak");
  EXPECT_TRUE(s.problems.empty()) << s.problems.front();
  ASSERT_EQ(s.tunnels().size(), 1u);
  EXPECT_EQ(s.tunnels()[0]->name, "tun0");
  EXPECT_EQ(s.tunnels()[0]->kind, "tun");
  ASSERT_NE(s.link("eth0"), nullptr);
  EXPECT_EQ(s.link("eth0")->kind, "veth");
  EXPECT_FALSE(s.link("eth0")->tunnel());
  EXPECT_TRUE(s.link("lo")->loopback());
  ASSERT_EQ(s.resolvers.size(), 1u);
  EXPECT_EQ(s.resolvers[0].address, ip("10.77.10.53"));
  EXPECT_EQ(s.resolvers[0].path, ResolverPath::outside);
  EXPECT_EQ(s.resolvers[0].interface, "eth0");
  EXPECT_EQ(s.resolvers[0].gateway, ip("10.77.1.1"));
  EXPECT_EQ(s.resolvers[0].source, ip("10.77.1.2"));
  EXPECT_EQ(s.internet4.path, ResolverPath::tunnel);   // the VPN's default route
  EXPECT_EQ(s.internet6.path, ResolverPath::outside);  // the lab's IPv6 is not tunnelled
  const bool default_via_tun = std::any_of(s.routes.begin(), s.routes.end(), [&](const host::Route& r) {
    return r.is_default() && r.destination.address.family == 4 && r.link == s.link("tun0")->index;
  });
  EXPECT_TRUE(default_via_tun);

  // The kernel's three default policy rules, per family where it has them.
  const auto main_rule = std::find_if(s.rules.begin(), s.rules.end(), [](const host::RoutingRule& r) {
    return r.family == 4 && r.priority == 32766 && r.table == 254;
  });
  EXPECT_NE(main_rule, s.rules.end());
  EXPECT_TRUE(std::any_of(s.rules.begin(), s.rules.end(), [](const host::RoutingRule& r) { return r.table == 255; }));
  const std::vector<verdict::Finding> f = host::inspect(s);
  EXPECT_EQ(codes(f, Severity::leak), (std::vector<std::string>{"resolver_outside_tunnel"}));
  EXPECT_TRUE(has(codes(f, Severity::warning), "ipv6_outside_tunnel"));
  const auto outside =
      std::find_if(f.begin(), f.end(), [](const auto& x) { return x.code == "resolver_outside_tunnel"; });
  EXPECT_NE(outside->fix.find("sudo ip route replace 10.77.10.53 dev tun0"), std::string::npos);
  EXPECT_NE(outside->reason.find("over eth0 via 10.77.1.1"), std::string::npos);
}

TEST(Recordings, NoLeakHasNoLeakRisk) {
  const host::Snapshot s = replayed("no-leak");
  ASSERT_EQ(s.resolvers.size(), 1u);
  EXPECT_EQ(s.resolvers[0].path, ResolverPath::tunnel);
  EXPECT_EQ(s.resolvers[0].interface, "tun0");
  EXPECT_TRUE(codes(host::inspect(s), Severity::leak).empty());
  const verdict::LocalEvidence e = host::local_evidence(s);
  EXPECT_TRUE(e.gathered);
  EXPECT_EQ(e.tunnels, (std::vector<std::string>{"tun0"}));
  ASSERT_EQ(e.resolvers.size(), 1u);
  EXPECT_EQ(e.resolvers[0].path, ResolverPath::tunnel);
  EXPECT_EQ(cli::non_tunnel_interfaces(s), (std::vector<std::string>{"eth0"}));
}

TEST(Recordings, ALocalForwarderAndAnUnreachableResolverAreNamed) {
  const std::vector<std::string> parallel = codes(host::inspect(replayed("parallel")));
  EXPECT_TRUE(has(parallel, "local_stub_upstreams_unknown"));
  const host::Snapshot fallback = replayed("fallback-leak");
  ASSERT_EQ(fallback.resolvers.size(), 2u);
  EXPECT_EQ(fallback.resolvers[0].path, ResolverPath::unreachable);
  EXPECT_EQ(fallback.resolvers[1].path, ResolverPath::outside);
  EXPECT_EQ(fallback.resolvers[1].address, ip("fd77:0:0:10::53"));
  const std::vector<std::string> f = codes(host::inspect(fallback));
  EXPECT_TRUE(has(f, "resolver_unreachable"));
  EXPECT_TRUE(has(f, "resolver_outside_tunnel"));
}

TEST(Recordings, TruncatedAndGarbledNetlinkRepliesFailCleanly) {
  for (const char* dump : {"links.nl", "addresses.nl", "routes.nl", "rules.nl"}) {
    const std::vector<std::byte> whole = file_bytes(kRecordings + "full-leak/" + dump);
    ASSERT_GT(whole.size(), 100u) << dump;
    size_t failures = 0;
    for (size_t cut = 1; cut < whole.size(); cut += 7) {
      const std::span<const std::byte> part(whole.data(), cut);
      const std::string kind = dump;
      const bool ok = kind == "links.nl"       ? host::parse_links(part).has_value()
                      : kind == "addresses.nl" ? host::parse_addresses(part).has_value()
                      : kind == "rules.nl"     ? host::parse_rules(part).has_value()
                                               : host::parse_routes(part).has_value();
      failures += ok ? 0 : 1;
    }
    EXPECT_GT(failures, 0u) << dump;  // cut mid-message: an error, never a crash
    std::vector<std::byte> garbled = whole;
    for (size_t i = 0; i < garbled.size(); i += 13) garbled[i] = std::byte{0xff};
    (void)host::parse_links(garbled);  // any outcome but a crash (run under ASan in scripts/test)
    (void)host::parse_routes(garbled);
  }
  const std::vector<std::byte> links = file_bytes(kRecordings + "full-leak/links.nl");
  const Result<std::vector<host::Link>> cut = host::parse_links(std::span(links).first(30));
  ASSERT_FALSE(cut.has_value());
  EXPECT_NE(cut.error().message.find("truncated"), std::string::npos) << cut.error().message;
}

TEST(Recordings, AKernelErrorIsAnUnreachableRoute) {
  std::array<std::byte, NLMSG_SPACE(sizeof(nlmsgerr))> reply{};
  auto* h = reinterpret_cast<nlmsghdr*>(reply.data());
  h->nlmsg_len = NLMSG_LENGTH(sizeof(nlmsgerr));
  h->nlmsg_type = NLMSG_ERROR;
  auto* err = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h));
  err->error = -ENETUNREACH;
  const Result<host::RouteChoice> choice = host::parse_route_choice(reply);
  ASSERT_TRUE(choice.has_value());
  EXPECT_FALSE(choice->reachable);
  EXPECT_EQ(choice->why_not, std::strerror(ENETUNREACH));
  err->error = -ENOMEM;
  EXPECT_FALSE(host::parse_route_choice(reply).has_value());
  EXPECT_FALSE(host::parse_route_choice({}).has_value());  // no answer at all
}

TEST(Recordings, AMissingRecordingOrAPathOutsideItIsAnError) {
  EXPECT_FALSE(host::replay_host("/nonexistent/recording").has_value());
  Result<std::unique_ptr<host::HostSource>> source = host::replay_host(kRecordings + "no-leak");
  ASSERT_TRUE(source.has_value());
  EXPECT_EQ((*source)->read_file("/etc/hosts").error().system_errno, ENOENT);
  EXPECT_FALSE((*source)->read_file("/etc/../../secret").has_value());
  EXPECT_FALSE((*source)->read_file("relative").has_value());
  EXPECT_EQ((*source)->route_get(ip("192.0.2.99")).error().system_errno, ENOENT);
}

TEST(Recordings, RecordingThenReplayingGivesTheSameSnapshot) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dnsleak-record-" + std::to_string(::getpid()));
  Result<std::unique_ptr<host::HostSource>> inner = host::replay_host(kRecordings + "full-leak");
  ASSERT_TRUE(inner.has_value());
  Result<std::unique_ptr<host::HostSource>> recording = host::recording_host(std::move(*inner), dir.string());
  ASSERT_TRUE(recording.has_value());
  const host::Snapshot first = host::take_snapshot(**recording);
  Result<std::unique_ptr<host::HostSource>> again = host::replay_host(dir.string());
  ASSERT_TRUE(again.has_value());
  const host::Snapshot second = host::take_snapshot(**again);
  EXPECT_EQ(boost::json::serialize(cli::inspect_json(first, host::inspect(first))),
            boost::json::serialize(cli::inspect_json(second, host::inspect(second))));
  std::filesystem::remove_all(dir);
}

// --- the capture decoder -------------------------------------------------------------------------

std::vector<std::byte> frame(bool ipv6, bool tcp, uint16_t dport, const std::vector<std::byte>& dns,
                             bool vlan = false) {
  std::vector<uint8_t> f(12, 0x02);  // MAC addresses
  if (vlan) f.insert(f.end(), {0x81, 0x00, 0x00, 0x05});
  f.insert(f.end(), ipv6 ? std::initializer_list<uint8_t>{0x86, 0xdd} : std::initializer_list<uint8_t>{0x08, 0x00});
  std::vector<uint8_t> l4;
  l4.insert(l4.end(), {0xa0, 0x00, static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport)});
  std::vector<uint8_t> payload;
  if (tcp) payload.insert(payload.end(), {static_cast<uint8_t>(dns.size() >> 8), static_cast<uint8_t>(dns.size())});
  for (const std::byte b : dns) payload.push_back(static_cast<uint8_t>(b));
  if (tcp) {
    l4.insert(l4.end(), {0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});
  } else {
    const size_t length = 8 + payload.size();
    l4.insert(l4.end(), {static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 0, 0});
  }
  l4.insert(l4.end(), payload.begin(), payload.end());
  const uint8_t protocol = tcp ? 6 : 17;
  if (ipv6) {
    f.insert(f.end(),
             {0x60, 0, 0, 0, static_cast<uint8_t>(l4.size() >> 8), static_cast<uint8_t>(l4.size()), protocol, 64});
    for (int i = 0; i < 15; ++i) f.push_back(i == 0 ? 0xfd : 0);
    f.push_back(2);
    for (int i = 0; i < 15; ++i) f.push_back(i == 0 ? 0xfd : 0);
    f.push_back(0x53);
  } else {
    const size_t total = 20 + l4.size();
    f.insert(f.end(), {0x45,
                       0,
                       static_cast<uint8_t>(total >> 8),
                       static_cast<uint8_t>(total),
                       0,
                       0,
                       0x40,
                       0,
                       64,
                       protocol,
                       0,
                       0,
                       10,
                       77,
                       1,
                       2,
                       10,
                       77,
                       10,
                       53});
  }
  f.insert(f.end(), l4.begin(), l4.end());
  f.resize(std::max<size_t>(f.size(), 60));  // Ethernet's minimum, padded as a NIC does
  std::vector<std::byte> out(f.size());
  std::memcpy(out.data(), f.data(), f.size());
  return out;
}

TEST(Capture, DecodesQueriesOverEthernetUdpTcpAndIpv6) {
  const std::vector<std::byte> query = testing::make_query({.name = "AbC-p0.leak.test", .qtype = 28});
  for (const bool ipv6 : {false, true}) {
    for (const bool tcp : {false, true}) {
      const Result<std::optional<host::CapturedDns>> p =
          host::decode_frame(1 /* DLT_EN10MB */, frame(ipv6, tcp, 53, query));
      ASSERT_TRUE(p.has_value()) << p.error().message;
      ASSERT_TRUE(p->has_value());
      const host::CapturedDns& d = **p;
      EXPECT_TRUE(d.decoded);
      EXPECT_EQ(d.name, "AbC-p0.leak.test");
      EXPECT_EQ(d.qtype, 28);
      EXPECT_FALSE(d.response);
      EXPECT_EQ(d.destination_port, 53);
      EXPECT_EQ(d.transport, tcp ? net::Transport::tcp : net::Transport::udp);
      EXPECT_EQ(d.destination, ip(ipv6 ? "fd00::53" : "10.77.10.53"));
      EXPECT_EQ(cli::watch_line("eth0", d).find("eth0  dns/"), 0u);
    }
  }
  const auto vlan = host::decode_frame(1, frame(false, false, 5355, query, true));
  ASSERT_TRUE(vlan.has_value() && vlan->has_value());
  EXPECT_EQ((*vlan)->kind, host::DnsKind::llmnr);
  const auto mdns = host::decode_frame(1, frame(false, false, 5353, query));
  ASSERT_TRUE(mdns.has_value() && mdns->has_value());
  EXPECT_EQ((*mdns)->kind, host::DnsKind::mdns);
}

TEST(Capture, WhatIsNotDnsIsNothingAndWhatIsMalformedIsAnError) {
  const std::vector<std::byte> query = testing::make_query({.name = "x.leak.test"});
  const auto other_port = host::decode_frame(1, frame(false, false, 80, query));
  ASSERT_TRUE(other_port.has_value());
  EXPECT_FALSE(other_port->has_value());
  // DoT: reported on the SYN only, never decoded.
  const auto dot_data = host::decode_frame(1, frame(false, true, 853, query));
  ASSERT_TRUE(dot_data.has_value());
  EXPECT_FALSE(dot_data->has_value());
  EXPECT_FALSE(host::decode_frame(147, frame(false, false, 53, query)).has_value());  // unknown link type
  // Every truncation of every kind of frame: an answer or an error, never a read past the end.
  for (const bool ipv6 : {false, true}) {
    for (const bool tcp : {false, true}) {
      const std::vector<std::byte> whole = frame(ipv6, tcp, 53, query);
      for (size_t cut = 0; cut < whole.size(); ++cut) {
        const std::vector<std::byte> part(whole.begin(), whole.begin() + static_cast<long>(cut));
        (void)host::decode_frame(1, part);
      }
    }
  }
  std::vector<std::byte> bad_name = frame(false, false, 53, query);
  bad_name[14 + 20 + 8 + 12] = std::byte{0xc0};  // a compression pointer at the question: forward, refused
  const auto refused = host::decode_frame(1, bad_name);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("name"), std::string::npos);
}

TEST(Capture, TheTestNamesAreFoundAmongWhatWasSeenWithoutCase) {
  host::CapturedDns a;
  a.decoded = true;
  a.name = "ABC-p0.Leak.Test";
  a.destination = ip("10.77.10.53");
  host::CapturedDns other = a;
  other.name = "example.com";
  const std::vector<verdict::LocalLeak> leaks = cli::leaks_among(
      {{"eth0", a}, {"eth0", a}, {"wlan0", a}, {"eth0", other}}, {"abc-p0.leak.test.", "abc-p1.leak.test"});
  ASSERT_EQ(leaks.size(), 2u);  // once per interface
  EXPECT_EQ(leaks[0].name, "abc-p0.leak.test");
  EXPECT_EQ(leaks[1].interface, "wlan0");
}

// --- the verdict with local evidence -------------------------------------------------------------

verdict::Evidence server_sees_public_resolver() {
  verdict::Evidence e;
  verdict::Network pub{64502, "Example Public DNS", "XC", "Example Public DNS"};
  e.resolvers.push_back({ip("10.77.30.53"), pub, {}});
  e.egress.push_back({ip("10.77.0.3"), {64501, "Example VPN", "XB", ""}});
  return e;
}

TEST(LocalVerdict, TheServerAloneCannotTellAPublicResolverReachedOutside) {
  const verdict::Verdict alone = verdict::judge(server_sees_public_resolver());
  EXPECT_EQ(alone.outcome, verdict::Outcome::no_leak);
  EXPECT_EQ(alone.certainty, Certainty::unknown);
  const auto pub = std::find_if(alone.findings.begin(), alone.findings.end(),
                                [](const auto& f) { return f.code == "public_resolver"; });
  ASSERT_NE(pub, alone.findings.end());
  EXPECT_NE(pub->fix.find("dnsleak test"), std::string::npos);

  verdict::Evidence routed = server_sees_public_resolver();
  routed.local.gathered = true;
  routed.local.tunnels = {"tun0"};
  routed.local.resolvers.push_back({ip("10.77.30.53"), ResolverPath::outside, "eth0", false});
  const verdict::Verdict by_route = verdict::judge(routed);
  EXPECT_EQ(by_route.outcome, verdict::Outcome::leak);
  EXPECT_EQ(by_route.certainty, Certainty::likely);
  EXPECT_TRUE(has(codes(by_route.findings, Severity::leak), "resolver_outside_tunnel"));

  routed.local.captured = true;
  routed.local.capture_interfaces = {"eth0"};
  routed.local.leaks.push_back({"t-p0.leak.test", "eth0", ip("10.77.30.53")});
  routed.local.leaks.push_back({"t-p1.leak.test", "eth0", ip("10.77.30.53")});
  const verdict::Verdict captured = verdict::judge(routed);
  EXPECT_EQ(captured.outcome, verdict::Outcome::leak);
  EXPECT_EQ(captured.certainty, Certainty::proven);
  const auto seen = std::find_if(captured.findings.begin(), captured.findings.end(),
                                 [](const auto& f) { return f.code == "test_names_seen_leaving"; });
  ASSERT_NE(seen, captured.findings.end());
  EXPECT_NE(seen->reason.find("2 of the test's names"), std::string::npos) << seen->reason;
  EXPECT_EQ(seen->certainty, Certainty::proven);
  EXPECT_FALSE(seen->fix.empty());
}

TEST(LocalVerdict, ThroughTheTunnelAndNothingCapturedProvesACleanResult) {
  verdict::Evidence e = server_sees_public_resolver();
  e.local.gathered = true;
  e.local.tunnels = {"tun0"};
  e.local.resolvers.push_back({ip("10.77.30.53"), ResolverPath::tunnel, "tun0", false});
  e.local.captured = true;
  e.local.capture_interfaces = {"eth0"};
  const verdict::Verdict v = verdict::judge(e);
  EXPECT_EQ(v.outcome, verdict::Outcome::no_leak);
  EXPECT_EQ(v.certainty, Certainty::proven);
  EXPECT_TRUE(has(codes(v.findings), "nothing_seen_leaving"));
  EXPECT_TRUE(has(codes(v.findings), "resolvers_through_tunnel"));
  // Without a capture (not root): likely, and what was not checked is said.
  e.local.captured = false;
  e.local.unchecked = {"a capture needs CAP_NET_RAW"};
  const verdict::Verdict unprivileged = verdict::judge(e);
  EXPECT_EQ(unprivileged.outcome, verdict::Outcome::no_leak);
  EXPECT_EQ(unprivileged.certainty, Certainty::likely);
  EXPECT_TRUE(has(codes(unprivileged.findings), "not_checked"));
}

TEST(LocalVerdict, WithoutATunnelARouteOutsideIsNoLeak) {
  verdict::Evidence e;
  verdict::Network isp{64500, "Example ISP", "XA", ""};
  e.resolvers.push_back({ip("10.77.10.53"), isp, {}});
  e.egress.push_back({ip("10.77.0.2"), isp});
  e.local.gathered = true;
  e.local.resolvers.push_back({ip("10.77.10.53"), ResolverPath::outside, "eth0", false});
  const verdict::Verdict v = verdict::judge(e);
  EXPECT_EQ(v.outcome, verdict::Outcome::no_leak);
  EXPECT_TRUE(has(codes(v.findings), "no_tunnel_found"));
  EXPECT_FALSE(has(codes(v.findings), "resolver_outside_tunnel"));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

// The VPN case from the lab: IPv4 exit in AS64501, the ISP in AS64500 (seen from eth0).
verdict::Evidence through_the_tunnel_to(const char* resolver, verdict::Network network, bool underlay) {
  verdict::Evidence e;
  e.resolvers.push_back({*net::parse_ip(resolver), std::move(network), {}});
  e.egress.push_back({*net::parse_ip("10.77.0.3"), {64501, "Example VPN", "XB", ""}});
  e.local.gathered = true;
  e.local.tunnels = {"tun0"};
  e.local.resolvers.push_back({*net::parse_ip(resolver), verdict::ResolverPath::tunnel, "tun0", false});
  e.local.captured = true;
  e.local.capture_interfaces = {"eth0"};
  if (underlay) {
    e.local.underlay.push_back({"eth0", 4, *net::parse_ip("10.77.0.2"), {64500, "Example ISP", "XA", ""}, ""});
  }
  return e;
}

TEST(LocalVerdict, TheUnderlayTellsTheProvidersResolverFromTheIsps) {
  const verdict::Network farm{64504, "Example Cloud", "XD", ""};
  const verdict::Network isp{64500, "Example ISP", "XA", ""};
  // The provider's second resolver: neither the exit's network nor the ISP's, through the tunnel.
  const verdict::Verdict cleared = verdict::judge(through_the_tunnel_to("10.77.40.53", farm, true));
  EXPECT_EQ(cleared.outcome, verdict::Outcome::no_leak);
  EXPECT_TRUE(has(codes(cleared.findings), "resolver_elsewhere_through_tunnel"));
  EXPECT_TRUE(has(codes(cleared.findings), "isp_network_seen"));
  // The ISP's resolver reached through the tunnel: still the ISP's.
  const verdict::Verdict isp_seen = verdict::judge(through_the_tunnel_to("10.77.10.53", isp, true));
  EXPECT_EQ(isp_seen.outcome, verdict::Outcome::leak);
  EXPECT_TRUE(has(codes(isp_seen.findings, Severity::leak), "resolver_in_isp_network"));
  // Without the ISP's network, the provider's resolver can be neither cleared nor blamed.
  const verdict::Verdict unknown = verdict::judge(through_the_tunnel_to("10.77.40.53", farm, false));
  EXPECT_EQ(unknown.outcome, verdict::Outcome::inconclusive);
  EXPECT_TRUE(has(codes(unknown.findings), "resolver_network_unexplained"));
  // A baseline stands in for the underlay.
  verdict::Evidence with_baseline = through_the_tunnel_to("10.77.40.53", farm, false);
  with_baseline.baseline.asns = {64500};
  EXPECT_EQ(verdict::judge(with_baseline).outcome, verdict::Outcome::no_leak);
  // The server alone says the resolver's network differs, and that it cannot tell the farm apart.
  verdict::Evidence server = through_the_tunnel_to("10.77.40.53", farm, true);
  server.local = {};
  const verdict::Verdict alone = verdict::judge(server);
  EXPECT_EQ(alone.outcome, verdict::Outcome::leak);
  EXPECT_EQ(alone.certainty, Certainty::likely);
  const auto differs = std::find_if(alone.findings.begin(), alone.findings.end(),
                                    [](const auto& f) { return f.code == "resolver_network_differs"; });
  ASSERT_NE(differs, alone.findings.end());
  EXPECT_NE(differs->reason.find("dnsleak test"), std::string::npos);
}

TEST(LocalVerdict, UnderlayTargetsAreTheUplinksWithADefaultRoute) {
  const std::vector<cli::LocalObserver::UnderlayTarget> targets = cli::underlay_targets_of(replayed("no-leak"));
  // tun0's default route is no target; eth0's metric-600 IPv4 default and its IPv6 default are.
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ((std::pair{targets[0].interface, targets[0].family}), (std::pair{std::string("eth0"), 4}));
  EXPECT_EQ((std::pair{targets[1].interface, targets[1].family}), (std::pair{std::string("eth0"), 6}));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

// Files only, from a map: for the readers that need nothing but read_file.
class FileMap final : public host::HostSource {
 public:
  std::map<std::string, std::string> files;
  Result<std::string> read_file(const std::string& path) override {
    const auto it = files.find(path);
    if (it == files.end()) return std::unexpected(Error{"missing " + path, ENOENT});
    return it->second;
  }
  Result<std::vector<std::byte>> dump(host::Dump) override { return fail("no netlink here"); }
  Result<std::vector<std::byte>> route_get(const net::IpAddress&) override { return fail("no netlink here"); }
  Result<std::string> firewall_ruleset() override { return read_file("nft"); }
  Result<std::string> resolved_state(const std::vector<uint32_t>&) override { return read_file("resolved"); }
  Result<std::string> network_manager_dns() override { return read_file("nm"); }
};

TEST(Browsers, FirefoxPrefsAndProfilesAreRead) {
  host::TrrPrefs prefs;
  host::read_trr_prefs(
      "// Mozilla User Preferences\n"
      "user_pref(\"browser.startup.page\", 3);\n"
      "user_pref(\"network.trr.mode\", 2);\n"
      "user_pref( \"network.trr.uri\" , \"https://doh.example/dns-query\" );\n"
      "user_pref(\"network.trr.mode\", 99);\n"  // out of range: ignored
      "user_pref(\"network.trr.modex\", 3);\n",
      prefs);
  EXPECT_EQ(prefs.mode, 2);
  EXPECT_EQ(prefs.uri, "https://doh.example/dns-query");
  const std::vector<std::string> profiles = host::firefox_profiles(
      "[General]\nStartWithLastProfile=1\n\n[Profile0]\nName=default\nIsRelative=1\nPath=abcd.default-release\r\n\n"
      "[Profile1]\nIsRelative=0\nPath=/data/ff\n[Profile2]\nPath=../../etc\n",
      "/home/u/.mozilla/firefox");
  EXPECT_EQ(profiles, (std::vector<std::string>{"/home/u/.mozilla/firefox/abcd.default-release", "/data/ff"}));
}

TEST(Browsers, OnlyTheSettingsThatBypassTheSystemResolverAreReported) {
  FileMap files;
  files.files["/home/u/.mozilla/firefox/profiles.ini"] = "[Profile0]\nPath=p1\n[Profile1]\nPath=p2\n";
  files.files["/home/u/.mozilla/firefox/p1/prefs.js"] = "user_pref(\"network.trr.mode\", 3);\n";
  files.files["/home/u/.mozilla/firefox/p2/prefs.js"] = "user_pref(\"network.trr.mode\", 3);\n";
  files.files["/home/u/.mozilla/firefox/p2/user.js"] = "user_pref(\"network.trr.mode\", 5);\n";  // wins
  files.files["/home/u/.config/chromium/Local State"] =
      R"({"dns_over_https":{"mode":"secure","templates":"https://dns.example/dns-query{?dns}"}})";
  files.files["/home/u/.config/google-chrome/Local State"] = R"({"dns_over_https":{"mode":"automatic"}})";
  files.files["/home/u/.config/BraveSoftware/Brave-Browser/Local State"] = "not json {";
  const std::vector<host::BrowserDns> found = host::browser_dns(files, "/home/u");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].browser, "Firefox");
  EXPECT_EQ(found[0].profile, "p1");
  EXPECT_EQ(found[0].mode, "3");
  EXPECT_NE(found[0].resolver.find("Firefox's default"), std::string::npos);
  EXPECT_EQ(found[1].browser, "Chromium");
  EXPECT_EQ(found[1].resolver, "https://dns.example/dns-query{?dns}");
  EXPECT_TRUE(host::browser_dns(files, "").empty());
  EXPECT_TRUE(host::browser_dns(files, "relative").empty());

  host::Snapshot s;
  s.browsers = found;
  const std::vector<verdict::Finding> f = host::inspect(s);
  const auto doh = std::count_if(f.begin(), f.end(), [](const auto& x) { return x.code == "browser_own_doh"; });
  EXPECT_EQ(doh, 2);
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

TEST(ServerVerdict, ASubnetOutsideTheExitsNetworkProvesTheQueryCameFromOutside) {
  verdict::Evidence e;
  dns::ClientSubnet subnet;
  subnet.family = 1;
  subnet.source_prefix = 24;
  subnet.address = {10, 77, 1, 0};
  e.resolvers.push_back({*net::parse_ip("10.77.30.53"),
                         {64502, "Example Public DNS", "XC", "Example Public DNS"},
                         subnet,
                         verdict::Network{64500, "Example ISP", "XA", ""}});
  e.egress.push_back({*net::parse_ip("10.77.0.3"), {64501, "Example VPN", "XB", ""}});
  const verdict::Verdict v = verdict::judge(e);
  EXPECT_EQ(v.outcome, verdict::Outcome::leak);
  EXPECT_EQ(v.certainty, Certainty::proven);
  EXPECT_TRUE(has(codes(v.findings, Severity::leak), "subnet_outside_exit_network"));
  // The same subnet in the exit's network: forwarded, said, but no leak.
  e.resolvers[0].client_subnet_network = verdict::Network{64501, "Example VPN", "XB", ""};
  const verdict::Verdict clean = verdict::judge(e);
  EXPECT_NE(clean.outcome, verdict::Outcome::leak);
  EXPECT_TRUE(has(codes(clean.findings, Severity::warning), "resolver_forwards_subnet"));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

host::FirewallOutcome outcome(const std::string& ruleset, const char* interface,
                              net::Transport transport = net::Transport::udp, const char* to = "198.51.100.53") {
  const Result<host::Ruleset> r = host::parse_ruleset(ruleset);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return host::evaluate(*r, {interface, transport, 53, *net::parse_ip(to)}).outcome;
}

// As `nft -j list ruleset` prints them (libnftables 1.0.6, json_schema_version 1).
const std::string kBystander = R"({"nftables": [
 {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "bystander", "handle": 1}},
 {"chain": {"family": "inet", "table": "bystander", "name": "out", "handle": 1, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "bystander", "name": "sub", "handle": 2}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "out", "handle": 3, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "out", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "lo"}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "out", "handle": 10, "expr": [{"jump": {"target": "sub"}}]}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "out", "handle": 5, "expr": [{"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": {"set": ["lo", "tun0"]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"counter": {"packets": 0, "bytes": 0}}, {"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "out", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth*"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [53, 853]}}}, {"drop": null}]}},
 {"rule": {"family": "inet", "table": "bystander", "chain": "sub", "handle": 11, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.0.0.0", "len": 8}}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}}
]})";

TEST(Firewall, ARulesetIsFollowedAsTheKernelWould) {
  EXPECT_EQ(outcome(kBystander, "eth0"), host::FirewallOutcome::stopped);  // rule 5
  EXPECT_EQ(outcome(kBystander, "tun0"), host::FirewallOutcome::passes);
  EXPECT_EQ(outcome(kBystander, "eth0", net::Transport::tcp), host::FirewallOutcome::stopped);  // rule 7, eth*
  EXPECT_EQ(outcome(kBystander, "wlan0", net::Transport::tcp), host::FirewallOutcome::passes);
  // The jumped-to chain accepts 10/8 before rule 5 is reached.
  EXPECT_EQ(outcome(kBystander, "eth0", net::Transport::udp, "10.1.2.3"), host::FirewallOutcome::passes);
  EXPECT_EQ(outcome(kBystander, "eth0", net::Transport::udp, "2001:db8::1"), host::FirewallOutcome::stopped);
  const Result<host::Ruleset> r = host::parse_ruleset(kBystander);
  EXPECT_EQ(host::evaluate(*r, {"eth0", net::Transport::udp, 53, *net::parse_ip("198.51.100.53")}).where,
            "table inet bystander, chain out, rule 5");
}

TEST(Firewall, WhatItCannotReadIsUnknownNeverAGuess) {
  const std::string skuid = R"({"nftables": [
   {"chain": {"family": "ip", "table": "t", "name": "c", "hook": "output", "policy": "accept"}},
   {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": 0}}, {"drop": null}]}}]})";
  EXPECT_EQ(outcome(skuid, "eth0"), host::FirewallOutcome::unknown);
  // An IPv4-only table says nothing of IPv6.
  EXPECT_EQ(outcome(skuid, "eth0", net::Transport::udp, "2001:db8::1"), host::FirewallOutcome::passes);
  const std::string policy_drop = R"({"nftables": [
   {"chain": {"family": "inet", "table": "t", "name": "c", "hook": "output", "policy": "drop"}},
   {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "tun0"}}, {"accept": null}]}},
   {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 3, "expr": [{"xt": {"type": "match", "name": "owner"}}, {"accept": null}]}}]})";
  EXPECT_EQ(outcome(policy_drop, "tun0"), host::FirewallOutcome::passes);
  EXPECT_EQ(outcome(policy_drop, "eth0"), host::FirewallOutcome::unknown);  // the xt statement
  // A future schema's unknown objects are skipped; what is not a listing fails.
  EXPECT_TRUE(host::parse_ruleset(R"({"nftables": [{"flowtable": {}}, {"future": 1}, 7]})").has_value());
  EXPECT_FALSE(host::parse_ruleset("not json").has_value());
  EXPECT_FALSE(host::parse_ruleset(R"({"tables": []})").has_value());
  EXPECT_EQ(outcome(R"({"nftables": []})", "eth0"), host::FirewallOutcome::passes);
}

TEST(Firewall, InspectSaysWhetherDnsCanLeaveOutsideTheTunnel) {
  host::Snapshot s = replayed("full-leak");
  const Result<host::Ruleset> r = host::parse_ruleset(kBystander);
  for (const net::Transport t : {net::Transport::udp, net::Transport::tcp}) {
    s.firewall.push_back({"eth0", t, 4, host::evaluate(*r, {"eth0", t, 53, *net::parse_ip("198.51.100.53")})});
  }
  EXPECT_TRUE(has(codes(host::inspect(s)), "firewall_stops_dns_outside"));
  s.firewall[1].answer.outcome = host::FirewallOutcome::passes;
  const std::vector<verdict::Finding> f = host::inspect(s);
  const auto lets =
      std::find_if(f.begin(), f.end(), [](const auto& x) { return x.code == "firewall_lets_dns_outside"; });
  ASSERT_NE(lets, f.end());
  EXPECT_NE(lets->fix.find("`sudo dnsleak guard on --tunnel tun0`"), std::string::npos) << lets->fix;
  s.firewall.clear();
  s.firewall_error = "reading the firewall ruleset needs CAP_NET_ADMIN (run as root)";
  EXPECT_TRUE(has(codes(host::inspect(s)), "firewall_not_read"));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

TEST(Resolved, ItsStateIsReadBackAndBadOnesAreRefused) {
  const Result<host::ResolvedState> s = host::parse_resolved(R"({
    "resolv_conf_mode": "stub", "dns_over_tls": "opportunistic", "llmnr": "yes", "mdns": "no",
    "dns": [{"ifindex": 0, "address": "9.9.9.9"}, {"ifindex": 3, "address": "fd00::1"}],
    "fallback_dns": [{"ifindex": 0, "address": "1.1.1.1"}],
    "current_dns": {"ifindex": 0, "address": "1.1.1.1"},
    "links": [{"ifindex": 3, "default_route": true, "llmnr": "yes", "mdns": "no", "dns_over_tls": "no",
               "dns": [{"ifindex": 3, "address": "fd00::1"}],
               "domains": [{"domain": "lan", "routing_only": false}]},
              {"ifindex": 5, "default_route": true, "dns": [], "domains": [{"domain": ".", "routing_only": true}]}]})");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->resolv_conf_mode, "stub");
  ASSERT_EQ(s->servers.size(), 2u);
  EXPECT_EQ(s->servers[0].link, 0u);
  EXPECT_EQ(s->servers[1].address, *net::parse_ip("fd00::1"));
  EXPECT_TRUE(s->has_current);
  EXPECT_EQ(s->current.address, *net::parse_ip("1.1.1.1"));
  ASSERT_EQ(s->links.size(), 2u);
  EXPECT_EQ(s->links[0].servers, (std::vector<net::IpAddress>{*net::parse_ip("fd00::1")}));
  EXPECT_EQ(s->links[1].domains[0].domain, ".");
  EXPECT_TRUE(s->links[1].domains[0].routing_only);
  EXPECT_EQ(s->links[1].domains[0].link, 5u);
  for (const char* bad :
       {"[]", "not json", R"({"dns": "1.1.1.1"})", R"({"dns": [{"address": "1.1.1.1"}]})",
        R"({"dns": [{"ifindex": -1, "address": "1.1.1.1"}]})", R"({"dns": [{"ifindex": 0, "address": "nope"}]})",
        R"({"links": {}})", R"({"links": [{"ifindex": 1, "domains": [7]}]})"}) {
    EXPECT_FALSE(host::parse_resolved(bad).has_value()) << bad;
  }
  EXPECT_TRUE(host::parse_resolved("{}").has_value());  // nothing configured at all
}

TEST(Resolved, InspectNamesLinksThatGetEveryNameOutsideTheTunnel) {
  host::Snapshot s = replayed("full-leak");
  const uint32_t eth0 = s.link("eth0")->index, tun0 = s.link("tun0")->index;
  s.resolved_running = true;
  s.resolved.links = {{eth0, true, "yes", "no", "no", {*net::parse_ip("10.77.10.53")}, {}},
                      {tun0, true, "no", "no", "no", {*net::parse_ip("10.77.20.53")}, {}}};
  s.resolved.fallback = {{0, *net::parse_ip("1.1.1.1")}};
  s.resolved.has_current = true;
  s.resolved.current = {0, *net::parse_ip("1.1.1.1")};
  const std::vector<std::string> f = codes(host::inspect(s));
  EXPECT_TRUE(has(f, "resolved_default_route_outside"));
  EXPECT_TRUE(has(f, "llmnr_outside_tunnel"));
  EXPECT_TRUE(has(f, "resolved_fallback_in_use"));
  s.resolved.links[0].default_route = false;
  s.resolved.links[0].llmnr = "no";
  s.resolved.has_current = false;
  const std::vector<std::string> fixed = codes(host::inspect(s));
  EXPECT_FALSE(has(fixed, "resolved_default_route_outside"));
  EXPECT_FALSE(has(fixed, "llmnr_outside_tunnel"));
  EXPECT_FALSE(has(fixed, "resolved_fallback_in_use"));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

TEST(NetworkManager, ItsDnsConfigurationIsReadAndAMergedVpnIsNamed) {
  const Result<host::NetworkManagerDns> nm = host::parse_network_manager(R"({"mode": "default", "rc_manager": "symlink",
    "configuration": [{"interface": "tun0", "nameservers": ["10.8.0.1"], "priority": 50, "vpn": true},
                      {"interface": "wlan0", "nameservers": ["192.168.1.1", "fd00::1"], "domains": ["lan"],
                       "priority": 100, "vpn": false}]})");
  ASSERT_TRUE(nm.has_value()) << nm.error().message;
  ASSERT_EQ(nm->configuration.size(), 2u);
  EXPECT_TRUE(nm->configuration[0].vpn);
  EXPECT_EQ(nm->configuration[1].nameservers.size(), 2u);
  EXPECT_EQ(nm->configuration[1].domains, (std::vector<std::string>{"lan"}));
  for (const char* bad : {"[]", "{", R"({"configuration": {}})", R"({"configuration": [1]})",
                          R"({"configuration": [{"nameservers": ["nope"]}]})"}) {
    EXPECT_FALSE(host::parse_network_manager(bad).has_value()) << bad;
  }
  host::Snapshot s;
  s.network_manager_running = true;
  s.network_manager = *nm;
  std::vector<verdict::Finding> f = host::inspect(s);
  const auto merged = std::find_if(f.begin(), f.end(), [](const auto& x) { return x.code == "nm_dns_not_exclusive"; });
  ASSERT_NE(merged, f.end());
  EXPECT_NE(merged->reason.find("wlan0's (192.168.1.1, fd00::1, priority 100)"), std::string::npos) << merged->reason;
  EXPECT_NE(merged->fix.find("ipv4.dns-priority -50"), std::string::npos);
  s.network_manager.configuration[0].priority = -1;  // exclusive
  EXPECT_FALSE(has(codes(host::inspect(s)), "nm_dns_not_exclusive"));
  s.network_manager.mode = "none";
  EXPECT_TRUE(has(codes(host::inspect(s)), "nm_vpn_dns_not_applied"));
}

}  // namespace
}  // namespace dnsleak

namespace dnsleak {
namespace {

TEST(CaptureFile, ASavedCaptureIsDecodedTruncatedAndMalformedFramesCounted) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("dnsleak-capture-" + std::to_string(::getpid()) + ".pcap")).string();
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(dumper, nullptr);
  auto write = [&](const std::vector<std::byte>& bytes, size_t caplen) {
    pcap_pkthdr h{};
    h.caplen = static_cast<bpf_u_int32>(caplen);
    h.len = static_cast<bpf_u_int32>(bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, reinterpret_cast<const u_char*>(bytes.data()));
  };
  const std::vector<std::byte> query = testing::make_query({.name = "saved-p0.leak.test"});
  const std::vector<std::byte> good = frame(false, false, 53, query);
  write(good, good.size());
  write(good, 40);  // cut by the snap length inside the UDP header
  std::vector<std::byte> bad = good;
  bad[14] = std::byte{0x75};  // IP version 7
  write(bad, bad.size());
  write(frame(false, false, 80, query), good.size());  // not DNS
  pcap_dump_close(dumper);
  pcap_close(dead);

  std::vector<std::string> names;
  const Result<host::CaptureFileStats> stats =
      host::read_capture_file(path, [&](const host::CapturedDns& p) { names.push_back(p.name); });
  ASSERT_TRUE(stats.has_value()) << stats.error().message;
  EXPECT_EQ(stats->frames, 4u);
  EXPECT_EQ(stats->dns, 1u);
  EXPECT_EQ(stats->undecodable, 2u);
  EXPECT_EQ(names, (std::vector<std::string>{"saved-p0.leak.test"}));
  // A file cut in the middle of a record header, and one that is no capture at all.
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 5);
  EXPECT_FALSE(host::read_capture_file(path, [](const host::CapturedDns&) {}).has_value());
  { std::ofstream(path, std::ios::trunc) << "not a capture"; }
  const Result<host::CaptureFileStats> garbage = host::read_capture_file(path, [](const host::CapturedDns&) {});
  ASSERT_FALSE(garbage.has_value());
  EXPECT_NE(garbage.error().message.find("cannot read the capture"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace dnsleak
