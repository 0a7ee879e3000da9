// Where the view of this machine comes from: the live system, or a recording of one. Everything
// `inspect` and the local evidence of `test` read passes through a HostSource as raw input (file
// text, netlink replies), so the same parsers run on this machine, on a directory recorded with
// `dnsleak inspect --record DIR` (a bug report, a lab scenario), and in unit tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/netlink.h"
#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::host {

class HostSource {
 public:
  virtual ~HostSource() = default;
  // A configuration file's text (at most kMaxConfigFile + 1 octets are read). A missing file is an
  // Error with system_errno ENOENT.
  [[nodiscard]] virtual Result<std::string> read_file(const std::string& path) = 0;
  [[nodiscard]] virtual Result<std::vector<std::byte>> dump(Dump what) = 0;
  [[nodiscard]] virtual Result<std::vector<std::byte>> route_get(const net::IpAddress& destination) = 0;
  // The nftables ruleset as JSON text; needs CAP_NET_ADMIN (an Error with EPERM without it).
  [[nodiscard]] virtual Result<std::string> firewall_ruleset() = 0;
  // systemd-resolved's state as JSON (host/resolved.h), asked about these links; ENOENT when it is
  // not running.
  [[nodiscard]] virtual Result<std::string> resolved_state(const std::vector<uint32_t>& links) = 0;
  // NetworkManager's DnsManager as JSON (host/network_manager.h); ENOENT when it is not running.
  [[nodiscard]] virtual Result<std::string> network_manager_dns() = 0;
};

// This machine (no privilege needed: reading files and the routing state is open to every user).
[[nodiscard]] std::unique_ptr<HostSource> live_host();

// Passes everything through from `inner` and writes it into `directory` (made if missing) as it
// goes, errors included, so that replay_host(directory) answers the same.
[[nodiscard]] Result<std::unique_ptr<HostSource>> recording_host(std::unique_ptr<HostSource> inner,
                                                                 const std::string& directory);

// A recording: what was not recorded is missing (ENOENT), as on a machine that lacks it.
[[nodiscard]] Result<std::unique_ptr<HostSource>> replay_host(const std::string& directory);

}  // namespace dnsleak::host
