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

}  // namespace

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::leak: return "leak";
  }
  return "info";
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
  auto add = [&v](Severity s, std::string code, std::string reason) {
    v.findings.push_back({s, std::move(code), std::move(reason)});
  };

  if (e.resolvers.empty()) {
    add(Severity::warning, "no_resolver_seen",
        e.networks_known ? "No resolver asked the test server for the test names, so nothing can be said about leaks."
                         : "No echo name answered, so no resolver could be seen.");
    v.outcome = Outcome::inconclusive;
    return v;
  }

  // ECS: the resolver tells authoritative servers part of the client's address.
  for (const ResolverEvidence& r : e.resolvers) {
    if (r.client_subnet) {
      add(Severity::warning, "resolver_forwards_subnet",
          "Resolver " + describe(r.address, r.network) + " forwards your subnet " + subnet_text(*r.client_subnet) +
              " to every authoritative server it asks (EDNS Client Subnet).");
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
  if (exits_differ) {
    add(Severity::warning, "ipv6_egress_differs",
        "Your IPv6 traffic leaves through " + describe(exit6->address, exit6->network) +
            ", not through your IPv4 exit " + describe(exit4->address, exit4->network) +
            ": IPv6 is probably not tunnelled.");
  }

  bool leak = false;
  // What the user said to expect, or a baseline of their ISP, decides over the heuristics.
  if (!e.expected.empty()) {
    for (const ResolverEvidence& r : e.resolvers) {
      if (contains(e.expected.resolvers, r.address) || contains(e.expected.asns, r.network.asn)) continue;
      add(Severity::leak, "unexpected_resolver",
          "Resolver " + describe(r.address, r.network) + " is not one you said your tunnel uses.");
      leak = true;
    }
  }
  for (const ResolverEvidence& r : e.resolvers) {
    if (contains(e.baseline.resolvers, r.address) || contains(e.baseline.asns, r.network.asn)) {
      add(Severity::leak, "baseline_resolver_seen",
          "Resolver " + describe(r.address, r.network) +
              " was seen with your tunnel down: your ISP's resolvers still get your lookups.");
      leak = true;
    }
  }
  if (!e.expected.empty()) {
    if (!leak) add(Severity::info, "as_expected", "Every resolver seen is one you said your tunnel uses.");
    v.outcome = leak ? Outcome::leak : Outcome::no_leak;
    return v;
  }
  if (!e.networks_known) {  // nothing to compare the resolvers with
    v.outcome = leak ? Outcome::leak : Outcome::inconclusive;
    return v;
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
  for (const ResolverEvidence& r : e.resolvers) {
    if (!r.network.public_operator.empty()) {
      add(Severity::info, "public_resolver",
          "Resolver " + describe(r.address, r.network) + " belongs to " + r.network.public_operator +
              ", a public resolver: not a leak by itself, but they see your lookups.");
      continue;
    }
    if (!r.network.asn) {
      unknown = true;
      add(Severity::warning, "resolver_network_unknown",
          "The network of resolver " + r.address.to_string() + " is unknown, so it cannot be compared with your exit.");
      continue;
    }
    private_networks.insert(*r.network.asn);
    if (exit_asns.empty()) continue;
    if (exit_asns.count(*r.network.asn) != 0) {
      add(Severity::info, "resolver_in_exit_network",
          "Resolver " + describe(r.address, r.network) + " is in the same network as your exit.");
    } else {
      add(Severity::leak, "resolver_network_differs",
          "Resolver " + describe(r.address, r.network) +
              " is not in your exit's network: your lookups do not go where your traffic goes.");
      leak = true;
    }
  }
  if (private_networks.size() > 1) {
    add(Severity::leak, "several_resolver_networks",
        "Resolvers from " + std::to_string(private_networks.size()) +
            " networks answered: your system asks more than one resolver (parallel or fallback queries).");
    leak = true;
  }
  if (leak)
    v.outcome = Outcome::leak;
  else if (exit_asns.empty() || unknown) {
    if (exit_asns.empty()) {
      add(Severity::warning, "no_exit_seen", "Your exit address is unknown, so resolvers cannot be compared with it.");
    }
    v.outcome = Outcome::inconclusive;
  } else {
    v.outcome = Outcome::no_leak;
  }
  return v;
}

}  // namespace dnsleak::verdict
