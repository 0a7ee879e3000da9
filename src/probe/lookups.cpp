#include "probe/lookups.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <chrono>
#include <memory>
#include <set>

#include "probe/fan_out.h"

namespace dnsleak::probe {
namespace {

LookupResult lookup(const std::string& name, int family) {
  const auto started = std::chrono::steady_clock::now();
  addrinfo hints{};
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(name.c_str(), "80", &hints, &list);
  std::set<std::string> addresses;
  for (addrinfo* a = list; rc == 0 && a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* where = a->ai_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, where, text, sizeof text) != nullptr) addresses.insert(text);
  }
  if (list != nullptr) freeaddrinfo(list);
  LookupResult r;
  r.name = name;
  r.addresses.assign(addresses.begin(), addresses.end());
  r.error = rc == 0 ? "" : gai_strerror(rc);
  r.milliseconds = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return r;
}

}  // namespace

std::vector<LookupResult> SystemResolver::resolve_all(const std::vector<std::string>& names, int family,
                                                      long timeout_ms) {
  // Shared, not copied per thread: a lookup still running at the deadline keeps them alive.
  const auto shared_names = std::make_shared<const std::vector<std::string>>(names);
  std::vector<LookupResult> results = fan_out(
      names.size(), timeout_ms, [shared_names, family](size_t i) { return lookup((*shared_names)[i], family); },
      LookupResult{"", {}, "timed out", 0});
  for (size_t i = 0; i < names.size(); ++i) results[i].name = names[i];
  return results;
}

EchoAnswer SystemResolver::ask_echo(const EchoName& echo) { return probe::ask_echo(echo); }

}  // namespace dnsleak::probe
