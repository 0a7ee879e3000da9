// Name lookups through the system resolver path (getaddrinfo: nsswitch, resolv.conf,
// systemd-resolved), exactly as applications make them, many at once, with a deadline.
#pragma once

#include <string>
#include <vector>

namespace dnsleak::probe {

struct LookupResult {
  std::string name;
  std::vector<std::string> addresses;  // empty: failed
  std::string error;                   // gai_strerror text when failed, "timed out" past the deadline
  long milliseconds = 0;
};

// One thread per name; returns when all are done or at the deadline (names still pending then
// are reported as timed out; their threads finish in the background).
[[nodiscard]] std::vector<LookupResult> resolve_all(const std::vector<std::string>& names, int family, long timeout_ms);

}  // namespace dnsleak::probe
