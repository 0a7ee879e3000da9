// Whether the firewall stops DNS leaving outside the tunnel: the nftables ruleset as libnftables
// lists it in JSON (json_schema_version 1), and a small evaluator that follows a DNS packet through
// every base chain on the output hook. It knows the matches leak rules are made of (oifname, l4proto,
// dport, daddr, ct state) and says "cannot tell" on any other, never guessing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/ip_address.h"
#include "net/socket_address.h"

namespace dnsleak::host {

struct FirewallRule {
  uint64_t handle = 0;
  std::string expressions;  // the rule's "expr" array, as JSON text (parsed again when evaluated)
  std::string comment;
};
struct FirewallChain {
  std::string family;  // ip, ip6, inet, ...
  std::string table;
  std::string name;
  std::string hook;  // empty for a regular chain
  std::string policy = "accept";
  std::vector<FirewallRule> rules;
};
struct Ruleset {
  std::vector<FirewallChain> chains;
  [[nodiscard]] const FirewallChain* chain(const std::string& family, const std::string& table,
                                           const std::string& name) const noexcept;
};

// Fails on what is not an nftables JSON listing; unknown objects and fields are skipped.
[[nodiscard]] Result<Ruleset> parse_ruleset(std::string_view json);

struct DnsPacketSpec {
  std::string interface;  // the output interface
  net::Transport transport = net::Transport::udp;
  uint16_t port = 53;
  net::IpAddress destination;
};

enum class FirewallOutcome : uint8_t { passes, stopped, unknown };
struct FirewallAnswer {
  FirewallOutcome outcome = FirewallOutcome::passes;
  std::string where;  // "table inet x, chain out, rule 5" that decided, or the one that could not be read
  std::string why;    // for unknown: what could not be evaluated
};

// A new connection's first packet through every output base chain of its family.
[[nodiscard]] FirewallAnswer evaluate(const Ruleset& ruleset, const DnsPacketSpec& packet);

// Where the ruleset stops DNS (UDP and TCP 53) to `destination` leaving on `interface`; nullopt
// when either passes or cannot be told.
[[nodiscard]] std::optional<std::string> stops_dns(const Ruleset& ruleset, const std::string& interface,
                                                   const net::IpAddress& destination);

// The live ruleset (libnftables, `list ruleset` in JSON). Reading it needs CAP_NET_ADMIN: without
// it an Error with EPERM.
[[nodiscard]] Result<std::string> list_ruleset_json();

}  // namespace dnsleak::host
