#include "auth/cookies.h"

#include <algorithm>
#include <cstring>

namespace dnsleak::auth {
namespace {

constexpr uint8_t kVersion = 1;

void put_u32(uint8_t* out, uint32_t v) noexcept {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

uint32_t get_u32(const uint8_t* in) noexcept {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

}  // namespace

const char* to_string(CookieCheck c) noexcept {
  switch (c) {
    case CookieCheck::valid: return "valid";
    case CookieCheck::wrong_size: return "wrong_size";
    case CookieCheck::wrong_version: return "wrong_version";
    case CookieCheck::expired: return "expired";
    case CookieCheck::from_future: return "from_future";
    case CookieCheck::bad_hash: return "bad_hash";
  }
  return "unknown";
}

CookieAuthority::CookieAuthority(std::string_view secret) noexcept {
  // SipHash of a label and the secret under two fixed keys: 128 bits that depend on every octet
  // of the secret and differ from the token key (which hashes the secret alone).
  static constexpr std::string_view kLabel = "dnsleak server cookie v1:";
  uint8_t input[256];
  const size_t secret_part = std::min(secret.size(), sizeof input - kLabel.size());
  std::memcpy(input, kLabel.data(), kLabel.size());
  std::memcpy(input + kLabel.size(), secret.data(), secret_part);
  const std::span<const uint8_t> bytes(input, kLabel.size() + secret_part);
  testname::SipKey k0{}, k1{};
  k0.fill(0x3c);
  k1.fill(0xc3);
  uint64_t a = testname::siphash24(k0, bytes);
  uint64_t b = testname::siphash24(k1, bytes);
  // Secrets longer than the buffer still count in full: fold the rest in.
  if (secret.size() > secret_part) {
    const std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(secret.data()) + secret_part,
                                        secret.size() - secret_part);
    a ^= testname::siphash24(k1, rest);
    b ^= testname::siphash24(k0, rest);
  }
  for (size_t i = 0; i < 8; ++i) {
    key_[i] = static_cast<uint8_t>(a >> (8 * i));
    key_[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
}

CookieAuthority CookieAuthority::from_key(const testname::SipKey& key) noexcept {
  CookieAuthority authority;
  authority.key_ = key;
  return authority;
}

uint64_t CookieAuthority::hash(const ClientCookie& client, std::span<const uint8_t, 8> header,
                               const net::IpAddress& address) const noexcept {
  uint8_t input[kClientCookieSize + 8 + 16];
  std::memcpy(input, client.data(), kClientCookieSize);
  std::memcpy(input + kClientCookieSize, header.data(), 8);
  const size_t octets = address.octets();
  std::memcpy(input + kClientCookieSize + 8, address.bytes.data(), octets);
  return testname::siphash24(key_, {input, kClientCookieSize + 8 + octets});
}

ServerCookie CookieAuthority::make(const ClientCookie& client, const net::IpAddress& address,
                                   uint32_t now_unix) const noexcept {
  ServerCookie out{};
  out[0] = kVersion;
  put_u32(out.data() + 4, now_unix);
  const uint64_t h = hash(client, std::span<const uint8_t, 8>(out.data(), 8), address);
  // RFC 9018 4.4 gives the hash as SipHash's 8 output octets in the order the reference code
  // writes them (little-endian).
  for (size_t i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(h >> (8 * i));
  return out;
}

CookieCheck CookieAuthority::check(const ClientCookie& client, std::span<const uint8_t> server,
                                   const net::IpAddress& address, uint32_t now_unix) const noexcept {
  if (server.size() != kServerCookieSize) return CookieCheck::wrong_size;
  if (server[0] != kVersion || server[1] != 0 || server[2] != 0 || server[3] != 0) return CookieCheck::wrong_version;
  const uint32_t stamp = get_u32(server.data() + 4);
  // Serial-number arithmetic (RFC 1982) over the 32-bit timestamp.
  const auto ahead = static_cast<int32_t>(stamp - now_unix);
  if (ahead > static_cast<int32_t>(kMaxSkewSeconds)) return CookieCheck::from_future;
  if (-ahead > static_cast<int32_t>(kMaxAgeSeconds)) return CookieCheck::expired;
  const uint64_t h = hash(client, server.first<8>(), address);
  uint8_t diff = 0;
  for (size_t i = 0; i < 8; ++i) diff |= static_cast<uint8_t>(server[8 + i] ^ static_cast<uint8_t>(h >> (8 * i)));
  return diff == 0 ? CookieCheck::valid : CookieCheck::bad_hash;
}

}  // namespace dnsleak::auth
