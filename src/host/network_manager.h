// NetworkManager's DNS, where it runs: its DnsManager's mode (default, dnsmasq, systemd-resolved,
// none), how it writes resolv.conf, and the configuration it hands the system — each connection's
// servers with its interface, priority and whether it is a VPN's. Read over D-Bus like
// systemd-resolved (host/resolved.h): the live reader writes JSON, parse_network_manager reads it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::host {

struct NmDnsEntry {
  std::vector<net::IpAddress> nameservers;
  std::vector<std::string> domains;
  std::string interface;
  int32_t priority = 0;  // lower first; a negative one excludes every entry of a higher value
  bool vpn = false;
};
struct NetworkManagerDns {
  std::string mode;        // "default", "dnsmasq", "systemd-resolved", "none"
  std::string rc_manager;  // "symlink", "file", "resolvconf", "netconfig", "unmanaged"
  std::vector<NmDnsEntry> configuration;
};

[[nodiscard]] Result<NetworkManagerDns> parse_network_manager(std::string_view json);
// ENOENT when NetworkManager is not running.
[[nodiscard]] Result<std::string> read_network_manager_json();

}  // namespace dnsleak::host
