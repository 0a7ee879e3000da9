#include "host/guard.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "host/json_text.h"

namespace dnsleak::host {
namespace json = boost::json;
namespace {

bool valid_interface(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == '+' || c == '@' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string quoted_set(const std::vector<std::string>& names) {
  std::string out = "{ ";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += concat({"\"", names[i], "\""});
  }
  return out + " }";
}

std::string joined(const std::vector<std::string>& names, std::string_view last_word) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? concat({" ", last_word, " "}) : ", ";
    out += names[i];
  }
  return out;
}

constexpr const char* kDnsPorts = "th dport { 53, 853 }";

struct Rule {
  std::string id;
  std::string match;    // what it matches
  std::string verdict;  // accept, drop, reject ...
  std::string words;
  bool blocks = false;
  bool output_only = false;
};

std::vector<Rule> rules_of(const GuardPlan& plan) {
  std::vector<Rule> rules;
  const std::string tunnels = quoted_set(plan.tunnels);
  const std::string tunnel_words = joined(plan.tunnels, "or");
  const std::string outside = concat({"oifname != ", tunnels, " "});
  const std::string dns = concat({"meta l4proto { tcp, udp } ", kDnsPorts});
  rules.push_back({"loopback", "oifname \"lo\"", "accept",
                   "Anything to this machine itself (loopback) passes: local stubs and forwarders keep working, "
                   "and their own upstream queries meet the rules below.",
                   false, true});
  bool tunnel_restricted = false;
  for (const AllowedResolver& a : plan.allowed) {
    const char* family = a.address.family == 6 ? "ip6" : "ip";
    const std::string where = a.interface.empty() ? tunnels : concat({"\"", a.interface, "\""});
    rules.push_back({"allowed-resolver",
                     concat({"oifname ", where, " ", family, " daddr ", a.address.to_string(), " ", dns}), "accept",
                     concat({"DNS to ", a.address.to_string(), " passes ",
                             a.interface.empty() ? concat({"through ", tunnel_words}) : concat({"on ", a.interface}),
                             " (--allow-resolver)."}),
                     false, false});
    if (a.interface.empty()) tunnel_restricted = true;
  }
  if (!tunnel_restricted) {
    rules.push_back({"dns-through-tunnel", concat({"oifname ", tunnels, " ", dns}), "accept",
                     concat({"DNS (UDP and TCP 53, DNS over TLS and over QUIC 853) through ", tunnel_words,
                             " passes, to any resolver."}),
                     false, false});
  }
  rules.push_back({"dns-udp-rejected", concat({"meta l4proto udp ", kDnsPorts}), "reject",
                   tunnel_restricted ? "Any other DNS over UDP, through the tunnel too, is rejected (ICMP port "
                                       "unreachable: the lookup fails at once instead of waiting out a timeout)."
                                     : "DNS over UDP on any other interface is rejected (ICMP port unreachable: the "
                                       "lookup fails at once instead of waiting out a timeout).",
                   true, false});
  rules.push_back({"dns-tcp-rejected", concat({"meta l4proto tcp ", kDnsPorts}), "reject with tcp reset",
                   tunnel_restricted ? "Any other DNS over TCP or TLS is rejected (TCP reset)."
                                     : "DNS over TCP or TLS on any other interface is rejected (TCP reset).",
                   true, false});
  rules.push_back({"mdns-llmnr-dropped", concat({outside, "meta l4proto udp th dport { 5353, 5355 }"}), "drop",
                   "mDNS (5353) and LLMNR (5355) outside the tunnel are dropped: no name is asked on the LAN.", true,
                   false});
  rules.push_back({"llmnr-tcp-rejected", concat({outside, "tcp dport 5355"}), "reject with tcp reset",
                   "LLMNR over TCP outside the tunnel is rejected (TCP reset).", true, false});
  if (plan.block_ipv6) {
    // This host's own answers to connections made to it (SSH over IPv6) are not what is blocked.
    rules.push_back({"ipv6-replies", concat({outside, "meta nfproto ipv6 ct direction reply"}), "accept",
                     "Replies to connections made to this host pass (an SSH session over IPv6 stays up).", false,
                     false});
    rules.push_back({"ipv6-link-local", concat({outside, "ip6 daddr { fe80::/10, ff02::/16 }"}), "accept",
                     "IPv6 to link-local and link-scope multicast addresses outside the tunnel passes (neighbour "
                     "discovery, router solicitations, DHCPv6).",
                     false, false});
    rules.push_back({"ipv6-neighbour-discovery",
                     concat({outside, "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }"}),
                     "accept", "Neighbour discovery to a router's global address passes.", false, false});
    rules.push_back({"ipv6-tcp-rejected", concat({outside, "meta nfproto ipv6 meta l4proto tcp"}),
                     "reject with tcp reset",
                     "Any other IPv6 over TCP outside the tunnel is rejected (TCP reset: connections fail at once; "
                     "--block-ipv6).",
                     true, false});
    rules.push_back({"ipv6-rejected", concat({outside, "meta nfproto ipv6"}), "reject with icmpx type admin-prohibited",
                     "Any other IPv6 outside the tunnel is rejected (--block-ipv6).", true, false});
  }
  return rules;
}

json::array domains_json(const std::vector<ResolvedDomain>& domains) {
  json::array out;
  for (const ResolvedDomain& d : domains)
    out.push_back(json::object{{"domain", d.domain}, {"routing_only", d.routing_only}});
  return out;
}

Result<std::vector<ResolvedDomain>> domains_from(const json::value* v) {
  std::vector<ResolvedDomain> out;
  if (v == nullptr) return out;
  if (!v->is_array()) return fail("the record's domains are not a list");
  for (const json::value& d : v->as_array()) {
    if (!d.is_object()) return fail("a domain in the record is not an object");
    const json::value* routing = d.as_object().if_contains("routing_only");
    out.push_back(
        {0, json_text(d.as_object(), "domain"), routing != nullptr && routing->is_bool() && routing->as_bool()});
  }
  return out;
}

bool bool_of(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

}  // namespace

bool valid_interface_name(std::string_view name) noexcept { return valid_interface(name); }

std::string AllowedResolver::to_string() const {
  return interface.empty() ? address.to_string() : concat({address.to_string(), "%", interface});
}

Result<AllowedResolver> parse_allowed_resolver(std::string_view text) {
  AllowedResolver a;
  std::string_view address = text;
  if (const size_t percent = text.find('%'); percent != std::string_view::npos) {
    address = text.substr(0, percent);
    a.interface = std::string(text.substr(percent + 1));
    if (!valid_interface(a.interface)) {
      return fail(concat({"'", text, "': '", a.interface, "' is not an interface name"}));
    }
  }
  Result<net::IpAddress> ip = net::parse_ip(address);
  if (!ip) return fail(concat({"'", text, "' is not an address (ADDR or ADDR%INTERFACE): ", ip.error().message}));
  a.address = *ip;
  return a;
}

std::vector<GuardRuleText> guard_rules(const GuardPlan& plan) {
  std::vector<GuardRuleText> out;
  for (const Rule& r : rules_of(plan)) out.push_back({r.id, r.words, r.blocks});
  return out;
}

std::string guard_script(const GuardPlan& plan) {
  // Names that could break out of nft's quotes never reach the script (the CLI refuses them first).
  GuardPlan safe = plan;
  std::erase_if(safe.tunnels, [](const std::string& t) { return !valid_interface(t); });
  std::erase_if(safe.allowed,
                [](const AllowedResolver& a) { return !a.interface.empty() && !valid_interface(a.interface); });
  const std::vector<Rule> rules = rules_of(safe);
  std::string out =
      "# dnsleak guard: DNS only through the tunnel. One transaction: the table is created if missing,\n"
      "# deleted, and made again, so applying it twice leaves one table. Other tables are not touched.\n"
      "table inet dnsleak\n"
      "delete table inet dnsleak\n"
      "table inet dnsleak {\n"
      "\tcomment \"dnsleak guard: remove with dnsleak guard off\"\n";
  for (const char* hook : {"output", "forward"}) {
    out += concat({"\tchain ", hook, " {\n\t\ttype filter hook ", hook, " priority filter; policy accept;\n"});
    for (const Rule& r : rules) {
      if (r.output_only && std::string_view(hook) != "output") continue;
      out += concat({"\t\t", r.match, " counter ", r.verdict, " comment \"", r.id, "\"\n"});
    }
    out += "\t}\n";
  }
  out += "}\n";
  return out;
}

Result<std::vector<GuardRuleCount>> parse_guard_table(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return fail("the guard's table is not JSON: " + ec.message());
  const json::value* list = v.is_object() ? v.as_object().if_contains("nftables") : nullptr;
  if (list == nullptr || !list->is_array()) return fail("not an nftables JSON listing (no \"nftables\" list)");
  std::vector<GuardRuleCount> out;
  for (const json::value& item : list->as_array()) {
    const json::value* rule = item.is_object() ? item.as_object().if_contains("rule") : nullptr;
    if (rule == nullptr || !rule->is_object()) continue;
    const json::object& r = rule->as_object();
    if (json_text(r, "table") != kGuardTable || json_text(r, "family") != kGuardFamily) continue;
    GuardRuleCount c;
    c.chain = json_text(r, "chain");
    c.id = json_text(r, "comment");
    if (const json::value* expr = r.if_contains("expr"); expr && expr->is_array()) {
      for (const json::value& e : expr->as_array()) {
        const json::value* counter = e.is_object() ? e.as_object().if_contains("counter") : nullptr;
        if (counter == nullptr || !counter->is_object()) continue;
        const json::value* p = counter->as_object().if_contains("packets");
        const json::value* b = counter->as_object().if_contains("bytes");
        if (p && p->is_int64()) c.packets = static_cast<uint64_t>(p->as_int64());
        if (b && b->is_int64()) c.bytes = static_cast<uint64_t>(b->as_int64());
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string record_json(const GuardRecord& record) {
  json::array tunnels, allowed, resolved;
  for (const std::string& t : record.plan.tunnels) tunnels.push_back(json::value(t));
  for (const AllowedResolver& a : record.plan.allowed) allowed.push_back(json::value(a.to_string()));
  for (const ResolvedLinkChange& c : record.resolved) {
    resolved.push_back(json::object{{"ifindex", c.ifindex},
                                    {"name", c.name},
                                    {"set_domains", c.set_domains},
                                    {"old_domains", domains_json(c.old_domains)},
                                    {"set_default_route", c.set_default_route},
                                    {"old_default_route", c.old_default_route}});
  }
  const json::object doc{{"version", 1},
                         {"tunnels", tunnels},
                         {"allowed_resolvers", allowed},
                         {"block_ipv6", record.plan.block_ipv6},
                         {"script", record.script},
                         {"resolved", resolved},
                         {"persist", record.persist},
                         {"since_ms", record.since_ms}};
  return json::serialize(doc) + "\n";
}

Result<GuardRecord> parse_record(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail("the guard's record is not a JSON object");
  const json::object& o = v.as_object();
  const json::value* version = o.if_contains("version");
  if (version == nullptr || !version->is_int64() || version->as_int64() != 1) {
    return fail("the guard's record is of an unknown version");
  }
  GuardRecord r;
  if (const json::value* t = o.if_contains("tunnels"); t && t->is_array()) {
    for (const json::value& name : t->as_array()) {
      if (name.is_string()) r.plan.tunnels.emplace_back(name.as_string());
    }
  }
  if (const json::value* a = o.if_contains("allowed_resolvers"); a && a->is_array()) {
    for (const json::value& text_value : a->as_array()) {
      if (!text_value.is_string()) return fail("an allowed resolver in the record is not text");
      Result<AllowedResolver> allowed = parse_allowed_resolver(text_value.as_string());
      if (!allowed) return fail(std::move(allowed.error()).within("the guard's record"));
      r.plan.allowed.push_back(*allowed);
    }
  }
  r.plan.block_ipv6 = bool_of(o, "block_ipv6");
  r.script = json_text(o, "script");
  r.persist = bool_of(o, "persist");
  if (const json::value* s = o.if_contains("since_ms"); s && s->is_int64()) r.since_ms = s->as_int64();
  if (const json::value* list = o.if_contains("resolved"); list && list->is_array()) {
    for (const json::value& item : list->as_array()) {
      if (!item.is_object()) return fail("a resolved change in the record is not an object");
      const json::object& c = item.as_object();
      ResolvedLinkChange change;
      const json::value* index = c.if_contains("ifindex");
      if (index == nullptr || !index->is_int64() || index->as_int64() <= 0) {
        return fail("a resolved change in the record has no link index");
      }
      change.ifindex = static_cast<uint32_t>(index->as_int64());
      change.name = json_text(c, "name");
      change.set_domains = bool_of(c, "set_domains");
      Result<std::vector<ResolvedDomain>> domains = domains_from(c.if_contains("old_domains"));
      if (!domains) return fail(std::move(domains.error()));
      change.old_domains = std::move(*domains);
      change.set_default_route = bool_of(c, "set_default_route");
      change.old_default_route = bool_of(c, "old_default_route");
      r.resolved.push_back(std::move(change));
    }
  }
  return r;
}

namespace {
// One word of ExecStart as systemd reads it: % and $ doubled (specifiers, variables), quoted when
// it holds a space, a quote or a backslash.
std::string unit_word(std::string_view word) {
  std::string out;
  bool quote = false;
  for (const char c : word) {
    if (c == '%' || c == '$') out += c;
    if (c == '"' || c == '\\') out += '\\';
    quote = quote || c == ' ' || c == '\t' || c == '"' || c == '\\' || c == '\'';
    out += c;
  }
  return quote ? concat({"\"", out, "\""}) : out;
}
}  // namespace

std::string guard_unit(const std::string& dnsleak_path, const GuardPlan& plan) {
  std::string command = concat({unit_word(dnsleak_path), " guard on --no-resolved"});
  for (const std::string& t : plan.tunnels) command += concat({" --tunnel ", unit_word(t)});
  for (const AllowedResolver& a : plan.allowed) command += concat({" --allow-resolver ", unit_word(a.to_string())});
  if (plan.block_ipv6) command += " --block-ipv6";
  return concat(
      {"# Installed by `dnsleak guard on --persist`; removed by `dnsleak guard off --persist`.\n"
       "[Unit]\n"
       "Description=dnsleak guard: DNS only through the tunnel, from early boot\n"
       "Documentation=man:dnsleak(1)\n"
       "DefaultDependencies=no\n"
       "After=local-fs.target\n"
       "Wants=network-pre.target\n"
       "Before=network-pre.target shutdown.target\n"
       "Conflicts=shutdown.target\n"
       "\n"
       "[Service]\n"
       "Type=oneshot\n"
       "RemainAfterExit=yes\n"
       "ExecStart=",
       command,
       "\n"
       "\n"
       "[Install]\n"
       "WantedBy=sysinit.target\n"});
}

std::vector<ResolvedLinkChange> resolved_changes(const ResolvedState& state, const std::vector<uint32_t>& tunnels,
                                                 const std::vector<std::pair<uint32_t, std::string>>& names) {
  if (tunnels.empty()) return {};
  const uint32_t tunnel_index = tunnels.front();
  // Every name to a tunnel link with no server of its own would go nowhere: then nothing is moved.
  const bool tunnel_has_servers = std::ranges::any_of(
      state.links, [&](const ResolvedLink& l) { return l.index == tunnel_index && !l.servers.empty(); });
  if (!tunnel_has_servers) return {};
  auto name_of = [&](uint32_t index) {
    for (const auto& [i, n] : names) {
      if (i == index) return n;
    }
    return std::to_string(index);
  };
  std::vector<ResolvedLinkChange> out;
  for (const ResolvedLink& link : state.links) {
    if (link.index == tunnel_index) {
      const bool has_root = std::ranges::any_of(link.domains, [](const ResolvedDomain& d) {
        return (d.domain == "." || d.domain == "~.") && d.routing_only;
      });
      if (has_root) continue;
      ResolvedLinkChange c;
      c.ifindex = link.index;
      c.name = name_of(link.index);
      c.set_domains = true;
      c.old_domains = link.domains;
      out.push_back(std::move(c));
    } else if (link.default_route && !link.servers.empty() && std::ranges::find(tunnels, link.index) == tunnels.end()) {
      ResolvedLinkChange c;
      c.ifindex = link.index;
      c.name = name_of(link.index);
      c.set_default_route = true;
      c.old_default_route = true;
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace dnsleak::host
