#include "host/snapshot.h"

#include <algorithm>
#include <cerrno>

namespace dnsleak::host {

const Link* Snapshot::link(uint32_t index) const noexcept {
  for (const Link& l : links) {
    if (l.index == index) return &l;
  }
  return nullptr;
}

const Link* Snapshot::link(const std::string& name) const noexcept {
  for (const Link& l : links) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::vector<const Link*> Snapshot::tunnels() const {
  std::vector<const Link*> out;
  for (const Link& l : links) {
    if (l.tunnel() && l.up()) out.push_back(&l);
  }
  return out;
}

ResolverRoute route_for(HostSource& source, const Snapshot& snapshot, const net::IpAddress& destination) {
  using verdict::ResolverPath;
  ResolverRoute r;
  r.address = destination;
  Result<std::vector<std::byte>> reply = source.route_get(destination);
  if (!reply) {
    r.why_not = reply.error().message;
    return r;
  }
  Result<RouteChoice> choice = parse_route_choice(*reply);
  if (!choice) {
    r.why_not = choice.error().message;
    return r;
  }
  r.source = choice->source;
  r.gateway = choice->gateway;
  if (!choice->reachable) {
    r.path = ResolverPath::unreachable;
    r.why_not = choice->why_not;
    return r;
  }
  const Link* link = snapshot.link(choice->link);
  if (link == nullptr) {
    r.why_not = "the route names interface " + std::to_string(choice->link) + ", which the link list does not hold";
    return r;
  }
  r.interface = link->name;
  r.path = link->loopback() ? ResolverPath::loopback : link->tunnel() ? ResolverPath::tunnel : ResolverPath::outside;
  return r;
}

Snapshot take_snapshot(HostSource& source, const std::string& home) {
  using verdict::ResolverPath;
  Snapshot s;
  auto problem = [&s](std::string text) { s.problems.push_back(std::move(text)); };

  if (Result<std::string> text = source.read_file(kResolvConf); text) {
    s.resolv_conf_found = true;
    s.resolv_conf = parse_resolv_conf(*text);
    for (const std::string& p : s.resolv_conf.problems) problem(concat({kResolvConf, ": ", p}));
  } else if (text.error().system_errno != ENOENT) {
    problem(text.error().message);
  }
  if (Result<std::string> text = source.read_file(kNsSwitch); text) {
    s.nsswitch = parse_nsswitch_hosts(*text);
    for (const std::string& p : s.nsswitch.problems) problem(concat({kNsSwitch, ": ", p}));
  } else if (text.error().system_errno != ENOENT) {
    problem(text.error().message);
  }

  auto read = [&](Dump what, auto parse, auto& into) {
    Result<std::vector<std::byte>> reply = source.dump(what);
    if (!reply) return problem(reply.error().message);
    auto parsed = parse(*reply);
    if (!parsed) return problem(concat({"cannot read the ", to_string(what), ": ", parsed.error().message}));
    into = std::move(*parsed);
  };
  read(Dump::links, parse_links, s.links);
  read(Dump::addresses, parse_addresses, s.addresses);
  read(Dump::routes, parse_routes, s.routes);
  read(Dump::rules, parse_rules, s.rules);

  size_t index = 0;
  bool stub = false;
  for (const Nameserver& n : s.resolv_conf.nameservers) {
    ResolverRoute r;
    if (!n.zone.empty()) {
      // A link-local server is reached on the interface its zone names, whatever the routes say.
      r.address = n.address;
      r.zone = n.zone;
      r.interface = n.zone;
      const Link* link = s.link(n.zone);
      r.path = link == nullptr ? ResolverPath::unknown : link->tunnel() ? ResolverPath::tunnel : ResolverPath::outside;
      if (link == nullptr) r.why_not = "no interface named " + n.zone;
    } else {
      r = route_for(source, s, n.address);
    }
    r.used = index++ < kGlibcMaxNameservers;
    if (r.used && r.address.to_string() == kResolvedStub) stub = true;
    s.resolvers.push_back(std::move(r));
  }
  // systemd-resolved over D-Bus: its servers per link (a link's servers are asked over that link,
  // whatever the routes say) and its global ones (routed by the kernel).
  std::vector<uint32_t> indexes;
  for (const Link& l : s.links) {
    if (!l.loopback()) indexes.push_back(l.index);
  }
  // A D-Bus service's state: absent when it does not run (ENOENT), a problem when it cannot be read.
  auto service = [&](Result<std::string> text, auto parse, const char* what, bool& running, auto& state,
                     std::string& error) {
    if (!text) {
      if (text.error().system_errno == ENOENT) return;
      error = text.error().message;
      return problem(error);
    }
    auto parsed = parse(*text);
    if (!parsed) {
      error = parsed.error().message;
      return problem(concat({what, ": ", error}));
    }
    running = true;
    state = std::move(*parsed);
  };
  service(source.resolved_state(indexes), parse_resolved, "systemd-resolved's state", s.resolved_running, s.resolved,
          s.resolved_error);
  service(source.network_manager_dns(), parse_network_manager, "NetworkManager's DNS", s.network_manager_running,
          s.network_manager, s.network_manager_error);
  const bool asks_resolved =
      stub || std::find(s.nsswitch.sources.begin(), s.nsswitch.sources.end(), "resolve") != s.nsswitch.sources.end();
  if (s.resolved_running && asks_resolved) {
    for (const ResolvedServer& g : s.resolved.servers) {
      if (g.link != 0) continue;
      ResolverRoute r = route_for(source, s, g.address);
      r.stub_upstream = true;
      s.resolvers.push_back(std::move(r));
    }
    for (const ResolvedLink& l : s.resolved.links) {
      const Link* link = s.link(l.index);
      if (link == nullptr || !l.default_route) continue;  // a link without DefaultRoute gets only its domains
      for (const net::IpAddress& a : l.servers) {
        ResolverRoute r;
        r.address = a;
        r.stub_upstream = true;
        r.interface = link->name;
        r.path = link->tunnel() ? ResolverPath::tunnel : ResolverPath::outside;
        s.resolvers.push_back(std::move(r));
      }
    }
  }
  // Behind systemd-resolved's stub, where D-Bus told nothing: the servers it writes down.
  if (stub && !s.resolved_running) {
    if (Result<std::string> text = source.read_file(kResolvedUplinks); text) {
      const ResolvConf uplinks = parse_resolv_conf(*text);
      for (const Nameserver& n : uplinks.nameservers) {
        ResolverRoute r = route_for(source, s, n.address);
        r.stub_upstream = true;
        s.resolvers.push_back(std::move(r));
      }
    } else {
      problem(concat({"the servers behind systemd-resolved's stub are unknown: ", text.error().message}));
    }
  }
  s.browsers = browser_dns(source, home);
  s.internet4 = route_for(source, s, *net::parse_ip(kInternet4));
  s.internet6 = route_for(source, s, *net::parse_ip(kInternet6));
  return s;
}

void check_firewall(HostSource& source, Snapshot& s) {
  if (Result<std::string> text = source.firewall_ruleset(); !text) {
    s.firewall_error = text.error().message;
  } else if (Result<Ruleset> ruleset = parse_ruleset(*text); !ruleset) {
    s.firewall_error = ruleset.error().message;
  } else {
    s.ruleset = *ruleset;
    if (const FirewallChain* guard = ruleset->chain("inet", "dnsleak", "output"); guard != nullptr) {
      s.guard_on = true;
      s.guard_tunnel_open = std::any_of(guard->rules.begin(), guard->rules.end(),
                                        [](const FirewallRule& r) { return r.comment == "dns-through-tunnel"; });
    }
    for (const Link& l : s.links) {
      if (!l.up() || l.loopback() || l.tunnel()) continue;
      for (const int family : {4, 6}) {
        for (const net::Transport t : {net::Transport::udp, net::Transport::tcp}) {
          const DnsPacketSpec packet{l.name, t, 53, *net::parse_ip(family == 6 ? kInternet6 : kInternet4)};
          s.firewall.push_back({l.name, t, family, evaluate(*ruleset, packet)});
        }
      }
    }
  }
}

void mark_firewall(HostSource& source, const Snapshot& snapshot, verdict::LocalEvidence& e) {
  if (snapshot.tunnels().empty()) return;
  Result<std::string> text = source.firewall_ruleset();
  if (!text) {
    if (text.error().system_errno != EPERM) e.unchecked.push_back("the firewall: " + text.error().message);
    return;
  }
  Result<Ruleset> ruleset = parse_ruleset(*text);
  if (!ruleset) {
    e.unchecked.push_back("the firewall: " + ruleset.error().message);
    return;
  }
  for (verdict::LocalResolver& r : e.resolvers) {
    if (r.path != verdict::ResolverPath::outside) continue;
    if (std::optional<std::string> where = stops_dns(*ruleset, r.interface, r.address)) r.firewall_stops = *where;
  }
  std::string everywhere;
  for (const Link& l : snapshot.links) {
    if (!l.up() || l.loopback() || l.tunnel()) continue;
    for (const char* internet : {kInternet4, kInternet6}) {
      const std::optional<std::string> where = stops_dns(*ruleset, l.name, *net::parse_ip(internet));
      if (!where) return;
      if (everywhere.empty()) everywhere = *where;
    }
  }
  e.firewall_stops_dns = everywhere;
}

verdict::LocalEvidence local_evidence(const Snapshot& snapshot) {
  verdict::LocalEvidence e;
  e.gathered = true;
  for (const Link* t : snapshot.tunnels()) e.tunnels.push_back(t->name);
  for (const ResolverRoute& r : snapshot.resolvers) {
    if (!r.used && !r.stub_upstream) continue;
    e.resolvers.push_back({r.address, r.path, r.interface, r.stub_upstream});
  }
  if (!snapshot.resolv_conf_found) e.unchecked.push_back(concat({kResolvConf, " is missing: no resolver to check"}));
  for (const std::string& p : snapshot.problems) e.unchecked.push_back(p);
  return e;
}

}  // namespace dnsleak::host
