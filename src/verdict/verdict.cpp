#include "verdict/verdict.h"

#include <algorithm>
#include <set>

namespace dnsleak::verdict {
namespace {

std::string describe(const net::IpAddress& address, const Network& network) {
  std::string text = address.to_string();
  if (network.asn || !network.organisation.empty()) {
    text += " (";
    if (network.asn) text += "AS" + std::to_string(*network.asn);
    if (!network.organisation.empty()) text += (network.asn ? " " : "") + network.organisation;
    text += ")";
  }
  return text;
}

bool contains(const std::vector<net::IpAddress>& list, const net::IpAddress& a) {
  return std::find(list.begin(), list.end(), a) != list.end();
}

bool contains(const std::vector<uint32_t>& list, const std::optional<uint32_t>& asn) {
  return asn && std::find(list.begin(), list.end(), *asn) != list.end();
}

std::string subnet_text(const dns::ClientSubnet& s) {
  net::IpAddress a;
  a.family = s.family == 2 ? 6 : 4;
  a.bytes = s.address;
  return a.to_string() + "/" + std::to_string(s.source_prefix);
}

// The fixes, in the words the CLI, the API and the page show.
constexpr const char* kFixUseVpnResolver =
    "Use your VPN's resolver only: turn on your VPN app's DNS leak protection, or set the VPN's resolver as the "
    "only DNS server; on Linux, `sudo dnsleak guard on` rejects DNS outside the tunnel to make sure.";
constexpr const char* kFixResolverBlocked =
    "Use the VPN's resolver: set it as the only DNS server (your VPN app's DNS setting, or `nameserver` in "
    "/etc/resolv.conf); with systemd-resolved, `sudo dnsleak guard on` also routes every domain to the tunnel.";
constexpr const char* kFixParallel =
    "Make the system ask only the VPN's resolver: on Windows turn off smart multi-homed name resolution (Group "
    "Policy: Network > DNS Client > Turn off smart multi-homed name resolution); with systemd-resolved, "
    "`resolvectl domain <tunnel> '~.'`.";
constexpr const char* kFixIpv6 =
    "Turn off the IPv6 your VPN does not carry (`sudo sysctl -w net.ipv6.conf.all.disable_ipv6=1`, or your VPN app's "
    "IPv6 leak protection), or use a VPN that tunnels IPv6.";
constexpr const char* kFixSubnet =
    "Use a resolver that does not forward your subnet (EDNS Client Subnet): your VPN's, or DNS over HTTPS/TLS to it.";
constexpr const char* kFixRunLocal =
    "Run `dnsleak test` on the machine itself: it checks where each lookup leaves (as root it captures them).";

std::string fix_route_into_tunnel(const LocalResolver& r, const std::vector<std::string>& tunnels) {
  std::string fix = kFixUseVpnResolver;
  if (!tunnels.empty()) {
    fix += " To keep this resolver, route it into the tunnel: `sudo ip route replace " + r.address.to_string() +
           " dev " + tunnels.front() + "`.";
  }
  return fix;
}

}  // namespace

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::leak: return "leak";
  }
  return "info";
}

const char* to_string(Certainty c) noexcept {
  switch (c) {
    case Certainty::unknown: return "unknown";
    case Certainty::likely: return "likely";
    case Certainty::proven: return "proven";
  }
  return "unknown";
}

const char* to_string(ResolverPath p) noexcept {
  switch (p) {
    case ResolverPath::tunnel: return "tunnel";
    case ResolverPath::outside: return "outside";
    case ResolverPath::loopback: return "loopback";
    case ResolverPath::unreachable: return "unreachable";
    case ResolverPath::unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::no_leak: return "no_leak";
    case Outcome::leak: return "leak";
    case Outcome::inconclusive: return "inconclusive";
  }
  return "inconclusive";
}

Verdict judge(const Evidence& e) {
  Verdict v;
  auto add = [&v](Severity s, std::string code, std::string reason, Certainty c = Certainty::likely,
                  std::string fix = {}) {
    v.findings.push_back({s, std::move(code), std::move(reason), c, std::move(fix)});
  };
  bool leak = false;
  bool proven_leak = false;

  // What this machine showed comes first: it is the strongest evidence there is.
  const LocalEvidence& local = e.local;
  bool local_says_tunnel = false;  // every resolver glibc asks is routed into the tunnel
  bool firewalled = false;         // a resolver outside the tunnel that the firewall stops DNS to
  if (local.gathered) {
    // One finding per interface and destination, naming one of the names seen.
    std::vector<std::pair<const LocalLeak*, size_t>> groups;
    for (const LocalLeak& l : local.leaks) {
      auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
        return g.first->interface == l.interface && g.first->destination == l.destination;
      });
      if (same == groups.end())
        groups.emplace_back(&l, 1);
      else
        ++same->second;
    }
    for (const auto& [l, count] : groups) {
      add(Severity::leak, "test_names_seen_leaving",
          (count == 1 ? "The test name " + l->name
                      : std::to_string(count) + " of the test's names (" + l->name + ", ...)") +
              (count == 1 ? " was" : " were") + " seen leaving on " + l->interface + " to " +
              l->destination.to_string() + " (captured on this machine): lookups went outside the tunnel.",
          Certainty::proven, kFixUseVpnResolver);
      leak = proven_leak = true;
    }
    if (local.tunnels.empty()) {
      add(Severity::info, "no_tunnel_found",
          "No tunnel interface (tun, WireGuard, IPsec, PPP...) was found on this machine: lookups leave over your "
          "ordinary network, so there is no tunnel to leak from.",
          Certainty::likely);
    }
    bool all_tunnel = !local.resolvers.empty();
    const bool stub_upstreams_known = std::any_of(local.resolvers.begin(), local.resolvers.end(),
                                                  [](const LocalResolver& r) { return r.stub_upstream; });
    for (const LocalResolver& r : local.resolvers) {
      const std::string which = r.stub_upstream ? "Your local stub's upstream resolver " : "Your resolver ";
      switch (r.path) {
        case ResolverPath::outside:
          all_tunnel = false;
          if (local.tunnels.empty()) break;
          if (!r.firewall_stops.empty()) {
            firewalled = true;
            add(Severity::warning, "resolver_blocked_outside_tunnel",
                which + r.address.to_string() + " is routed over " + r.interface +
                    ", outside the tunnel, but the firewall rejects DNS to it (" + r.firewall_stops +
                    "): lookups to it fail instead of leaking.",
                Certainty::likely, kFixResolverBlocked);
            break;
          }
          add(Severity::leak, "resolver_outside_tunnel",
              which + r.address.to_string() + " is routed over " + r.interface + ", not through the tunnel (" +
                  local.tunnels.front() + "): the kernel's route for it leaves outside.",
              Certainty::likely, fix_route_into_tunnel(r, local.tunnels));
          leak = true;
          break;
        case ResolverPath::unreachable:
          add(Severity::warning, "resolver_unreachable",
              which + r.address.to_string() + " has no route: lookups fall back to the next resolver listed.",
              Certainty::likely, kFixUseVpnResolver);
          break;
        case ResolverPath::loopback:
          if (stub_upstreams_known) break;  // judged by its upstreams
          all_tunnel = false;
          add(Severity::info, "local_stub",
              which + r.address.to_string() +
                  " is a local forwarder: where it sends your lookups is not in its address.",
              Certainty::unknown,
              local.captured ? "" : "Run `sudo dnsleak test` (or `sudo dnsleak watch`) to see what it sends out.");
          break;
        case ResolverPath::tunnel: break;
        case ResolverPath::unknown: all_tunnel = false; break;
      }
    }
    local_says_tunnel = all_tunnel && !local.tunnels.empty();
    if (local_says_tunnel) {
      add(Severity::info, "resolvers_through_tunnel",
          "Every resolver your system asks is routed through the tunnel (" + local.tunnels.front() + ").",
          Certainty::likely);
    }
    if (local.captured && local.leaks.empty()) {
      std::string where;
      for (const std::string& i : local.capture_interfaces) where += (where.empty() ? "" : ", ") + i;
      add(Severity::info, "nothing_seen_leaving",
          "None of the test's names was seen leaving on " + (where.empty() ? std::string("any interface") : where) +
              " (captured for the length of the test).",
          Certainty::proven);
    }
    for (const std::string& why : local.unchecked) add(Severity::info, "not_checked", why, Certainty::unknown);
  }
  // The ISP's networks, as seen from the interfaces outside the tunnel: an automatic baseline.
  std::set<uint32_t> isp_asns(e.baseline.asns.begin(), e.baseline.asns.end());
  std::string isp_where = isp_asns.empty() ? "" : "your baseline, taken with the tunnel down,";
  if (local.gathered && !local.tunnels.empty()) {
    for (const UnderlayProbe& u : local.underlay) {
      if (!u.address || !u.network.asn) continue;
      if (isp_asns.insert(*u.network.asn).second) {
        add(Severity::info, "isp_network_seen",
            "Outside the tunnel, " + u.interface + " reaches the internet as " + describe(*u.address, u.network) +
                ": your ISP's network.",
            Certainty::proven);
      }
      if (isp_where.empty()) isp_where = u.interface;
    }
  }

  auto finish = [&](Outcome outcome, Certainty certainty) {
    v.outcome = outcome;
    v.certainty = certainty;
    if (outcome == Outcome::leak) v.certainty = proven_leak ? Certainty::proven : Certainty::likely;
    return v;
  };

  if (e.resolvers.empty() && !leak && (firewalled || !local.firewall_stops_dns.empty()) && local.captured &&
      local.leaks.empty()) {
    // Nothing reached any resolver, nothing left outside the tunnel (captured), and the firewall
    // stops DNS to the resolvers routed outside: no leak, and no DNS either.
    add(Severity::warning, "dns_blocked_outside_tunnel",
        "No resolver asked the test server for the test names: the firewall rejects DNS outside the tunnel (" +
            (local.firewall_stops_dns.empty() ? std::string("to your resolvers there") : local.firewall_stops_dns) +
            "), and no resolver is reached through it. Nothing leaked, but names do not resolve.",
        Certainty::proven, kFixResolverBlocked);
    return finish(Outcome::no_leak, Certainty::proven);
  }
  if (e.resolvers.empty()) {
    add(Severity::warning, "no_resolver_seen",
        e.networks_known ? "No resolver asked the test server for the test names, so nothing can be said about leaks."
                         : "No echo name answered, so no resolver could be seen.",
        Certainty::unknown,
        "Check that names resolve at all (`getent ahosts example.com`); a firewall or a filtering resolver may block "
        "the test names.");
    return finish(leak ? Outcome::leak : Outcome::inconclusive, Certainty::unknown);
  }

  // ECS: the resolver tells authoritative servers part of the client's address.
  for (const ResolverEvidence& r : e.resolvers) {
    if (r.client_subnet) {
      add(Severity::warning, "resolver_forwards_subnet",
          "Resolver " + describe(r.address, r.network) + " forwards your subnet " + subnet_text(*r.client_subnet) +
              " to every authoritative server it asks (EDNS Client Subnet).",
          Certainty::proven, kFixSubnet);
    }
  }

  // IPv6 not tunnelled: the IPv4 and the IPv6 exits are in different networks (a client may show
  // several addresses of a family: privacy addresses, retries).
  std::set<uint32_t> asns4, asns6;
  const EgressEvidence* exit4 = nullptr;
  const EgressEvidence* exit6 = nullptr;
  for (const EgressEvidence& x : e.egress) {
    if (!x.network.asn) continue;
    (x.address.family == 6 ? exit6 : exit4) = &x;  // an exit of that family with a known network
    (x.address.family == 6 ? asns6 : asns4).insert(*x.network.asn);
  }
  bool exits_differ = exit4 != nullptr && exit6 != nullptr;
  for (const uint32_t asn : asns6) exits_differ = exits_differ && asns4.count(asn) == 0;
  // ECS proves where a resolver was asked from: a forwarded subnet outside the (IPv4) exit's
  // network means the query reached the resolver from outside the tunnel.
  {
    std::set<uint32_t> tunnel_asns = asns4;
    if (!exits_differ) tunnel_asns.insert(asns6.begin(), asns6.end());
    for (const ResolverEvidence& r : e.resolvers) {
      if (!r.client_subnet || !r.client_subnet_network || !r.client_subnet_network->asn || tunnel_asns.empty() ||
          tunnel_asns.count(*r.client_subnet_network->asn) != 0) {
        continue;
      }
      add(Severity::leak, "subnet_outside_exit_network",
          "Resolver " + describe(r.address, r.network) + " was asked on behalf of " + subnet_text(*r.client_subnet) +
              " (EDNS Client Subnet), which is in AS" + std::to_string(*r.client_subnet_network->asn) +
              (r.client_subnet_network->organisation.empty() ? "" : " " + r.client_subnet_network->organisation) +
              ", not in your exit's network: the query reached it from outside the tunnel.",
          Certainty::proven, kFixUseVpnResolver);
      leak = proven_leak = true;
    }
  }
  if (exits_differ) {
    add(Severity::warning, "ipv6_egress_differs",
        "Your IPv6 traffic leaves through " + describe(exit6->address, exit6->network) +
            ", not through your IPv4 exit " + describe(exit4->address, exit4->network) +
            ": IPv6 is probably not tunnelled.",
        Certainty::likely, kFixIpv6);
  }

  // What the user said to expect, or a baseline of their ISP, decides over the heuristics.
  bool server_leak = false;
  if (!e.expected.empty()) {
    for (const ResolverEvidence& r : e.resolvers) {
      if (contains(e.expected.resolvers, r.address) || contains(e.expected.asns, r.network.asn)) continue;
      add(Severity::leak, "unexpected_resolver",
          "Resolver " + describe(r.address, r.network) + " is not one you said your tunnel uses.", Certainty::likely,
          kFixUseVpnResolver);
      server_leak = true;
    }
  }
  for (const ResolverEvidence& r : e.resolvers) {
    if (contains(e.baseline.resolvers, r.address) || contains(e.baseline.asns, r.network.asn)) {
      add(Severity::leak, "baseline_resolver_seen",
          "Resolver " + describe(r.address, r.network) +
              " was seen with your tunnel down: your ISP's resolvers still get your lookups.",
          Certainty::likely, kFixUseVpnResolver);
      server_leak = true;
    }
  }
  leak = leak || server_leak;
  // A clean outcome is proven when a capture saw nothing leave and the server agrees.
  const Certainty clean = local.captured && local.leaks.empty() ? Certainty::proven : Certainty::likely;
  if (!e.expected.empty()) {
    if (!server_leak) add(Severity::info, "as_expected", "Every resolver seen is one you said your tunnel uses.");
    return finish(leak ? Outcome::leak : Outcome::no_leak, clean);
  }
  if (!e.networks_known) {  // nothing to compare the resolvers with
    return finish(leak ? Outcome::leak : Outcome::inconclusive, Certainty::unknown);
  }

  // Heuristics: a resolver outside every exit's network is a leak unless it is a known public
  // resolver (reached through the tunnel, that is a choice, not a leak).
  // When the IPv4 and IPv6 exits are in different networks, one of them is outside the tunnel.
  // VPNs tunnel IPv4 when they tunnel anything, so the IPv4 exit is the tunnel's: a resolver in
  // the IPv6 exit's network is then as much a leak as any other.
  std::set<uint32_t> exit_asns;
  for (const EgressEvidence& x : e.egress) {
    if (exits_differ && x.address.family == 6) continue;
    if (x.network.asn) exit_asns.insert(*x.network.asn);
  }
  std::set<uint32_t> private_networks;  // networks of resolvers that are not public operators
  bool unknown = false;
  bool public_seen = false;
  for (const ResolverEvidence& r : e.resolvers) {
    if (!r.network.public_operator.empty()) {
      public_seen = true;
      add(Severity::info, "public_resolver",
          "Resolver " + describe(r.address, r.network) + " belongs to " + r.network.public_operator +
              ", a public resolver: not a leak by itself, but they see your lookups." +
              (local.gathered ? ""
                              : " From the server alone it cannot be told whether it was reached through your "
                                "tunnel or outside it."),
          local.gathered ? Certainty::likely : Certainty::unknown, local.gathered ? "" : kFixRunLocal);
      continue;
    }
    if (!r.network.asn) {
      unknown = true;
      add(Severity::warning, "resolver_network_unknown",
          "The network of resolver " + r.address.to_string() + " is unknown, so it cannot be compared with your exit.",
          Certainty::unknown, local.gathered ? "" : kFixRunLocal);
      continue;
    }
    if (exit_asns.empty()) {
      private_networks.insert(*r.network.asn);
      continue;
    }
    if (exit_asns.count(*r.network.asn) != 0) {
      private_networks.insert(*r.network.asn);
      add(Severity::info, "resolver_in_exit_network",
          "Resolver " + describe(r.address, r.network) + " is in the same network as your exit.");
    } else if (isp_asns.count(*r.network.asn) != 0) {
      private_networks.insert(*r.network.asn);
      leak = true;
      if (contains(e.baseline.resolvers, r.address) || contains(e.baseline.asns, r.network.asn)) continue;  // said
      add(Severity::leak, "resolver_in_isp_network",
          "Resolver " + describe(r.address, r.network) + " is in your ISP's network (the one " + isp_where +
              " shows outside the tunnel): your ISP gets your lookups" +
              (local_says_tunnel ? ", even though they travel through the tunnel." : "."),
          Certainty::likely, kFixUseVpnResolver);
      leak = true;
    } else if (local_says_tunnel && !isp_asns.empty() && local.leaks.empty()) {
      // Neither the exit's network nor the ISP's, and reached through the tunnel: VPN providers
      // run their resolvers in hosting networks other than their exits'.
      add(Severity::info, "resolver_elsewhere_through_tunnel",
          "Resolver " + describe(r.address, r.network) +
              " is not in your exit's network, but it is reached through the tunnel and is not in your ISP's "
              "network either: most likely your VPN provider's own resolver.",
          Certainty::likely);
    } else if (local_says_tunnel && isp_asns.empty() && local.leaks.empty()) {
      unknown = true;
      add(Severity::warning, "resolver_network_unexplained",
          "Resolver " + describe(r.address, r.network) +
              " is not in your exit's network but is reached through the tunnel; your ISP's network is not known "
              "here, so it cannot be told whether it is your VPN provider's resolver or your ISP's.",
          Certainty::unknown,
          "Run `dnsleak test --save-baseline` once with the tunnel down, or let dnsleak reach the internet outside "
          "the tunnel (a default route on the uplink) so it can learn your ISP's network.");
    } else {
      private_networks.insert(*r.network.asn);
      add(Severity::leak, "resolver_network_differs",
          "Resolver " + describe(r.address, r.network) + " is not in your exit's network: your lookups do not go " +
              "where your traffic goes" +
              (local_says_tunnel ? " (it is reached through the tunnel, but its operator "
                                   "sees every name)."
               : local.gathered  ? "."
                                 : ". (From the server alone this cannot be told from a VPN provider's own resolver "
                                   "in another network: `dnsleak test` on the machine can.)"),
          Certainty::likely, kFixUseVpnResolver);
      leak = true;
    }
  }
  if (private_networks.size() > 1) {
    add(Severity::leak, "several_resolver_networks",
        "Resolvers from " + std::to_string(private_networks.size()) +
            " networks answered: your system asks more than one resolver (parallel or fallback queries).",
        Certainty::likely, kFixParallel);
    leak = true;
  }
  if (leak) return finish(Outcome::leak, Certainty::likely);
  if (exit_asns.empty() || unknown) {
    if (exit_asns.empty()) {
      add(Severity::warning, "no_exit_seen", "Your exit address is unknown, so resolvers cannot be compared with it.",
          Certainty::unknown,
          "Let the HTTP probes through (a browser extension or a firewall stopped them) and test again.");
    }
    return finish(Outcome::inconclusive, Certainty::unknown);
  }
  // From the server alone a public resolver reached outside the tunnel looks like one reached
  // through it: the outcome is then not known for sure.
  if (public_seen && !local.gathered) return finish(Outcome::no_leak, Certainty::unknown);
  return finish(Outcome::no_leak, local.gathered ? clean : Certainty::likely);
}

}  // namespace dnsleak::verdict
