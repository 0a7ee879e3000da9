// The leak verdict: findings from what the authoritative server saw (resolvers), what the HTTP
// probes saw (the client's egress) and, in `dnsleak test`, what the client machine showed (where
// each resolver is routed, the test's names captured leaving), each with a severity, how sure it
// is, a reason a person understands and the fix.
// Shared by the server (API, page) and the client; pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dns/message.h"
#include "net/ip_address.h"

namespace dnsleak::verdict {

// What enrichment knows about an address. Everything optional: data sets have gaps.
struct Network {
  std::optional<uint32_t> asn;
  std::string organisation;
  std::string country;          // ISO 3166 alpha-2
  std::string public_operator;  // "Cloudflare", "Google", ... for known public resolvers; else empty
};

struct ResolverEvidence {
  net::IpAddress address;
  Network network;
  std::optional<dns::ClientSubnet> client_subnet;     // ECS it forwarded, if any
  std::optional<Network> client_subnet_network = {};  // what enrichment knows of that subnet
};

struct EgressEvidence {
  net::IpAddress address;  // the client's address as the web server saw it (a tunnel exit)
  Network network;
};

// What the user says their tunnel should use. When given, it decides over the heuristics.
struct Expectations {
  std::vector<net::IpAddress> resolvers;
  std::vector<uint32_t> asns;
  [[nodiscard]] bool empty() const noexcept { return resolvers.empty() && asns.empty(); }
};

// Resolvers and networks seen with the tunnel down (the ISP's): seeing any again is a leak.
struct Baseline {
  std::vector<net::IpAddress> resolvers;
  std::vector<uint32_t> asns;
};

// What the client machine itself showed (dnsleak test; never the page or the API).
enum class ResolverPath : uint8_t { tunnel, outside, loopback, unreachable, unknown };
struct LocalResolver {
  net::IpAddress address;
  ResolverPath path = ResolverPath::unknown;
  std::string interface;            // the interface a packet to it leaves on
  bool stub_upstream = false;       // an upstream of a local stub (systemd-resolved's), not resolv.conf's
  std::string firewall_stops = {};  // outside the tunnel, but the firewall rejects DNS to it: where
};
struct LocalLeak {
  std::string name;  // a test name seen in a query
  std::string interface;
  net::IpAddress destination;
};
// The ISP's network without a tunnel-down step: an HTTP request bound to a non-tunnel interface
// (SO_BINDTODEVICE) asks the server which address it came from.
struct UnderlayProbe {
  std::string interface;
  int family = 4;
  std::optional<net::IpAddress> address;  // none when the probe failed
  Network network;
  std::string error;  // why it failed
};
struct LocalEvidence {
  bool gathered = false;
  std::vector<std::string> tunnels;      // tunnel interfaces found
  std::vector<LocalResolver> resolvers;  // those glibc uses, and a stub's upstreams where known
  bool captured = false;                 // a capture ran on every non-tunnel interface
  std::vector<std::string> capture_interfaces;
  std::vector<LocalLeak> leaks;         // the test's own names seen leaving outside the tunnel
  std::vector<UnderlayProbe> underlay;  // per non-tunnel interface and family with a default route
  std::vector<std::string> unchecked;   // what could not be checked, and why
  // The firewall stops DNS leaving on every interface outside the tunnel (dnsleak guard, say):
  // where, or empty when it does not or could not be read.
  std::string firewall_stops_dns = {};
};

struct Evidence {
  std::vector<ResolverEvidence> resolvers;  // one per distinct resolver address
  std::vector<EgressEvidence> egress;       // IPv4 and/or IPv6 exits, as far as probed
  Expectations expected;
  Baseline baseline;
  // False where only resolver addresses are known, no networks and no exits (the public echo
  // names): then only the expectations and the baseline judge, and no heuristic is tried.
  bool networks_known = true;
  LocalEvidence local = {};
};

enum class Severity : uint8_t { info, warning, leak };
enum class Outcome : uint8_t { no_leak, leak, inconclusive };
// How sure a finding or an outcome is: `proven` by evidence that shows it (the test's own names
// captured leaving outside the tunnel), `likely` from configuration or networks that point to it,
// `unknown` where the evidence at hand cannot tell.
enum class Certainty : uint8_t { unknown, likely, proven };

struct Finding {
  Severity severity;
  std::string code;    // stable, for scripts: "resolver_network_differs", ...
  std::string reason;  // one sentence for a person, naming the evidence
  Certainty certainty = Certainty::likely;
  std::string fix = {};  // what to do, in plain words and, where there is one, the command; may be empty
};

struct Verdict {
  Outcome outcome = Outcome::inconclusive;
  Certainty certainty = Certainty::unknown;
  std::vector<Finding> findings;
};

[[nodiscard]] Verdict judge(const Evidence& evidence);

[[nodiscard]] const char* to_string(Severity) noexcept;
[[nodiscard]] const char* to_string(Outcome) noexcept;
[[nodiscard]] const char* to_string(Certainty) noexcept;
[[nodiscard]] const char* to_string(ResolverPath) noexcept;

}  // namespace dnsleak::verdict
