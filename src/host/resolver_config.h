// The resolver configuration glibc reads: /etc/resolv.conf (resolv.conf(5)) and the `hosts:` line
// of /etc/nsswitch.conf. Pure parsers over text: what the files say, and what in them could not
// be read, in words (a bad line is reported and skipped, never fatal).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "net/ip_address.h"

namespace dnsleak::host {

// glibc asks at most this many nameservers (MAXNS in resolv.h); later ones are never used.
inline constexpr size_t kGlibcMaxNameservers = 3;
// Longer lines are reported and skipped; larger files are read up to this size.
inline constexpr size_t kMaxConfigLine = 4096;
inline constexpr size_t kMaxConfigFile = 1 << 20;

struct Nameserver {
  net::IpAddress address;
  std::string zone;  // the interface of a link-local IPv6 server ("fe80::1%eth0"), else empty
  unsigned line = 0;
};

struct ResolvConf {
  std::vector<Nameserver> nameservers;  // every one listed, in order (see kGlibcMaxNameservers)
  std::vector<std::string> search;      // the last `search` or `domain` line wins, as in glibc
  std::vector<std::string> options;     // "edns0", "rotate", "timeout:2", ...
  std::vector<std::string> problems;    // "line 7: 'nameserver 1.2.3' is not an IP address; ignored"
};

[[nodiscard]] ResolvConf parse_resolv_conf(std::string_view text);

struct NsSwitchHosts {
  bool found = false;                // a `hosts:` line was there
  std::vector<std::string> sources;  // "files", "mdns4_minimal", "resolve", "dns", ... in order
  std::vector<std::string> problems;
};

[[nodiscard]] NsSwitchHosts parse_nsswitch_hosts(std::string_view text);

}  // namespace dnsleak::host
