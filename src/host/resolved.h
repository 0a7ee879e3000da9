// systemd-resolved as it runs: its global and per-link DNS servers, routing and search domains,
// DefaultRoute, DNS over TLS, LLMNR and multicast DNS per link, fallback and current servers and
// how /etc/resolv.conf is managed, read over D-Bus (sd-bus, the system bus, or the bus
// DBUS_SYSTEM_BUS_ADDRESS names). The live reader writes what it read as one JSON document, the
// HostSource's raw input; parse_resolved reads that back, so recordings and unit tests need no bus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::host {

struct ResolvedServer {
  uint32_t link = 0;  // 0: a global server
  net::IpAddress address;
};
struct ResolvedDomain {
  uint32_t link = 0;
  std::string domain;         // "~." routes every name
  bool routing_only = false;  // "~example.com": routes, does not search
};
struct ResolvedLink {
  uint32_t index = 0;
  bool default_route = false;  // names no routing domain claims go here too
  std::string llmnr, mdns, dns_over_tls;
  std::vector<net::IpAddress> servers;
  std::vector<ResolvedDomain> domains;
};
struct ResolvedState {
  std::string resolv_conf_mode;  // stub, uplink, static, foreign, missing
  std::string dns_over_tls, llmnr, mdns;
  std::vector<ResolvedServer> servers;   // global ones (link 0) and per-link ones
  std::vector<ResolvedServer> fallback;  // used only when no other server is known
  bool has_current = false;
  ResolvedServer current;
  std::vector<ResolvedLink> links;
};

[[nodiscard]] Result<ResolvedState> parse_resolved(std::string_view json);

// The live reader: the JSON document of the running systemd-resolved, asked about `links`. An
// Error with ENOENT when it is not running (no bus, or no owner of org.freedesktop.resolve1).
[[nodiscard]] Result<std::string> read_resolved_json(const std::vector<uint32_t>& links);

}  // namespace dnsleak::host
