// Public resolver echo names: DNS names whose answer carries the address of the resolver that
// asked (Akamai's whoami.ds.akahelp.net TXT and whoami.akamai.net A, Google's
// o-o.myaddr.l.google.com TXT, dnsleakd's whoami.<zone> TXT). Without a dnsleakd of one's own they
// still show which resolver handles a lookup, one resolver per lookup, and nothing about exits.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dnsleak::probe {

struct EchoName {
  std::string name;
  bool txt = true;  // TXT carrying the resolver; false: the A record is the resolver's IPv4 address
};

// The default set for `dnsleak test --public`.
[[nodiscard]] std::vector<EchoName> public_echo_names();

struct EchoAnswer {
  std::vector<std::string> resolvers;  // addresses, as the service reported them
  std::string subnet;                  // ECS the resolver forwarded, if the service shows it
  std::string error;
};

// Reads the resolver (and any ECS subnet) out of the TXT records of an echo name, each record
// given as its character-strings. Understands the known layouts:
//   Akamai  "ns" "<address>"   "ecs" "<prefix>/<len>/<scope>"
//   Google  "<address>"        "edns0-client-subnet <prefix>/<len>"
//   dnsleakd "resolver=<address> port=<n> transport=<t>"  "ecs=<prefix>/<len>"
[[nodiscard]] EchoAnswer parse_echo_txt(const std::vector<std::vector<std::string>>& records);

// TXT records of a name through the system's resolver configuration (resolv.conf, as
// res_query uses it), each as its character-strings; nullopt and `error` on failure.
[[nodiscard]] std::optional<std::vector<std::vector<std::string>>> query_txt(const std::string& name,
                                                                             std::string& error);

// Asks one echo name (TXT through res_query, A through getaddrinfo).
[[nodiscard]] EchoAnswer ask_echo(const EchoName& echo);

}  // namespace dnsleak::probe
