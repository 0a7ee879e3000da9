// Links, addresses and routes as the kernel reports them over rtnetlink, and the kernel's own
// answer to "which interface and source address would carry a packet to X" (RTM_GETROUTE, the
// same question `ip route get X` asks: policy rules and every table taken into account).
//
// The parsers read recorded replies (the octets of every netlink message received, back to back),
// so unit tests and `dnsleak inspect --replay` run on recordings; every length is checked and a
// truncated or malformed reply is an Error, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::host {

struct Link {
  uint32_t index = 0;
  std::string name;
  std::string kind;       // IFLA_INFO_KIND: "tun", "wireguard", "veth", ... empty for plain devices
  uint16_t arp_type = 0;  // ARPHRD_*
  uint32_t flags = 0;     // IFF_*
  [[nodiscard]] bool up() const noexcept;
  [[nodiscard]] bool loopback() const noexcept;
  // A VPN-style tunnel: by link kind (tun, wireguard, ipip, gre, vti, xfrm, ppp...) or, where no
  // kind is reported, by the hardware type a tunnel device has.
  [[nodiscard]] bool tunnel() const noexcept;
};

struct Address {
  uint32_t link = 0;
  net::IpAddress address;
  uint8_t prefix_length = 0;
  uint8_t scope = 0;  // RT_SCOPE_UNIVERSE (0), RT_SCOPE_LINK (253), RT_SCOPE_HOST (254)
  [[nodiscard]] bool global() const noexcept { return scope == 0; }
};

struct Route {
  net::Prefix destination;  // 0.0.0.0/0 or ::/0 for a default route
  uint8_t type = 0;         // RTN_UNICAST, RTN_UNREACHABLE, ...
  uint32_t table = 0;
  uint32_t link = 0;  // the output interface, 0 when none (unreachable, multipath)
  std::optional<net::IpAddress> gateway;
  uint32_t metric = 0;
  [[nodiscard]] bool is_default() const noexcept { return destination.length == 0; }
};

// A policy routing rule (ip rule): which table a packet is looked up in. WireGuard's wg-quick, for
// one, sends every unmarked packet to its own table this way.
struct RoutingRule {
  int family = 4;
  uint32_t priority = 0;
  uint32_t table = 0;
  uint8_t action = 0;   // FR_ACT_TO_TBL (1), FR_ACT_UNREACHABLE, ...
  bool invert = false;  // "not"
  uint32_t fwmark = 0, fwmask = 0;
  std::string input, output;  // iif / oif names
  std::optional<net::Prefix> source, destination;
};

// The kernel's choice for one destination.
struct RouteChoice {
  bool reachable = false;
  std::string why_not;  // "Network is unreachable", when not reachable
  uint32_t link = 0;
  std::optional<net::IpAddress> source;  // RTA_PREFSRC: the address packets would leave from
  std::optional<net::IpAddress> gateway;
};

[[nodiscard]] Result<std::vector<Link>> parse_links(std::span<const std::byte> reply);
[[nodiscard]] Result<std::vector<Address>> parse_addresses(std::span<const std::byte> reply);
[[nodiscard]] Result<std::vector<Route>> parse_routes(std::span<const std::byte> reply);
[[nodiscard]] Result<RouteChoice> parse_route_choice(std::span<const std::byte> reply);
[[nodiscard]] Result<std::vector<RoutingRule>> parse_rules(std::span<const std::byte> reply);

enum class Dump : uint8_t { links, addresses, routes, rules };
[[nodiscard]] const char* to_string(Dump) noexcept;

// The live kernel: one request, every message of the reply returned as received.
[[nodiscard]] Result<std::vector<std::byte>> netlink_dump(Dump what);
[[nodiscard]] Result<std::vector<std::byte>> netlink_route_get(const net::IpAddress& destination);

}  // namespace dnsleak::host
