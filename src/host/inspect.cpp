#include "host/inspect.h"

#include <algorithm>
#include <tuple>

namespace dnsleak::host {
namespace {

using verdict::Certainty;
using verdict::Finding;
using verdict::ResolverPath;
using verdict::Severity;

bool has(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

bool has_global_ipv6(const Snapshot& s, const std::string& interface) {
  const Link* link = s.link(interface);
  return link != nullptr && std::any_of(s.addresses.begin(), s.addresses.end(), [&](const Address& a) {
           return a.link == link->index && a.address.family == 6 && a.global();
         });
}

// Where the firewall, as read, stops DNS to a resolver outside the tunnel.
std::optional<std::string> firewall_stops(const Snapshot& s, const ResolverRoute& r) {
  return s.ruleset ? stops_dns(*s.ruleset, r.interface, r.address) : std::nullopt;
}

// Whether the firewall stops DNS leaving outside the tunnel, per interface.
template <class Add>
void firewall_findings(const Snapshot& s, const std::string& tunnel, Add& add) {
  if (!s.firewall_error.empty()) {
    add(Severity::info, "firewall_not_read",
        "Whether the firewall stops DNS outside the tunnel is not known: " + s.firewall_error + ".", Certainty::unknown,
        std::string());
    return;
  }
  if (s.guard_on && s.guard_tunnel_open) {
    add(Severity::info, "guard_tunnel_open",
        "dnsleak guard is on, and through the tunnel it lets DNS go to any resolver: a rule on interfaces cannot stop "
        "a resolver outside the VPN reached through the tunnel (the ISP's resolver, routed into it).",
        Certainty::unknown,
        concat({"If the VPN's resolvers are known, allow them alone: `sudo dnsleak guard on --tunnel ", tunnel,
                " --allow-resolver ADDR`."}));
  }
  std::vector<std::string> interfaces;
  for (const Snapshot::FirewallCheck& c : s.firewall) {
    if (!has(interfaces, c.interface)) interfaces.push_back(c.interface);
  }
  for (const std::string& i : interfaces) {
    std::vector<std::string> passing;
    const Snapshot::FirewallCheck* unclear = nullptr;
    const Snapshot::FirewallCheck* stopped = nullptr;
    for (const Snapshot::FirewallCheck& c : s.firewall) {
      if (c.interface != i) continue;
      const std::string what = concat({net::to_string(c.transport), " over IPv", std::to_string(c.family)});
      if (c.answer.outcome == FirewallOutcome::passes) passing.push_back(what);
      if (c.answer.outcome == FirewallOutcome::unknown && unclear == nullptr) unclear = &c;
      if (c.answer.outcome == FirewallOutcome::stopped && stopped == nullptr) stopped = &c;
    }
    if (!passing.empty()) {
      add(Severity::warning, "firewall_lets_dns_outside",
          "Nothing in the firewall stops DNS leaving on " + i + " (" + joined(passing) +
              "): a fallback resolver or a changed setting leaks past the tunnel without a sound.",
          Certainty::likely,
          concat({"Reject DNS outside ", tunnel, " in a table of dnsleak's own: `sudo dnsleak guard on --tunnel ",
                  tunnel, "` (undo: `sudo dnsleak guard off`; `dnsleak guard on --dry-run` shows the rules first)."}));
    } else if (unclear != nullptr) {
      add(Severity::info, "firewall_unclear",
          "Whether the firewall stops DNS leaving on " + i + " cannot be told: " + unclear->answer.why + " (" +
              unclear->answer.where + ").",
          Certainty::unknown, std::string());
    } else if (stopped != nullptr && stopped->answer.where.starts_with("table inet dnsleak,")) {
      add(Severity::info, "firewall_stops_dns_outside",
          concat({"dnsleak guard stops DNS (UDP and TCP port 53, IPv4 and IPv6) leaving on ", i, " (",
                  stopped->answer.where, ")."}),
          Certainty::likely, std::string());
    } else if (stopped != nullptr) {
      add(Severity::info, "firewall_stops_dns_outside",
          "The firewall stops DNS (UDP and TCP port 53, IPv4 and IPv6) leaving on " + i + " (" + stopped->answer.where +
              ").",
          Certainty::likely, std::string());
    }
  }
}

// systemd-resolved's own routing: which links get names no routing domain claims, global and
// fallback servers, DNS over TLS, LLMNR and mDNS outside the tunnel, resolv.conf past it.
template <class Add>
void resolved_findings(const Snapshot& s, const std::string& tunnel, Add& add) {
  const ResolvedState& r = s.resolved;
  auto name_of = [&s](uint32_t index) {
    const Link* l = s.link(index);
    return l != nullptr ? l->name : "link " + std::to_string(index);
  };
  auto is_tunnel = [&s](uint32_t index) {
    const Link* l = s.link(index);
    return l != nullptr && l->tunnel();
  };
  if (r.resolv_conf_mode == "foreign" && !s.resolv_conf.nameservers.empty()) {
    add(Severity::warning, "resolv_conf_bypasses_resolved",
        "systemd-resolved runs, but /etc/resolv.conf is not its (ResolvConfMode foreign): programs that read it ask "
        "its nameservers directly, past resolved's per-link routing.",
        Certainty::proven, "`sudo ln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf`");
  }
  if (!tunnel.empty()) {
    bool tunnel_takes_all = false;
    for (const ResolvedLink& l : r.links) {
      if (!is_tunnel(l.index)) continue;
      for (const ResolvedDomain& d : l.domains)
        tunnel_takes_all = tunnel_takes_all || (d.domain == "." || d.domain == "~.");
    }
    for (const ResolvedLink& l : r.links) {
      if (is_tunnel(l.index) || !l.default_route || l.servers.empty()) continue;
      const std::string name = name_of(l.index);
      std::string servers;
      for (const net::IpAddress& x : l.servers) servers += (servers.empty() ? "" : ", ") + x.to_string();
      std::string reason =
          "systemd-resolved sends names no routing domain claims to every link with DefaultRoute, and ";
      reason += concat({name, " is one (servers ", servers, ")"});
      reason += tunnel_takes_all ? ", beside the tunnel's '~.'" : ", while the tunnel " + tunnel + " has no '~.'";
      reason += ": lookups go to both.";
      add(Severity::leak, "resolved_default_route_outside", std::move(reason), Certainty::likely,
          concat({"`sudo resolvectl domain ", tunnel, " '~.'` and `sudo resolvectl default-route ", name,
                  " false` (your VPN client should do this itself)."}));
    }
  }
  bool global = false;
  for (const ResolvedServer& g : r.servers) global = global || g.link == 0;
  if (global) {
    add(Severity::warning, "resolved_global_servers",
        "systemd-resolved has global DNS servers (resolved.conf DNS=): they are asked besides the links' own, over "
        "whatever route the kernel picks.",
        Certainty::proven, "Remove DNS= from /etc/systemd/resolved.conf while the VPN sets the tunnel's servers.");
  }
  const bool current_is_fallback =
      r.has_current && std::any_of(r.fallback.begin(), r.fallback.end(),
                                   [&](const ResolvedServer& f) { return f.address == r.current.address; });
  if (current_is_fallback) {
    add(Severity::leak, "resolved_fallback_in_use",
        "systemd-resolved is using its fallback server " + r.current.address.to_string() +
            ": no link has servers of its own, so lookups go to a resolver nobody configured.",
        Certainty::proven,
        "Set FallbackDNS= empty in /etc/systemd/resolved.conf, and the VPN's servers on " +
            (tunnel.empty() ? std::string("the tunnel") : tunnel) + ".");
  }
  for (const ResolvedLink& l : r.links) {
    const Link* link = s.link(l.index);
    if (link == nullptr || link->tunnel() || link->loopback()) continue;
    const std::string name = name_of(l.index);
    const std::string dot = l.dns_over_tls.empty() || l.dns_over_tls == "no" ? r.dns_over_tls : l.dns_over_tls;
    if (!tunnel.empty() && (dot == "yes" || dot == "opportunistic") && !l.servers.empty() && l.default_route) {
      add(Severity::warning, "dot_outside_tunnel",
          concat({"DNS over TLS (", dot, ") goes to ", l.servers.front().to_string(), " on ", name,
                  ", outside the tunnel: the ISP cannot read the names, but that resolver gets them all."}),
          Certainty::likely,
          "Let DNS go through the tunnel to the VPN's resolver (DNS over TLS to it if it offers it).");
    }
    for (const auto& [protocol, value, code] : {std::tuple{"LLMNR", l.llmnr, "llmnr_outside_tunnel"},
                                                std::tuple{"Multicast DNS", l.mdns, "mdns_outside_tunnel"}}) {
      if (value != "yes" && value != "resolve") continue;
      add(Severity::warning, code,
          concat({protocol, " is on for ", name, " (", value,
                  "): single-label and .local names are asked of everyone on that network, outside any tunnel."}),
          Certainty::proven,
          concat({"`sudo resolvectl ", std::string_view(protocol) == "LLMNR" ? "llmnr " : "mdns ", name, " no`"}));
    }
  }
}

// NetworkManager's merge of every connection's servers: a VPN's are exclusive only with a negative
// priority; otherwise the uplink's stay in the list, as a fallback or asked beside them.
template <class Add>
void network_manager_findings(const Snapshot& s, Add& add) {
  const NetworkManagerDns& nm = s.network_manager;
  const NmDnsEntry* vpn = nullptr;
  for (const NmDnsEntry& e : nm.configuration) {
    if (e.vpn && !e.nameservers.empty() && (vpn == nullptr || e.priority < vpn->priority)) vpn = &e;
  }
  if (vpn == nullptr) return;
  for (const NmDnsEntry& e : nm.configuration) {
    if (e.vpn || e.nameservers.empty() || vpn->priority < 0) continue;
    std::string servers;
    for (const net::IpAddress& a : e.nameservers) servers += (servers.empty() ? "" : ", ") + a.to_string();
    std::string reason =
        concat({"NetworkManager hands the system the VPN's DNS servers (priority ", std::to_string(vpn->priority),
                ") and ", e.interface.empty() ? std::string("another link") : e.interface, "'s (", servers,
                ", priority ", std::to_string(e.priority), ") together"});
    reason += nm.mode == "default" ? ": the uplink's follow in /etc/resolv.conf, and are asked whenever the VPN's fail."
                                   : ": both may be asked.";
    add(Severity::warning, "nm_dns_not_exclusive", std::move(reason), Certainty::proven,
        "Make the VPN's servers the only ones: `nmcli connection modify <VPN connection> ipv4.dns-priority -50 "
        "ipv6.dns-priority -50` (a negative priority excludes every other connection's), then reconnect.");
  }
  if (nm.mode == "none" || nm.rc_manager == "unmanaged") {
    const bool applied =
        std::any_of(s.resolv_conf.nameservers.begin(), s.resolv_conf.nameservers.end(), [&](const Nameserver& n) {
          return std::find(vpn->nameservers.begin(), vpn->nameservers.end(), n.address) != vpn->nameservers.end();
        });
    if (!applied) {
      add(Severity::warning, "nm_vpn_dns_not_applied",
          concat({"NetworkManager knows the VPN's DNS servers but does not write /etc/resolv.conf (dns=", nm.mode,
                  ", rc-manager=", nm.rc_manager, "), and resolv.conf does not name them."}),
          Certainty::likely,
          "Let NetworkManager manage resolv.conf (dns=default or systemd-resolved), or name the VPN's servers there "
          "yourself.");
    }
  }
}

}  // namespace

std::vector<Finding> inspect(const Snapshot& s) {
  std::vector<Finding> findings;
  auto add = [&findings](Severity severity, std::string code, std::string reason, Certainty certainty,
                         std::string fix = {}) {
    findings.push_back({severity, std::move(code), std::move(reason), certainty, std::move(fix)});
  };
  const std::vector<const Link*> tunnels = s.tunnels();
  const std::string tunnel = tunnels.empty() ? std::string() : tunnels.front()->name;

  if (tunnels.empty()) {
    add(Severity::info, "no_tunnel_found",
        "No tunnel interface (tun, WireGuard, IPsec, GRE, PPP...) is up: there is no tunnel for DNS to leak out of; "
        "the rest of this report still applies once one is up.",
        Certainty::likely);
  }
  if (!s.resolv_conf_found) {
    add(Severity::warning, "no_resolv_conf",
        "/etc/resolv.conf is missing: glibc then asks a resolver on this machine (127.0.0.1).", Certainty::proven,
        "Let your network manager or VPN client write /etc/resolv.conf, naming the VPN's resolver.");
  }

  for (const ResolverRoute& r : s.resolvers) {
    const std::string who =
        (r.stub_upstream ? "systemd-resolved's upstream resolver " : "Resolver ") + r.address.to_string();
    if (!r.used) {
      add(Severity::warning, "nameserver_ignored",
          who + " is listed after the third nameserver in /etc/resolv.conf: glibc never asks it.", Certainty::proven,
          "Keep at most three nameserver lines in /etc/resolv.conf, the VPN's first.");
      continue;
    }
    switch (r.path) {
      case ResolverPath::outside:
        if (tunnels.empty()) {
          add(Severity::info, "resolver_route", who + " is reached over " + r.interface + ".", Certainty::proven);
        } else if (const std::optional<std::string> stops = firewall_stops(s, r)) {
          add(Severity::warning, "resolver_blocked_outside_tunnel",
              concat({who, " is routed over ", r.interface, ", outside the tunnel ", tunnel,
                      ", but the firewall rejects DNS to it (", *stops, "): lookups to it fail instead of leaking."}),
              Certainty::likely,
              "Use the VPN's resolver: set it as the only DNS server (your VPN app's DNS setting, or `nameserver` in "
              "/etc/resolv.conf).");
        } else {
          std::string gateway = r.gateway ? " via " + r.gateway->to_string() : std::string();
          add(Severity::leak, "resolver_outside_tunnel",
              concat({who, " is routed over ", r.interface, gateway, ", not through the tunnel ", tunnel,
                      ": every name looked up is sent there in cleartext, past the tunnel."}),
              Certainty::likely,
              "Use your VPN's resolver (the VPN app's DNS leak protection), or route this one into the tunnel: "
              "`sudo ip route replace " +
                  r.address.to_string() + " dev " + tunnel + "`.");
        }
        break;
      case ResolverPath::tunnel:
        add(Severity::info, "resolver_through_tunnel", who + " is routed through the tunnel " + r.interface + ".",
            Certainty::likely);
        break;
      case ResolverPath::loopback: {
        const bool upstreams =
            std::any_of(s.resolvers.begin(), s.resolvers.end(), [](const ResolverRoute& u) { return u.stub_upstream; });
        if (upstreams) {
          add(Severity::info, "local_stub",
              who + " is systemd-resolved's stub; the servers it forwards to are judged below.", Certainty::proven);
        } else {
          add(Severity::warning, "local_stub_upstreams_unknown",
              who +
                  " is a forwarder on this machine (dnsmasq, unbound, a VPN client's): where it sends your "
                  "lookups cannot be read from here.",
              Certainty::unknown,
              "See what it sends out: `sudo dnsleak watch -- getent ahosts example.com`; check the forwarder's own "
              "servers point into the tunnel.");
        }
        break;
      }
      case ResolverPath::unreachable:
        add(Severity::warning, "resolver_unreachable",
            who + " cannot be reached (" + r.why_not + "): every lookup waits for it or falls back to the next one.",
            Certainty::proven, "Remove it, or bring back the route to it (is the tunnel down?).");
        break;
      case ResolverPath::unknown:
        add(Severity::info, "resolver_route_unknown", who + ": its route is unknown (" + r.why_not + ").",
            Certainty::unknown);
        break;
    }
  }

  if (!tunnels.empty()) {
    // IPv6 outside an IPv4-only tunnel: the most common leak of all.
    if (s.internet6.path == ResolverPath::outside && has_global_ipv6(s, s.internet6.interface)) {
      add(Severity::warning, "ipv6_outside_tunnel",
          "IPv6 traffic, DNS to IPv6 resolvers included, leaves over " + s.internet6.interface +
              " with a global IPv6 address, not through the tunnel " + tunnel + ".",
          Certainty::likely,
          "Turn off IPv6 on " + s.internet6.interface + " while the VPN is up (`sudo sysctl -w net.ipv6.conf." +
              s.internet6.interface + ".disable_ipv6=1`, or the VPN app's IPv6 leak protection).");
    }
    if (s.internet4.path == ResolverPath::outside) {
      add(Severity::warning, "default_route_outside_tunnel",
          "Traffic to the internet at large leaves over " + s.internet4.interface + ", not the tunnel " + tunnel +
              " (a split tunnel): DNS stays in the tunnel only where it is routed there on purpose.",
          Certainty::likely, "Route the VPN's resolver into the tunnel, or tunnel everything.");
    }
    if (!s.resolv_conf.search.empty()) {
      add(Severity::warning, "search_domains",
          "Short names are also tried under the search domains " + joined(s.resolv_conf.search) +
              ": a typo or an intranet name is sent out as NAME." + s.resolv_conf.search.front() +
              ", often to that network's own resolver.",
          Certainty::likely,
          "Drop the search domains your network handed out while the VPN is up (the `search` line in "
          "/etc/resolv.conf, or the connection's DNS search setting).");
    }
  }

  const std::vector<std::string>& nss = s.nsswitch.sources;
  if (std::any_of(nss.begin(), nss.end(), [](const std::string& m) { return m.starts_with("mdns"); })) {
    add(Severity::warning, "mdns_lookups",
        "nsswitch.conf's hosts: line asks multicast DNS (" + joined(nss) +
            "): names under .local are asked of everyone on the local network, outside any tunnel.",
        Certainty::proven,
        "Remove the mdns entries from the hosts: line of /etc/nsswitch.conf if you do not need them.");
  }
  if (has(nss, "resolve") && s.resolv_conf_found) {
    add(Severity::info, "nss_resolve",
        "nsswitch.conf's hosts: line asks systemd-resolved directly (nss-resolve): its per-link servers decide, not "
        "/etc/resolv.conf.",
        Certainty::proven);
  }
  if (s.resolv_conf.nameservers.empty() && s.resolv_conf_found) {
    add(Severity::warning, "no_nameserver", "/etc/resolv.conf names no nameserver: glibc then asks 127.0.0.1.",
        Certainty::proven);
  }
  for (const BrowserDns& b : s.browsers) {
    const bool firefox = b.browser == "Firefox";
    std::string reason = b.browser;
    if (firefox) reason += " (profile " + b.profile + ")";
    reason += " resolves names itself over DNS over HTTPS (";
    reason += firefox ? "network.trr.mode " : "mode ";
    reason += b.mode + ", " + (b.resolver.empty() ? std::string("its default resolver") : b.resolver);
    reason += "): it bypasses the system's resolver, so a web leak test in it shows that resolver and `dnsleak test` ";
    reason += "the system's.";
    if (firefox && b.mode == "2") reason += " In mode 2 it falls back to the system's resolver whenever DoH fails.";
    add(Severity::warning, "browser_own_doh", std::move(reason), Certainty::proven,
        firefox
            ? "If that is not your VPN's resolver: in about:config set network.trr.mode to 5 (off), or set "
              "network.trr.uri to your VPN's DNS over HTTPS address."
            : "If that is not your VPN's resolver: in Settings > Privacy and security > Use secure DNS, choose your "
              "VPN's DNS over HTTPS address, or turn it off.");
  }
  if (!tunnels.empty()) firewall_findings(s, tunnel, add);
  if (s.resolved_running) resolved_findings(s, tunnel, add);
  if (s.network_manager_running) network_manager_findings(s, add);
  for (const std::string& p : s.problems) add(Severity::info, "unreadable", p, Certainty::unknown);
  return findings;
}

}  // namespace dnsleak::host
