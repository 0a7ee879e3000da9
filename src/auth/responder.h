// The authoritative responder for the test zone: one query in, one answer out, one observation.
//
// The zone, relative to its apex Z:
//   Z                 SOA, NS, A/AAAA (the web addresses)
//   <ns>.Z            A/AAAA of the configured name servers that sit in the zone
//   whoami.Z          A/AAAA/TXT carrying the asking resolver's own address (and ECS subnet)
//   <token>-<probe>.Z A/AAAA (web addresses) for a token that passes its MAC and age check
//   v6.Z, v4.Z        sub-zones delegated to `ns.v6.Z` (AAAA glue only) / `ns.v4.Z` (A glue only);
//                     served only to queries that arrived over that family, a referral otherwise,
//                     so a resolver must reach us over IPv6 (v4) to resolve names below them
//   tcp.Z             answered with TC=1 over UDP, normally over TCP
// The sub-zones hold the same names as Z (whoami, test names). Anything else below Z is NXDOMAIN
// with the SOA; anything outside is REFUSED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "auth/cookies.h"
#include "auth/rate_limit.h"
#include "auth/zone_config.h"
#include "dns/message.h"
#include "dns/wire_writer.h"
#include "store/observation.h"
#include "testname/test_token.h"

namespace dnsleak::auth {

// What became of one packet. Every value has a counter; drops are the first three.
enum class Outcome : uint8_t {
  drop_too_short,      // under 12 octets
  drop_is_response,    // QR set
  drop_no_room,        // the send buffer could not hold even a header
  answer,              // NOERROR with records
  nodata,              // NOERROR, no records of that type
  referral,            // v4./v6. asked over the other family
  truncated_tcp_only,  // tcp. over UDP
  truncated_size,      // the answer did not fit the UDP payload size
  nxdomain,            // not a name in the zone
  nxdomain_bad_token,  // looked like a test name, failed the MAC (random-subdomain flood)
  nxdomain_expired_token,
  refused,  // outside the zone, or not class IN
  formerr,
  notimp,
  badvers,
  count_,
};
inline constexpr size_t kOutcomeCount = static_cast<size_t>(Outcome::count_);
[[nodiscard]] const char* to_string(Outcome) noexcept;

struct QueryContext {
  net::IpAddress remote;
  uint16_t remote_port = 0;
  net::Transport transport = net::Transport::udp;
  int64_t now_ms = 0;  // Unix milliseconds
};

// What the query carried of RFC 7873 cookies.
enum class CookieState : uint8_t { none, client_only, valid, invalid };

struct ResponseResult {
  size_t length = 0;  // 0: send nothing
  Outcome outcome = Outcome::drop_too_short;
  bool observed = false;  // the observation argument was filled
  CookieState cookie = CookieState::none;
  // How the rate limiter accounts this answer (see rate_limit.h).
  RateClass rate_class = RateClass::error;
  uint64_t rate_key = 0;
  // Where the question ends and whether an OPT goes back: what slip() keeps of the answer.
  uint16_t question_end = 0;
  bool with_opt = false;
};

class Responder {
 public:
  // `zone`, `tokens` and `cookies` must outlive the responder; all are read-only after
  // construction. Without `cookies` no server cookie is sent (the option is ignored).
  Responder(const ZoneConfig& zone, const testname::TokenAuthority& tokens, const CookieAuthority* cookies = nullptr);

  // Answers `query` into `out` (at least 512 octets; 65535 for TCP to never truncate). `out` may
  // be the query's own buffer: the query is wholly parsed before the first octet is written. Never
  // allocates, never throws, never reads or writes outside the two spans. When the query names a
  // valid test name, fills `observation` and sets `observed`.
  [[nodiscard]] ResponseResult respond(std::span<const std::byte> query, const QueryContext& context,
                                       std::span<std::byte> out,
                                       store::ResolverObservation& observation) const noexcept;

  // Rewrites the answer `result` describes, still in `out`, as the rate limiter's slip: the
  // header and question with TC=1, no records, and an empty OPT if the query had one. Returns the
  // new length, or 0 (send nothing) where that would still be larger than the query of
  // `query_size` octets: a question compressed in the query is written out whole.
  [[nodiscard]] static size_t slip(std::span<std::byte> out, const ResponseResult& result, size_t query_size) noexcept;

 private:
  struct Plan;
  struct SubZoneInfo {
    dns::DnsName apex;
    dns::DnsName ns_host;  // ns.<sub-zone>
    bool enabled = false;
  };
  struct SectionCounts {
    uint16_t answer = 0;
    uint16_t authority = 0;
    uint16_t additional = 0;
  };
  // classify -> plan -> write: the plan is made from the parsed query alone (pure; it fills the
  // observation's token and probe as it checks the name), then followed by the writers.
  [[nodiscard]] Plan classify(const dns::Query& q, dns::QueryParseStatus status, const QueryContext& context,
                              store::ResolverObservation& observation) const noexcept;
  void classify_in_zone(const dns::Query& q, const QueryContext& context, Plan& plan,
                        store::ResolverObservation& observation) const noexcept;
  void plan_nameserver(uint16_t qtype, const NameServer& server, Plan& plan) const noexcept;
  void plan_answer(const dns::Query& q, const QueryContext& context, Plan& plan,
                   const store::ResolverObservation& observation) const noexcept;
  void write_records(const dns::Query& q, const QueryContext& context, const Plan& plan, dns::WireWriter& w,
                     SectionCounts& counts) const noexcept;
  void write_opt(const dns::Query& q, const Plan& plan, const ServerCookie* cookie, dns::WireWriter& w) const noexcept;
  static void fill_observation(const dns::Query& q, const QueryContext& context, const Plan& plan, bool truncated,
                               store::ResolverObservation& observation) noexcept;
  [[nodiscard]] const SubZoneInfo* sub_zone(store::SubZone sub) const noexcept;

  const ZoneConfig& zone_;
  const testname::TokenAuthority& tokens_;
  const CookieAuthority* cookies_;
  SubZoneInfo v4_, v6_, tcp_;
  std::vector<Ipv4Bytes> ns_ipv4_;
  std::vector<Ipv6Bytes> ns_ipv6_;
};

}  // namespace dnsleak::auth
