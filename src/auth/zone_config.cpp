#include "auth/zone_config.h"

#include <algorithm>

namespace dnsleak::auth {
namespace {

template <typename T>
void add_unique(std::vector<T>& out, const std::vector<T>& in) {
  for (const T& a : in) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
}

}  // namespace

std::vector<Ipv4Bytes> ZoneConfig::nameserver_ipv4() const {
  std::vector<Ipv4Bytes> out;
  for (const NameServer& ns : nameservers) add_unique(out, ns.ipv4);
  return out;
}

std::vector<Ipv6Bytes> ZoneConfig::nameserver_ipv6() const {
  std::vector<Ipv6Bytes> out;
  for (const NameServer& ns : nameservers) add_unique(out, ns.ipv6);
  return out;
}

}  // namespace dnsleak::auth
