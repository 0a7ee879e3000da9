// The test zone dnsleakd serves: names, addresses and timers. Built once from the configuration,
// then shared read-only by every worker.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/name.h"

namespace dnsleak::auth {

using Ipv4Bytes = std::array<uint8_t, 4>;
using Ipv6Bytes = std::array<uint8_t, 16>;

struct NameServer {
  dns::DnsName name;  // lowercase; in the zone (one label below the apex) or outside it
  std::vector<Ipv4Bytes> ipv4;
  std::vector<Ipv6Bytes> ipv6;
};

struct ZoneConfig {
  dns::DnsName apex;  // lowercase
  std::vector<NameServer> nameservers;
  // Where the apex and every test name point: the HTTP server of the leak test.
  std::vector<Ipv4Bytes> web_ipv4;
  std::vector<Ipv6Bytes> web_ipv6;
  dns::DnsName soa_rname;  // the zone contact, as a name ("hostmaster.<zone>")
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 86400;
  uint32_t negative_ttl = 60;  // SOA minimum: how long resolvers cache NXDOMAIN/NODATA
  uint32_t zone_ttl = 3600;    // SOA, NS and glue
  uint32_t answer_ttl = 300;   // A/AAAA of test names and the apex
  // RFC 5001 NSID: sent to a query that asks for it, so operators and clients can tell anycast
  // nodes apart (the node id; empty: not sent).
  std::string nsid;
  uint16_t max_udp_payload = 1232;  // DNS flag day 2020: no IP fragmentation on common paths
  uint32_t token_max_age_seconds = 3600;

  // The sub-zones exist only where the name servers have addresses of that family.
  [[nodiscard]] std::vector<Ipv4Bytes> nameserver_ipv4() const;
  [[nodiscard]] std::vector<Ipv6Bytes> nameserver_ipv6() const;
};

}  // namespace dnsleak::auth
