// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random function for short inputs.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace dnsleak::testname {

using SipKey = std::array<uint8_t, 16>;

// The 64-bit SipHash-2-4 of `data` under `key`. Used as the MAC of test tokens: it is a PRF built
// for short messages, costs tens of nanoseconds (the token check runs for every query), and needs
// no allocation, unlike an HMAC through a crypto library's generic interface.
[[nodiscard]] uint64_t siphash24(const SipKey& key, std::span<const uint8_t> data) noexcept;

}  // namespace dnsleak::testname
