// IP addresses and prefixes: the ground floor's basic types, used by every part above.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/error.h"

namespace dnsleak::net {

struct IpAddress {
  uint8_t family = 4;               // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 octets, the rest zero

  [[nodiscard]] std::string to_string() const;
  // Into a caller's buffer of at least 46 characters (INET6_ADDRSTRLEN); returns the length.
  size_t to_text(std::span<char> out) const noexcept;
  [[nodiscard]] size_t octets() const noexcept { return family == 6 ? 16 : 4; }
  [[nodiscard]] unsigned bits() const noexcept { return family == 6 ? 128 : 32; }
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Dotted IPv4 or RFC 4291 IPv6 text. Allocates only to describe a failure.
[[nodiscard]] Result<IpAddress> parse_ip(std::string_view text);

// An address with the bits past `length` cleared, as CIDR prefixes and ECS subnets hold them.
[[nodiscard]] IpAddress prefix_of(const IpAddress& address, unsigned length) noexcept;

// A CIDR prefix: "10.77.0.0/16", "fd77::/64". The address is kept with its host bits cleared.
struct Prefix {
  IpAddress address;
  uint8_t length = 0;  // at most 32 for IPv4, 128 for IPv6

  [[nodiscard]] bool contains(const IpAddress& other) const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// "ADDR/LEN", or a bare address as a host prefix (/32, /128). Host bits set in the text are an
// error ("10.0.0.1/8" is a typo more often than not) unless they are to be cleared, as for
// subnets other software reports.
enum class HostBits : uint8_t { reject, clear };
[[nodiscard]] Result<Prefix> parse_prefix(std::string_view text, HostBits host_bits = HostBits::reject);

}  // namespace dnsleak::net
