// DNS messages: header, question and EDNS(0) of a query (RFC 1035 4.1, RFC 6891, 7871, 7873).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dns/name.h"

namespace dnsleak::dns {

inline constexpr size_t kHeaderSize = 12;

namespace rr_type {
inline constexpr uint16_t A = 1;
inline constexpr uint16_t NS = 2;
inline constexpr uint16_t CNAME = 5;
inline constexpr uint16_t SOA = 6;
inline constexpr uint16_t TXT = 16;
inline constexpr uint16_t AAAA = 28;
inline constexpr uint16_t OPT = 41;
inline constexpr uint16_t DS = 43;
inline constexpr uint16_t IXFR = 251;
inline constexpr uint16_t AXFR = 252;
inline constexpr uint16_t ANY = 255;
}  // namespace rr_type

inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassANY = 255;

namespace rcode {
inline constexpr uint8_t NOERROR = 0;
inline constexpr uint8_t FORMERR = 1;
inline constexpr uint8_t SERVFAIL = 2;
inline constexpr uint8_t NXDOMAIN = 3;
inline constexpr uint8_t NOTIMP = 4;
inline constexpr uint8_t REFUSED = 5;
inline constexpr uint16_t BADVERS = 16;  // extended, RFC 6891 6.1.3
}  // namespace rcode

namespace edns_option {
inline constexpr uint16_t NSID = 3;           // RFC 5001
inline constexpr uint16_t CLIENT_SUBNET = 8;  // RFC 7871
inline constexpr uint16_t COOKIE = 10;        // RFC 7873
}  // namespace edns_option

// Header flag bits in the 16-bit flags word (RFC 1035 4.1.1, RFC 4035 3.2).
namespace flag {
inline constexpr uint16_t QR = 0x8000;
inline constexpr uint16_t AA = 0x0400;
inline constexpr uint16_t TC = 0x0200;
inline constexpr uint16_t RD = 0x0100;
inline constexpr uint16_t RA = 0x0080;
inline constexpr uint16_t AD = 0x0020;
inline constexpr uint16_t CD = 0x0010;
}  // namespace flag

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;

  [[nodiscard]] uint8_t opcode() const noexcept { return (flags >> 11) & 0x0F; }
  [[nodiscard]] bool qr() const noexcept { return (flags & flag::QR) != 0; }
};

// EDNS Client Subnet as the client sent it (RFC 7871 6). The address holds only the prefix's
// octets; the rest are zero.
struct ClientSubnet {
  uint16_t family = 0;  // 1 = IPv4, 2 = IPv6 (IANA address family numbers)
  uint8_t source_prefix = 0;
  uint8_t scope_prefix = 0;
  std::array<uint8_t, 16> address{};
};

struct EdnsInfo {
  bool present = false;
  uint8_t version = 0;
  bool dnssec_ok = false;
  uint16_t udp_payload_size = 0;  // as sent; values under 512 are treated as 512 (RFC 6891 6.2.5)
  bool has_cookie = false;        // RFC 7873
  bool has_server_cookie = false;
  std::array<uint8_t, 8> client_cookie{};
  uint8_t server_cookie_length = 0;  // 8 to 32 octets when has_server_cookie
  std::array<uint8_t, 32> server_cookie{};
  bool has_client_subnet = false;
  ClientSubnet client_subnet;
  bool wants_nsid = false;  // RFC 5001: the client asks which server answered
};

// A parsed query. `qname` is a copy in the case received; everything else is plain values, so a
// Query does not point into the receive buffer and outlives it.
// parse_query resets each field of a Query in place (no whole-object assignment): a new field must
// be reset there too.
struct Query {
  Header header;
  DnsName qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool question_parsed = false;
  EdnsInfo edns;
};

enum class QueryParseStatus : uint8_t {
  ok,
  drop_too_short,    // under 12 octets: no header to answer with
  drop_is_response,  // QR set: never answer a response (reflection loops)
  not_implemented,   // an opcode other than QUERY: answer NOTIMP
  format_error,      // header readable, the rest is not valid: answer FORMERR
};

// Parses a query in place. Reads the header, the single question, skips answer and authority
// records and reads the additional section for one OPT record (ECS and cookie options parsed,
// unknown options skipped). Never reads outside `packet`.
[[nodiscard]] QueryParseStatus parse_query(std::span<const std::byte> packet, Query& out) noexcept;

// The name of a query type as dig prints it ("A", "AAAA", "TYPE65").
[[nodiscard]] std::string_view qtype_name(uint16_t qtype, std::span<char, 12> scratch) noexcept;

}  // namespace dnsleak::dns
