// The leak verdict: findings from what the authoritative server saw (resolvers) and what the
// HTTP probes saw (the client's egress), with a severity and a reason a person understands.
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
  std::optional<dns::ClientSubnet> client_subnet;  // ECS it forwarded, if any
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

struct Evidence {
  std::vector<ResolverEvidence> resolvers;  // one per distinct resolver address
  std::vector<EgressEvidence> egress;       // IPv4 and/or IPv6 exits, as far as probed
  Expectations expected;
  Baseline baseline;
  // False where only resolver addresses are known, no networks and no exits (the public echo
  // names): then only the expectations and the baseline judge, and no heuristic is tried.
  bool networks_known = true;
};

enum class Severity : uint8_t { info, warning, leak };
enum class Outcome : uint8_t { no_leak, leak, inconclusive };

struct Finding {
  Severity severity;
  std::string code;    // stable, for scripts: "resolver_network_differs", ...
  std::string reason;  // one sentence for a person
};

struct Verdict {
  Outcome outcome = Outcome::inconclusive;
  std::vector<Finding> findings;
};

[[nodiscard]] Verdict judge(const Evidence& evidence);

[[nodiscard]] const char* to_string(Severity) noexcept;
[[nodiscard]] const char* to_string(Outcome) noexcept;

}  // namespace dnsleak::verdict
