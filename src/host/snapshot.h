// One reading of this machine's DNS-relevant state: the resolver configuration, the links,
// addresses and routes, and for each resolver the interface the kernel would send a query to it
// on. Read through a HostSource (live or recorded); what could not be read is a problem in words,
// and the rest is still read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/browsers.h"
#include "host/firewall.h"
#include "host/netlink.h"
#include "host/network_manager.h"
#include "host/resolved.h"
#include "host/resolver_config.h"
#include "host/source.h"
#include "verdict/verdict.h"

namespace dnsleak::host {

inline constexpr const char* kResolvConf = "/etc/resolv.conf";
inline constexpr const char* kNsSwitch = "/etc/nsswitch.conf";
// systemd-resolved writes the servers its stub forwards to here (ResolvConfMode=stub or uplink).
inline constexpr const char* kResolvedUplinks = "/run/systemd/resolve/resolv.conf";
inline constexpr const char* kResolvedStub = "127.0.0.53";
inline constexpr const char* kInternet4 = "198.51.100.53";
inline constexpr const char* kInternet6 = "2001:db8:53::53";

struct ResolverRoute {
  net::IpAddress address;
  std::string zone;            // a link-local server's interface
  bool used = true;            // within glibc's first three
  bool stub_upstream = false;  // from systemd-resolved's list, behind its 127.0.0.53 stub
  verdict::ResolverPath path = verdict::ResolverPath::unknown;
  std::string interface;  // where a packet to it leaves
  std::optional<net::IpAddress> source, gateway;
  std::string why_not;  // unreachable or unknown: why
};

struct Snapshot {
  bool resolv_conf_found = false;
  ResolvConf resolv_conf;
  NsSwitchHosts nsswitch;
  std::vector<Link> links;
  std::vector<Address> addresses;
  std::vector<Route> routes;
  std::vector<RoutingRule> rules;
  std::vector<ResolverRoute> resolvers;
  // Where traffic to the internet at large leaves, per family: the kernel's route for an address of
  // the documentation ranges (asked, never sent to).
  ResolverRoute internet4, internet6;
  std::vector<BrowserDns> browsers;  // browsers set to their own DNS over HTTPS
  // DNS (UDP and TCP 53, IPv4 and IPv6) leaving on each interface outside the tunnel, through the
  // firewall; empty with firewall_error set when the ruleset could not be read.
  struct FirewallCheck {
    std::string interface;
    net::Transport transport = net::Transport::udp;
    int family = 4;
    FirewallAnswer answer;
  };
  std::vector<FirewallCheck> firewall;
  std::string firewall_error;
  std::optional<Ruleset> ruleset;  // as read, when it could be
  // dnsleak guard's own table (inet dnsleak) is in the ruleset; whether it lets DNS through the
  // tunnel go to any resolver (no --allow-resolver naming the tunnel's).
  bool guard_on = false;
  bool guard_tunnel_open = false;
  // systemd-resolved, when it runs (read over D-Bus).
  bool resolved_running = false;
  ResolvedState resolved;
  std::string resolved_error;  // it runs, but its state could not be read
  // NetworkManager, when it runs.
  bool network_manager_running = false;
  NetworkManagerDns network_manager;
  std::string network_manager_error;
  std::vector<std::string> problems;  // what could not be read, in words

  [[nodiscard]] const Link* link(uint32_t index) const noexcept;
  [[nodiscard]] const Link* link(const std::string& name) const noexcept;
  [[nodiscard]] std::vector<const Link*> tunnels() const;  // up tunnel links
};

// `home`: whose browser settings to read (empty: none).
[[nodiscard]] Snapshot take_snapshot(HostSource& source, const std::string& home = {});

// Whether the firewall stops DNS on each interface outside the tunnel (fills `firewall` or
// `firewall_error`): only inspect asks, so test and watch do not list the ruleset.
void check_firewall(HostSource& source, Snapshot& snapshot);

// Where a packet to `destination` leaves, from the kernel's answer.
[[nodiscard]] ResolverRoute route_for(HostSource& source, const Snapshot& snapshot, const net::IpAddress& destination);

// The snapshot as the verdict's local evidence (resolvers and tunnels; no capture).
[[nodiscard]] verdict::LocalEvidence local_evidence(const Snapshot& snapshot);
// From the live ruleset: the resolvers outside the tunnel that the firewall stops DNS to
// (dnsleak guard's table or other rules), and whether it stops DNS on every interface outside the
// tunnel. Without CAP_NET_ADMIN the ruleset cannot be read and nothing is marked; any other
// failure is said in `unchecked`.
void mark_firewall(HostSource& source, const Snapshot& snapshot, verdict::LocalEvidence& evidence);

}  // namespace dnsleak::host
