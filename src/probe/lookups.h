// Name lookups through the system resolver path (getaddrinfo: nsswitch, resolv.conf,
// systemd-resolved), exactly as applications make them, many at once, with a deadline; and the
// echo names of `dnsleak test --public`. Behind an interface, so the leak test runs in unit tests
// against a fake resolver.
#pragma once

#include <string>
#include <vector>

#include "probe/echo_names.h"

namespace dnsleak::probe {

struct LookupResult {
  std::string name;
  std::vector<std::string> addresses;  // empty: failed
  std::string error;                   // gai_strerror text when failed, "timed out" past the deadline
  long milliseconds = 0;
};

class NameResolver {
 public:
  virtual ~NameResolver() = default;
  // Every name at once; returns when all are done or at the deadline (names still pending then are
  // reported as timed out). `family` 4 or 6 asks for that family only, 0 for both.
  [[nodiscard]] virtual std::vector<LookupResult> resolve_all(const std::vector<std::string>& names, int family,
                                                              long timeout_ms) = 0;
  // Asks one echo name which resolver answers (TXT through res_query, A through getaddrinfo).
  [[nodiscard]] virtual EchoAnswer ask_echo(const EchoName& echo) = 0;
};

// The real thing: getaddrinfo and res_query, one thread per name (threads still in the resolver
// at the deadline finish in the background).
class SystemResolver final : public NameResolver {
 public:
  [[nodiscard]] std::vector<LookupResult> resolve_all(const std::vector<std::string>& names, int family,
                                                      long timeout_ms) override;
  [[nodiscard]] EchoAnswer ask_echo(const EchoName& echo) override;
};

}  // namespace dnsleak::probe
