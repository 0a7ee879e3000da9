// DNS server cookies (RFC 7873) in the interoperable form of RFC 9018: any node holding the
// shared secret makes and checks them, so an anycast or multi-node deployment needs no state.
//
// Server cookie (16 octets) = Version (1) | Reserved (3, zero) | Timestamp (u32, Unix seconds) |
//   Hash (8), where Hash = SipHash-2-4(key, Client Cookie | Version | Reserved | Timestamp | Client-IP).
// A query carrying a valid server cookie has been answered at its source address before: the source
// is not spoofed, which is why the rate limiter lets it through.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "net/ip_address.h"
#include "testname/siphash.h"

namespace dnsleak::auth {

inline constexpr size_t kClientCookieSize = 8;
inline constexpr size_t kServerCookieSize = 16;
using ClientCookie = std::array<uint8_t, kClientCookieSize>;
using ServerCookie = std::array<uint8_t, kServerCookieSize>;

enum class CookieCheck : uint8_t {
  valid,
  wrong_size,     // not the 16 octets of RFC 9018
  wrong_version,  // not version 1, or reserved octets set
  expired,        // older than an hour (RFC 9018 4.3)
  from_future,    // more than 5 minutes ahead (clock skew between nodes is allowed for)
  bad_hash,       // made under another secret, for another address or client cookie, or forged
};
[[nodiscard]] const char* to_string(CookieCheck) noexcept;

class CookieAuthority {
 public:
  // The key is derived from the token secret (any length) under its own label, so the two
  // keys differ while every node sharing the secret shares both.
  explicit CookieAuthority(std::string_view secret) noexcept;
  // With the SipHash key given as is: RFC 9018's test vectors, and servers that share a raw key.
  [[nodiscard]] static CookieAuthority from_key(const testname::SipKey& key) noexcept;

  [[nodiscard]] ServerCookie make(const ClientCookie& client, const net::IpAddress& address,
                                  uint32_t now_unix) const noexcept;
  [[nodiscard]] CookieCheck check(const ClientCookie& client, std::span<const uint8_t> server,
                                  const net::IpAddress& address, uint32_t now_unix) const noexcept;

  static constexpr uint32_t kMaxAgeSeconds = 3600;
  static constexpr uint32_t kMaxSkewSeconds = 300;

 private:
  CookieAuthority() = default;
  [[nodiscard]] uint64_t hash(const ClientCookie& client, std::span<const uint8_t, 8> header,
                              const net::IpAddress& address) const noexcept;
  testname::SipKey key_{};
};

}  // namespace dnsleak::auth
