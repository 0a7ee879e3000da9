// What dnsleakd records for every query of a valid test name.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "dns/message.h"
#include "dns/name.h"
#include "net/ip_address.h"
#include "net/socket_address.h"
#include "testname/test_token.h"

namespace dnsleak::store {

// The label under the zone apex that picks a sub-zone: `v4.`, `v6.` or `tcp.` (see the responder).
enum class SubZone : uint8_t { none, v4, v6, tcp };
// What the responder did with the query.
enum class AnswerKind : uint8_t { answer, nodata, referral, truncated };

[[nodiscard]] const char* to_string(SubZone) noexcept;
[[nodiscard]] const char* to_string(AnswerKind) noexcept;

// The id of the node that saw a query (at most 63 octets, as configured). Filled in by the store
// that gives the observation back: the memory store with its own, a shared one with the writer's.
struct NodeName {
  std::array<char, 63> chars{};
  uint8_t length = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), length}; }
  // Longer names are cut to 63 octets.
  [[nodiscard]] static NodeName of(std::string_view name) noexcept {
    NodeName n;
    n.length = static_cast<uint8_t>(std::min(name.size(), n.chars.size()));
    std::copy(name.begin(), name.begin() + n.length, n.chars.begin());
    return n;
  }
};

// One query of a test name as seen by one node. Plain values, no pointers: it can be copied into
// a batch and outlives the receive buffer.
struct ResolverObservation {
  testname::TestToken token;
  testname::ProbeLabel probe;
  SubZone sub_zone = SubZone::none;
  int64_t time_ms = 0;  // Unix time, milliseconds
  net::IpAddress resolver;
  uint16_t resolver_port = 0;
  net::Transport transport = net::Transport::udp;
  uint16_t qtype = 0;
  AnswerKind answer = AnswerKind::answer;
  bool edns = false;
  uint16_t edns_payload_size = 0;
  bool dnssec_ok = false;
  bool cookie = false;
  bool has_client_subnet = false;
  dns::ClientSubnet client_subnet;
  dns::DnsName qname;  // as received, case included
  NodeName node;       // empty until a store fills it in
};

// The 0x20 pattern a resolver applied: bit i is set when octet i+1 of the name's wire form (its
// first label starts there) is an uppercase ASCII letter. Uppercase letters past the first 64
// octets set `beyond`. A test name's first label (token, '-', probe: 41 octets at most) and usually
// its zone fit in the 64.
inline constexpr size_t kCaseMaskPositions = 64;
struct CaseMask {
  uint64_t bits = 0;
  bool beyond = false;
};
[[nodiscard]] CaseMask case_mask_of(const dns::DnsName& name) noexcept;
// Applies a mask to a lowercase name (letters past the 64th stay lowercase).
void apply_case_mask(dns::DnsName& name, CaseMask mask) noexcept;

// A test name rebuilt from its parts: `<token>-<probe>[.<sub-zone>].<zone>` with `mask` applied, as
// a store that keeps only the case mask gives the qname back. Empty if it would not fit a name.
[[nodiscard]] std::optional<dns::DnsName> test_qname(const testname::TestToken& token,
                                                     const testname::ProbeLabel& probe, SubZone sub_zone,
                                                     const dns::DnsName& zone, CaseMask mask) noexcept;

}  // namespace dnsleak::store
