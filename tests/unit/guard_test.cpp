// dnsleak guard without root: the ruleset generated for each option combination, the rules in
// words, the record and its round trip, the table's counters as nft lists them (recorded in the
// lab), the boot unit, resolved's changes, and on/off/status driven on a fake machine: the record
// written before anything changes, on twice changing nothing, nothing half-applied.
#include "host/guard.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/exit_codes.h"
#include "cli/guard_command.h"
#include "host/firewall.h"
#include "host/inspect.h"
#include "host/snapshot.h"
#include "verdict/verdict.h"

namespace dnsleak {
namespace {

using host::AllowedResolver;
using host::GuardPlan;

net::IpAddress ip(const char* text) { return *net::parse_ip(text); }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kGuardTable = std::string(DNSLEAK_SOURCE_DIR) + "/tests/data/host/guard-table.json";

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::vector<std::string> ids(const GuardPlan& plan) {
  std::vector<std::string> out;
  for (const host::GuardRuleText& r : host::guard_rules(plan)) out.push_back(r.id);
  return out;
}

TEST(GuardScript, EachOptionCombinationGivesItsRulesInBothChains) {
  for (const bool block_ipv6 : {false, true}) {
    for (const int allowed : {0, 1, 2}) {  // none, one through the tunnel, one on a LAN interface
      for (const bool two_tunnels : {false, true}) {
        SCOPED_TRACE(testing::Message() << "ipv6 " << block_ipv6 << " allowed " << allowed << " two " << two_tunnels);
        GuardPlan plan;
        plan.tunnels = two_tunnels ? std::vector<std::string>{"tun0", "wg0"} : std::vector<std::string>{"tun0"};
        plan.block_ipv6 = block_ipv6;
        if (allowed == 1) plan.allowed.push_back({ip("10.8.0.1"), ""});
        if (allowed == 2) plan.allowed.push_back({ip("fd00::53"), "eth0"});
        const std::string s = host::guard_script(plan);
        // One transaction that replaces the table, never touching another.
        EXPECT_TRUE(s.starts_with("# dnsleak guard"));
        EXPECT_NE(s.find("table inet dnsleak\ndelete table inet dnsleak\ntable inet dnsleak {\n"), std::string::npos);
        EXPECT_EQ(count(s, "table inet dnsleak"), 3u);
        EXPECT_EQ(count(s, "table ip"), 0u);
        EXPECT_EQ(count(s, "flush"), 0u);
        EXPECT_EQ(count(s, "type filter hook output priority filter; policy accept;"), 1u);
        EXPECT_EQ(count(s, "type filter hook forward priority filter; policy accept;"), 1u);
        const std::string set = two_tunnels ? "{ \"tun0\", \"wg0\" }" : "{ \"tun0\" }";
        // Loopback first, and only where there is one: the output chain.
        EXPECT_EQ(count(s, "oifname \"lo\" counter accept comment \"loopback\""), 1u);
        EXPECT_LT(s.find("comment \"loopback\""), s.find("comment \"dns-udp-rejected\""));
        // Every rule counted, every rule named.
        EXPECT_EQ(count(s, " counter "), count(s, " comment \""));  // (the table's own comment is not a rule's)
        const std::vector<std::string> rule_ids = ids(plan);
        for (const std::string& id : rule_ids) {
          EXPECT_EQ(count(s, "comment \"" + id + "\""), id == "loopback" ? 1u : 2u) << id;
        }
        EXPECT_EQ(count(s, "meta l4proto udp th dport { 53, 853 } counter reject comment \"dns-udp-rejected\""), 2u);
        EXPECT_EQ(count(s, "meta l4proto tcp th dport { 53, 853 } counter reject with tcp reset"), 2u);
        EXPECT_EQ(count(s, "oifname != " + set + " meta l4proto udp th dport { 5353, 5355 } counter drop"), 2u);
        EXPECT_EQ(count(s, "oifname != " + set + " tcp dport 5355 counter reject with tcp reset"), 2u);
        // The tunnel open to any resolver unless one is allowed through it.
        const bool open = allowed != 1;
        EXPECT_EQ(count(s, "oifname " + set + " meta l4proto { tcp, udp } th dport { 53, 853 } counter accept"),
                  open ? 2u : 0u);
        if (allowed == 1) {
          EXPECT_EQ(count(s, "oifname " + set +
                                 " ip daddr 10.8.0.1 meta l4proto { tcp, udp } th dport { 53, 853 } "
                                 "counter accept comment \"allowed-resolver\""),
                    2u);
        }
        if (allowed == 2) {
          EXPECT_EQ(count(s,
                          "oifname \"eth0\" ip6 daddr fd00::53 meta l4proto { tcp, udp } th dport { 53, 853 } counter "
                          "accept"),
                    2u);
        }
        EXPECT_EQ(count(s, "comment \"ipv6-rejected\""), block_ipv6 ? 2u : 0u);
        EXPECT_EQ(count(s, "ip6 daddr { fe80::/10, ff02::/16 } counter accept"), block_ipv6 ? 2u : 0u);
        if (block_ipv6) {
          // Replies to inbound connections, link-local and neighbour discovery before the
          // rejects; the reject last.
          EXPECT_LT(s.find("ct direction reply counter accept"), s.find("ipv6-tcp-rejected"));
          EXPECT_LT(s.find("ipv6-neighbour-discovery"), s.find("ipv6-rejected"));
          EXPECT_EQ(rule_ids.back(), "ipv6-rejected");
        }
      }
    }
  }
}

TEST(GuardScript, RulesInWordsSayWhatEachDoes) {
  GuardPlan plan{{"wg0"}, {}, false};
  const std::vector<host::GuardRuleText> words = host::guard_rules(plan);
  ASSERT_EQ(ids(plan), (std::vector<std::string>{"loopback", "dns-through-tunnel", "dns-udp-rejected",
                                                 "dns-tcp-rejected", "mdns-llmnr-dropped", "llmnr-tcp-rejected"}));
  EXPECT_NE(words[1].words.find("through wg0"), std::string::npos);
  EXPECT_FALSE(words[1].blocks);
  EXPECT_TRUE(words[2].blocks);
  EXPECT_NE(words[2].words.find("fails at once"), std::string::npos);
  plan.allowed.push_back({ip("10.8.0.1"), ""});
  EXPECT_EQ(host::guard_rules(plan)[1].words, "DNS to 10.8.0.1 passes through wg0 (--allow-resolver).");
}

TEST(GuardScript, NamesThatCouldLeaveNftsQuotesNeverReachIt) {
  EXPECT_TRUE(host::valid_interface_name("wg-mullvad"));
  EXPECT_TRUE(host::valid_interface_name("tun0"));
  EXPECT_FALSE(host::valid_interface_name(""));
  EXPECT_FALSE(host::valid_interface_name("a\"; flush ruleset"));
  EXPECT_FALSE(host::valid_interface_name("sixteen-chars-xx"));
  EXPECT_FALSE(host::valid_interface_name("tun 0"));
  const std::string s = host::guard_script(GuardPlan{{"tun0", "x\" accept"}, {}, false});
  EXPECT_EQ(s.find("accept\" "), std::string::npos);
  EXPECT_NE(s.find("oifname { \"tun0\" }"), std::string::npos);
}

TEST(GuardScript, AllowedResolversAreAnAddressAndMaybeAnInterface) {
  Result<AllowedResolver> a = host::parse_allowed_resolver("10.8.0.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "10.8.0.1");
  EXPECT_TRUE(a->interface.empty());
  a = host::parse_allowed_resolver("fe80::1%eth0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->interface, "eth0");
  EXPECT_EQ(a->to_string(), "fe80::1%eth0");
  for (const char* bad : {"", "resolver", "10.8.0.300", "10.8.0.1%", "10.8.0.1%a\"b", "%eth0"}) {
    EXPECT_FALSE(host::parse_allowed_resolver(bad)) << bad;
  }
}

TEST(GuardTable, CountersAreReadAsNftListsThem) {
  // Recorded in the lab: `nft -j list table inet dnsleak` after one lookup to the ISP over eth0.
  Result<std::vector<host::GuardRuleCount>> counts = host::parse_guard_table(read_text(kGuardTable));
  ASSERT_TRUE(counts) << counts.error().message;
  std::map<std::string, uint64_t> output;
  for (const host::GuardRuleCount& c : *counts) {
    if (c.chain == "output") output[c.id] = c.packets;
  }
  EXPECT_EQ(counts->size(), 11u);
  EXPECT_EQ(output["dns-udp-rejected"], 1u);
  EXPECT_EQ(output["dns-through-tunnel"], 0u);
  EXPECT_FALSE(host::parse_guard_table("{}"));
  EXPECT_FALSE(host::parse_guard_table("not json"));
}

TEST(GuardTable, TheEvaluatorReadsTheGuardAsStoppingDnsOutsideTheTunnel) {
  // The same recording, read by inspect's firewall evaluator: what guard makes, inspect understands.
  Result<host::Ruleset> ruleset = host::parse_ruleset(read_text(kGuardTable));
  ASSERT_TRUE(ruleset);
  for (const char* destination : {"192.0.2.53", "2001:db8::53"}) {
    for (const net::Transport t : {net::Transport::udp, net::Transport::tcp}) {
      EXPECT_EQ(host::evaluate(*ruleset, {"eth0", t, 53, ip(destination)}).outcome, host::FirewallOutcome::stopped);
      EXPECT_EQ(host::evaluate(*ruleset, {"eth0", t, 853, ip(destination)}).outcome, host::FirewallOutcome::stopped);
      EXPECT_EQ(host::evaluate(*ruleset, {"tun0", t, 53, ip(destination)}).outcome, host::FirewallOutcome::passes);
      EXPECT_EQ(host::evaluate(*ruleset, {"lo", t, 53, ip(destination)}).outcome, host::FirewallOutcome::passes);
    }
  }
  const std::optional<std::string> where = host::stops_dns(*ruleset, "eth0", ip("192.0.2.53"));
  ASSERT_TRUE(where);
  EXPECT_TRUE(where->starts_with("table inet dnsleak, chain output, rule "));
  EXPECT_FALSE(host::stops_dns(*ruleset, "tun0", ip("192.0.2.53")));
}

TEST(GuardRecord, RoundTripsAndRefusesWhatItCannotTrust) {
  host::GuardRecord r;
  r.plan = GuardPlan{{"tun0"}, {{ip("10.8.0.1"), ""}, {ip("192.168.1.1"), "eth0"}}, true};
  r.script = host::guard_script(r.plan);
  r.persist = true;
  r.since_ms = 1'800'000'000'000;
  r.resolved.push_back({7, "tun0", true, {{0, "vpn.example", false}}, false, false});
  r.resolved.push_back({2, "eth0", false, {}, true, true});
  Result<host::GuardRecord> back = host::parse_record(host::record_json(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->plan, r.plan);
  EXPECT_EQ(back->script, r.script);
  EXPECT_TRUE(back->persist);
  EXPECT_EQ(back->since_ms, r.since_ms);
  ASSERT_EQ(back->resolved.size(), 2u);
  EXPECT_EQ(back->resolved[0].ifindex, 7u);
  EXPECT_TRUE(back->resolved[0].set_domains);
  ASSERT_EQ(back->resolved[0].old_domains.size(), 1u);
  EXPECT_EQ(back->resolved[0].old_domains[0].domain, "vpn.example");
  EXPECT_TRUE(back->resolved[1].set_default_route);
  EXPECT_TRUE(back->resolved[1].old_default_route);
  EXPECT_FALSE(host::parse_record("{"));
  EXPECT_FALSE(host::parse_record("{\"version\":2}"));
  EXPECT_FALSE(host::parse_record("{\"version\":1,\"allowed_resolvers\":[\"nope\"]}"));
  EXPECT_FALSE(host::parse_record("{\"version\":1,\"resolved\":[{\"name\":\"eth0\"}]}"));
}

TEST(GuardUnit, AppliesTheSamePlanAtBootBeforeTheNetwork) {
  const std::string unit = host::guard_unit("/usr/bin/dnsleak", GuardPlan{{"wg0"}, {{ip("10.8.0.1"), ""}}, true});
  EXPECT_NE(unit.find("ExecStart=/usr/bin/dnsleak guard on --no-resolved --tunnel wg0 --allow-resolver 10.8.0.1 "
                      "--block-ipv6\n"),
            std::string::npos);
  EXPECT_NE(unit.find("DefaultDependencies=no\n"), std::string::npos);
  EXPECT_NE(unit.find("Before=network-pre.target"), std::string::npos);
  EXPECT_NE(unit.find("Wants=network-pre.target\n"), std::string::npos);
  EXPECT_NE(unit.find("WantedBy=sysinit.target\n"), std::string::npos);
  EXPECT_NE(unit.find("Type=oneshot\nRemainAfterExit=yes\n"), std::string::npos);
  // systemd's specifiers and variables escaped, words with spaces quoted.
  const std::string lan =
      host::guard_unit("/opt/my tools/dnsleak", GuardPlan{{"wg0"}, {{ip("fe80::1"), "wlan0"}}, false});
  EXPECT_NE(lan.find("ExecStart=\"/opt/my tools/dnsleak\" guard on --no-resolved --tunnel wg0 --allow-resolver "
                     "fe80::1%%wlan0\n"),
            std::string::npos)
      << lan;
}

host::ResolvedState resolved_two_links() {
  host::ResolvedState s;
  host::ResolvedLink tun;
  tun.index = 7;
  tun.default_route = true;
  tun.servers = {ip("10.8.0.1")};
  tun.domains = {{7, "vpn.example", false}};
  host::ResolvedLink eth;
  eth.index = 2;
  eth.default_route = true;
  eth.servers = {ip("192.168.1.1")};
  host::ResolvedLink wlan;  // DefaultRoute, but no servers: it sends nothing anywhere
  wlan.index = 3;
  wlan.default_route = true;
  s.links = {tun, eth, wlan};
  return s;
}

TEST(GuardResolved, EveryDomainToTheTunnelAndDefaultRouteOffElsewhere) {
  const std::vector<std::pair<uint32_t, std::string>> names{{7, "tun0"}, {2, "eth0"}, {3, "wlan0"}};
  host::ResolvedState s = resolved_two_links();
  std::vector<host::ResolvedLinkChange> changes = host::resolved_changes(s, {7}, names);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].name, "tun0");
  EXPECT_TRUE(changes[0].set_domains);
  ASSERT_EQ(changes[0].old_domains.size(), 1u);
  EXPECT_EQ(changes[1].name, "eth0");
  EXPECT_TRUE(changes[1].set_default_route);
  EXPECT_TRUE(changes[1].old_default_route);
  // A tunnel link resolved knows no server on: nothing is moved (every name would go nowhere).
  host::ResolvedState bare = s;
  bare.links[0].servers.clear();
  EXPECT_TRUE(host::resolved_changes(bare, {7}, names).empty());
  // "~." already there: the tunnel link is left alone.
  s.links[0].domains.push_back({7, ".", true});
  changes = host::resolved_changes(s, {7}, names);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, "eth0");
}

// The machine, as the commands see it: every call logged in order.
class FakeGuardSystem final : public host::GuardSystem {
 public:
  std::vector<std::string> calls;
  std::optional<std::string> table, record, unit;
  bool nft_fails = false;
  bool resolved_fails = false;
  std::map<uint32_t, std::vector<host::ResolvedDomain>> domains;
  std::map<uint32_t, bool> default_route;

  Result<void> run_nft(const std::string& script, bool check_only) override {
    calls.push_back(check_only ? "check" : "nft");
    if (nft_fails) return fail(Error{"applying the guard's table: Operation not supported", EOPNOTSUPP});
    if (check_only) return {};
    table =
        script.find("table inet dnsleak {") != std::string::npos ? std::optional(read_text(kGuardTable)) : std::nullopt;
    return {};
  }
  Result<std::optional<std::string>> list_table() override { return table; }
  Result<void> set_link_domains(uint32_t ifindex, const std::vector<host::ResolvedDomain>& d) override {
    calls.push_back("domains " + std::to_string(ifindex));
    if (resolved_fails) return fail("SetLinkDomains: Connection timed out");
    domains[ifindex] = d;
    return {};
  }
  Result<void> set_link_default_route(uint32_t ifindex, bool on) override {
    calls.push_back("default-route " + std::to_string(ifindex) + (on ? " on" : " off"));
    if (resolved_fails) return fail("SetLinkDefaultRoute: Connection timed out");
    default_route[ifindex] = on;
    return {};
  }
  Result<std::optional<std::string>> read_record() override { return record; }
  Result<void> write_record(const std::string& json) override {
    calls.emplace_back("write record");
    record = json;
    return {};
  }
  Result<void> remove_record() override {
    calls.emplace_back("remove record");
    record.reset();
    return {};
  }
  std::string record_path() const override { return "/run/dnsleak/guard.json"; }
  Result<void> install_unit(const std::string& text) override {
    calls.emplace_back("install unit");
    unit = text;
    return {};
  }
  Result<bool> remove_unit() override {
    const bool had = unit.has_value();
    unit.reset();
    return had;
  }
  bool unit_installed() const override { return unit.has_value(); }
  std::string unit_path() const override { return "/etc/systemd/system/dnsleak-guard.service"; }
};

host::Snapshot machine_with_tunnel(bool resolved) {
  host::Snapshot s;
  host::Link lo{1, "lo", "", 772, 0x1 | 0x8 | 0x40};  // IFF_UP | IFF_LOOPBACK | IFF_RUNNING
  host::Link eth{2, "eth0", "", 1, 0x1 | 0x40};
  host::Link tun{7, "tun0", "tun", 65534, 0x1 | 0x40};
  s.links = {lo, eth, tun};
  s.resolved_running = resolved;
  if (resolved) s.resolved = resolved_two_links();
  return s;
}

struct Bench {
  FakeGuardSystem system;
  host::Snapshot snapshot;
  cli::GuardContext context;
  explicit Bench(bool resolved = false, bool net_admin = true)
      : snapshot(machine_with_tunnel(resolved)), context{system, snapshot, net_admin, "/usr/bin/dnsleak", 1000} {}
};

cli::GuardAction action(cli::GuardAction::Verb verb) {
  cli::GuardAction a;
  a.verb = verb;
  return a;
}

TEST(GuardCommand, WithoutCapNetAdminNothingIsTouched) {
  Bench b(true, false);
  for (const auto verb : {cli::GuardAction::Verb::on, cli::GuardAction::Verb::off, cli::GuardAction::Verb::status}) {
    cli::GuardOutcome out = verb == cli::GuardAction::Verb::on    ? cli::guard_on(action(verb), b.context)
                            : verb == cli::GuardAction::Verb::off ? cli::guard_off(action(verb), b.context)
                                                                  : cli::guard_status(action(verb), b.context);
    EXPECT_EQ(out.code, cli::kNoPrivilege);
    EXPECT_NE(out.error.find("CAP_NET_ADMIN"), std::string::npos);
  }
  EXPECT_TRUE(b.system.calls.empty());
  // A dry run needs nothing.
  cli::GuardAction dry = action(cli::GuardAction::Verb::on);
  dry.dry_run = true;
  const cli::GuardOutcome out = cli::guard_on(dry, b.context);
  EXPECT_EQ(out.code, 0);
  EXPECT_EQ(out.text, host::guard_script(GuardPlan{{"tun0"}, {}, false}));
  EXPECT_TRUE(b.system.calls.empty());
  // With the privilege the kernel checks it, and nothing else happens.
  Bench root;
  EXPECT_EQ(cli::guard_on(dry, root.context).code, 0);
  EXPECT_EQ(root.system.calls, (std::vector<std::string>{"check"}));
  EXPECT_FALSE(root.system.table);
  root.system.nft_fails = true;
  EXPECT_EQ(cli::guard_on(dry, root.context).code, cli::kServerError);
}

TEST(GuardCommand, WithNoTunnelItRefusesSayingWhy) {
  Bench b;
  b.snapshot.links.pop_back();
  const cli::GuardOutcome out = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_EQ(out.code, cli::kUsage);
  EXPECT_NE(out.error.find("no tunnel is up"), std::string::npos);
  EXPECT_TRUE(b.system.calls.empty());
  // Named, it is guarded even before it exists (the boot unit's case), and said so.
  cli::GuardAction named = action(cli::GuardAction::Verb::on);
  named.plan.tunnels = {"wg0"};
  const cli::GuardOutcome later = cli::guard_on(named, b.context);
  EXPECT_EQ(later.code, 0) << later.error;
  EXPECT_NE(later.text.find("wg0 does not exist now"), std::string::npos);
}

TEST(GuardCommand, OnRecordsFirstAppliesOnceAndOffUndoesExactly) {
  Bench b(true);
  const cli::GuardOutcome on = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  ASSERT_EQ(on.code, 0) << on.error;
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft", "domains 7", "default-route 2 off"}));
  ASSERT_EQ(b.system.domains[7].size(), 2u);
  EXPECT_EQ(b.system.domains[7][1].domain, ".");
  EXPECT_TRUE(b.system.domains[7][1].routing_only);
  EXPECT_NE(on.text.find("Changed: systemd-resolved: every domain (~.) routed to tun0"), std::string::npos);
  EXPECT_NE(on.text.find("cannot stop a resolver outside the VPN"), std::string::npos);

  // On again: nothing changes, and the originals kept are those before the first `on`.
  b.system.calls.clear();
  b.snapshot.resolved.links[0].domains = b.system.domains[7];
  b.snapshot.resolved.links[1].default_route = false;
  const cli::GuardOutcome again = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_EQ(again.code, 0);
  EXPECT_FALSE(again.json.at("changed").as_bool());
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record"}));

  const cli::GuardOutcome status = cli::guard_status(action(cli::GuardAction::Verb::status), b.context);
  EXPECT_EQ(status.code, 0);
  EXPECT_NE(status.text.find("Blocked: 1 packets."), std::string::npos);

  b.system.calls.clear();
  const cli::GuardOutcome off = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(off.code, 0) << off.error;
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"nft", "domains 7", "default-route 2 on", "remove record"}));
  ASSERT_EQ(b.system.domains[7].size(), 1u);
  EXPECT_EQ(b.system.domains[7][0].domain, "vpn.example");
  EXPECT_FALSE(b.system.table);
  // Off again: nothing to undo, nothing touched.
  b.system.calls.clear();
  const cli::GuardOutcome twice = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(twice.code, 0);
  EXPECT_NE(twice.text.find("was not on"), std::string::npos);
  EXPECT_TRUE(b.system.calls.empty());
  EXPECT_EQ(cli::guard_status(action(cli::GuardAction::Verb::status), b.context).code, 1);
}

TEST(GuardCommand, AFailedTransactionLeavesNoRecordAndSaysTheFirewallIsAsItWas) {
  Bench b;
  b.system.nft_fails = true;
  const cli::GuardOutcome out = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_EQ(out.code, cli::kServerError);
  EXPECT_NE(out.error.find("the firewall is as it was"), std::string::npos);
  EXPECT_FALSE(b.system.record);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft", "remove record"}));
}

TEST(GuardCommand, AGuardWhoseProcessDiedIsUndoneFromItsRecord) {
  // What a `guard on` killed after the transaction leaves: the table and the record, resolved's
  // changes listed but not all made.
  Bench b(true);
  host::GuardRecord r;
  r.plan = GuardPlan{{"tun0"}, {}, false};
  r.script = host::guard_script(r.plan);
  r.resolved = host::resolved_changes(b.snapshot.resolved, {7}, {{7, "tun0"}, {2, "eth0"}});
  b.system.record = host::record_json(r);
  b.system.table = read_text(kGuardTable);
  const cli::GuardOutcome off = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(off.code, 0) << off.error;
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"nft", "domains 7", "default-route 2 on", "remove record"}));
  // A record that cannot be read: the table still goes, the record stays for a person.
  b.system.calls.clear();
  b.system.record = "garbage";
  b.system.table = read_text(kGuardTable);
  const cli::GuardOutcome unreadable = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(unreadable.code, cli::kServerError);
  EXPECT_NE(unreadable.error.find("resolvectl revert"), std::string::npos);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"nft"}));
}

TEST(GuardCommand, AFailedReapplyPutsTheEarlierRecordBackSoTheRetryIsNotTakenAsDone) {
  Bench b;
  ASSERT_EQ(cli::guard_on(action(cli::GuardAction::Verb::on), b.context).code, 0);
  const std::optional<std::string> first = b.system.record;
  b.system.nft_fails = true;
  cli::GuardAction v6 = action(cli::GuardAction::Verb::on);
  v6.plan.block_ipv6 = true;
  EXPECT_EQ(cli::guard_on(v6, b.context).code, cli::kServerError);
  EXPECT_EQ(b.system.record, first);
  b.system.nft_fails = false;
  b.system.calls.clear();
  const cli::GuardOutcome retry = cli::guard_on(v6, b.context);
  EXPECT_EQ(retry.code, 0);
  EXPECT_TRUE(retry.json.at("changed").as_bool());
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft"}));
}

TEST(GuardCommand, AnUnusableRecordIsNotWrittenOver) {
  Bench b(true);
  b.system.record = "{\"version\": 9}";
  const cli::GuardOutcome out = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_EQ(out.code, cli::kServerError);
  EXPECT_NE(out.error.find("unusable"), std::string::npos);
  EXPECT_TRUE(b.system.calls.empty());
  EXPECT_EQ(b.system.record, "{\"version\": 9}");
}

TEST(GuardCommand, OnAgainWithAnotherTunnelMovesResolvedsChangesAndKeepsTheFirstOriginals) {
  Bench b(true);
  host::Link wg{8, "wg0", "wireguard", 65534, 0x1 | 0x40};
  b.snapshot.links.push_back(wg);
  host::ResolvedLink wg_link;
  wg_link.index = 8;
  wg_link.default_route = true;
  wg_link.servers = {ip("10.9.0.1")};
  b.snapshot.resolved.links.push_back(wg_link);
  cli::GuardAction on_tun = action(cli::GuardAction::Verb::on);
  on_tun.plan.tunnels = {"tun0", "wg0"};  // wg0 is a tunnel: its DefaultRoute is left alone
  ASSERT_EQ(cli::guard_on(on_tun, b.context).code, 0);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft", "domains 7", "default-route 2 off"}));
  // What resolved now says: the guard's changes in place.
  b.snapshot.resolved.links[0].domains = b.system.domains[7];
  b.snapshot.resolved.links[1].default_route = false;
  b.system.calls.clear();
  cli::GuardAction on_wg = action(cli::GuardAction::Verb::on);
  on_wg.plan.tunnels = {"wg0"};
  const cli::GuardOutcome moved = cli::guard_on(on_wg, b.context);
  ASSERT_EQ(moved.code, 0) << moved.error;
  // ~. on wg0, tun0's domains as they were before the first `on`; eth0 stays off, and tun0 is now
  // a link outside this plan's tunnel with servers and DefaultRoute: off too.
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft", "default-route 7 off", "domains 8",
                                                      "domains 7", "write record"}));
  ASSERT_EQ(b.system.domains[7].size(), 1u);
  EXPECT_EQ(b.system.domains[7][0].domain, "vpn.example");
  Result<host::GuardRecord> r = host::parse_record(*b.system.record);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->resolved.size(), 3u);  // wg0's domains, eth0's and tun0's DefaultRoute
  for (const host::ResolvedLinkChange& c : r->resolved) {
    if (c.set_default_route) {
      EXPECT_TRUE(c.old_default_route) << c.name;  // the first originals
    }
  }
}

TEST(GuardCommand, OnAfterANoResolvedOnMakesResolvedsChangesAndSaysItChanged) {
  Bench b(true);
  cli::GuardAction quiet = action(cli::GuardAction::Verb::on);
  quiet.no_resolved = true;
  ASSERT_EQ(cli::guard_on(quiet, b.context).code, 0);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft"}));
  b.system.calls.clear();
  const cli::GuardOutcome on = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_TRUE(on.json.at("changed").as_bool());
  EXPECT_EQ(on.json.at("resolved_changes").as_array().size(), 2u);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "domains 7", "default-route 2 off"}));
}

TEST(GuardCommand, ATunnelLinkResolvedKnowsNoServerOnLeavesResolvedAloneAndSaysWhy) {
  Bench b(true);
  b.snapshot.resolved.links[0].servers.clear();
  const cli::GuardOutcome on = cli::guard_on(action(cli::GuardAction::Verb::on), b.context);
  EXPECT_EQ(on.code, 0);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"write record", "nft"}));
  EXPECT_NE(on.text.find("knows no DNS server on tun0"), std::string::npos);
  EXPECT_NE(on.text.find("`sudo resolvectl dns tun0 ADDR`"), std::string::npos);
}

TEST(GuardCommand, WhatOffCannotPutBackStaysInTheRecordForTheNextOff) {
  Bench b(true);
  ASSERT_EQ(cli::guard_on(action(cli::GuardAction::Verb::on), b.context).code, 0);
  b.system.resolved_fails = true;
  const cli::GuardOutcome off = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(off.code, cli::kServerError);
  EXPECT_FALSE(b.system.table);
  ASSERT_TRUE(b.system.record);
  EXPECT_EQ(host::parse_record(*b.system.record)->resolved.size(), 2u);
  b.system.resolved_fails = false;
  b.system.calls.clear();
  EXPECT_EQ(cli::guard_off(action(cli::GuardAction::Verb::off), b.context).code, 0);
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"domains 7", "default-route 2 on", "remove record"}));
  // A link gone since (a tunnel that went down) is not an error; one whose index another link now
  // has is left alone.
  ASSERT_EQ(cli::guard_on(action(cli::GuardAction::Verb::on), b.context).code, 0);
  b.snapshot.links[2].name = "veth9";                    // index 7 is now someone else's
  b.snapshot.links.erase(b.snapshot.links.begin() + 1);  // eth0 gone
  b.system.calls.clear();
  const cli::GuardOutcome later = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_EQ(later.code, 0) << later.error;
  EXPECT_EQ(b.system.calls, (std::vector<std::string>{"nft", "remove record"}));
  EXPECT_NE(later.text.find("link 7 is now veth9, not tun0: left as it is"), std::string::npos);
}

TEST(GuardCommand, PersistInstallsTheBootUnitAndOffPersistRemovesIt) {
  Bench b;
  cli::GuardAction on = action(cli::GuardAction::Verb::on);
  on.persist = true;
  on.plan.block_ipv6 = true;
  ASSERT_EQ(cli::guard_on(on, b.context).code, 0);
  ASSERT_TRUE(b.system.unit);
  EXPECT_NE(b.system.unit->find("ExecStart=/usr/bin/dnsleak guard on --no-resolved --tunnel tun0 --block-ipv6"),
            std::string::npos);
  // A new plan while the unit is installed updates it: the boot must not apply the old one.
  cli::GuardAction wider = on;
  wider.persist = false;
  wider.plan.allowed.push_back({ip("10.8.0.1"), ""});
  ASSERT_EQ(cli::guard_on(wider, b.context).code, 0);
  EXPECT_NE(b.system.unit->find("--allow-resolver 10.8.0.1"), std::string::npos);
  const cli::GuardOutcome off = cli::guard_off(action(cli::GuardAction::Verb::off), b.context);
  EXPECT_NE(off.text.find("stays, so the guard comes back at boot"), std::string::npos);
  EXPECT_TRUE(b.system.unit);
  cli::GuardAction off_persist = action(cli::GuardAction::Verb::off);
  off_persist.persist = true;
  const cli::GuardOutcome removed = cli::guard_off(off_persist, b.context);
  EXPECT_FALSE(b.system.unit);
  EXPECT_FALSE(removed.json.at("persist").as_bool());
}

TEST(GuardInspect, AGuardedResolverOutsideIsStoppedNotALeakAndTheTunnelsCaveatIsSaid) {
  host::Snapshot s = machine_with_tunnel(false);
  Result<host::Ruleset> ruleset = host::parse_ruleset(read_text(kGuardTable));
  ASSERT_TRUE(ruleset);
  s.ruleset = *ruleset;
  s.guard_on = true;
  s.guard_tunnel_open = true;  // the recording has dns-through-tunnel: no --allow-resolver
  host::ResolverRoute r;
  r.address = ip("192.168.1.1");
  r.path = verdict::ResolverPath::outside;
  r.interface = "eth0";
  s.resolvers.push_back(r);
  for (const net::Transport t : {net::Transport::udp, net::Transport::tcp}) {
    for (const char* internet : {host::kInternet4, host::kInternet6}) {
      s.firewall.push_back(
          {"eth0", t, ip(internet).family == 6 ? 6 : 4, host::evaluate(*ruleset, {"eth0", t, 53, ip(internet)})});
    }
  }
  std::map<std::string, verdict::Severity> found;
  for (const verdict::Finding& f : host::inspect(s)) found[f.code] = f.severity;
  EXPECT_FALSE(found.contains("resolver_outside_tunnel"));
  ASSERT_TRUE(found.contains("resolver_blocked_outside_tunnel"));
  EXPECT_EQ(found["resolver_blocked_outside_tunnel"], verdict::Severity::warning);
  EXPECT_TRUE(found.contains("guard_tunnel_open"));
  EXPECT_TRUE(found.contains("firewall_stops_dns_outside"));
  s.guard_tunnel_open = false;
  found.clear();
  for (const verdict::Finding& f : host::inspect(s)) found[f.code] = f.severity;
  EXPECT_FALSE(found.contains("guard_tunnel_open"));
}

TEST(GuardVerdict, AResolverOutsideThatTheFirewallStopsIsNoLeakAndNoDnsIsSaidSo) {
  verdict::Evidence e;
  e.local.gathered = true;
  e.local.tunnels = {"tun0"};
  e.local.captured = true;
  e.local.capture_interfaces = {"eth0"};
  e.local.resolvers.push_back(
      {ip("192.168.1.1"), verdict::ResolverPath::outside, "eth0", false, "table inet dnsleak, chain output, rule 4"});
  const verdict::Verdict v = verdict::judge(e);
  EXPECT_EQ(v.outcome, verdict::Outcome::no_leak);
  EXPECT_EQ(v.certainty, verdict::Certainty::proven);
  std::vector<std::string> codes;
  for (const verdict::Finding& f : v.findings) codes.push_back(f.code);
  EXPECT_NE(std::ranges::find(codes, "resolver_blocked_outside_tunnel"), codes.end());
  EXPECT_NE(std::ranges::find(codes, "dns_blocked_outside_tunnel"), codes.end());
  EXPECT_EQ(std::ranges::find(codes, "resolver_outside_tunnel"), codes.end());
  // Without the capture, nothing proves that nothing left: the server's "nobody asked" stands.
  e.local.captured = false;
  EXPECT_EQ(verdict::judge(e).outcome, verdict::Outcome::inconclusive);
  // A second resolver outside that is not stopped: the leak it is, never "no leak".
  e.local.captured = true;
  e.local.resolvers.push_back({ip("192.168.1.2"), verdict::ResolverPath::outside, "eth0", false, ""});
  EXPECT_EQ(verdict::judge(e).outcome, verdict::Outcome::leak);
  e.local.resolvers.pop_back();
  e.local.captured = false;
  // And not stopped, it is the leak it was.
  e.local.resolvers[0].firewall_stops.clear();
  EXPECT_EQ(verdict::judge(e).outcome, verdict::Outcome::leak);
}

}  // namespace
}  // namespace dnsleak
