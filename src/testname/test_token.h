// Test tokens: the unique, self-authenticating first part of every test name.
//
// A test name is `<token>-<probe>.<zone>` (or under the `v4.`, `v6.` and `tcp.` sub-zones). The
// token is 32 characters of lowercase base32 (RFC 4648 alphabet, lowercased) over 20 octets:
//   test id (12 random octets, 96 bits) | issued-at (u32, Unix seconds) | MAC (u32)
// where MAC = first 4 octets of SipHash-2-4(secret, test id | issued-at). Any node holding the
// secret tells an issued token from a random-subdomain flood without shared state (a forged label
// passes with probability 2^-32), and refuses tokens past their lifetime without a clock server.
// Lowercase base32 keeps resolvers' 0x20 case randomisation visible and harmless.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/error.h"
#include "net/random.h"
#include "testname/siphash.h"

namespace dnsleak::testname {

inline constexpr size_t kTestIdSize = 12;
inline constexpr size_t kTokenRawSize = 20;
inline constexpr size_t kTokenTextSize = 32;  // 20 octets * 8 / 5
inline constexpr size_t kMaxProbeLength = 8;

using TestId = std::array<uint8_t, kTestIdSize>;

struct TestToken {
  std::array<uint8_t, kTokenRawSize> raw{};

  [[nodiscard]] TestId test_id() const noexcept;
  [[nodiscard]] uint32_t issued_at() const noexcept;
  [[nodiscard]] std::string text() const;
  // Writes the 32 characters of text() into `out` (no allocation).
  void write_text(std::span<char, kTokenTextSize> out) const noexcept;
};

// Parses 32 characters of lowercase or uppercase base32 into raw octets (no MAC check).
[[nodiscard]] std::optional<TestToken> decode_token_text(std::span<const uint8_t> text) noexcept;

// Lowercase hex: `out` gets two characters per octet of `in` (no allocation; sizes must match).
void write_hex(std::span<const uint8_t> in, std::span<char> out) noexcept;
[[nodiscard]] std::string to_hex(std::span<const uint8_t> in);
// The value of one hex digit (either case), -1 for anything else.
[[nodiscard]] int hex_value(char c) noexcept;
// Exactly 2 * out.size() hex digits into `out`; false (out unspecified) otherwise.
[[nodiscard]] bool parse_hex(std::string_view text, std::span<uint8_t> out) noexcept;

// Hex of a test id, the form the API and the observation log use.
[[nodiscard]] std::string test_id_hex(const TestId& id);
[[nodiscard]] std::optional<TestId> test_id_from_hex(std::string_view hex) noexcept;

// A probe label: 1 to 8 characters of [a-z0-9] (case-insensitive on input, stored lowercase).
struct ProbeLabel {
  std::array<char, kMaxProbeLength> chars{};
  uint8_t length = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), length}; }
  [[nodiscard]] static std::optional<ProbeLabel> parse(std::span<const uint8_t> text) noexcept;
};

enum class TokenCheck : uint8_t { valid, malformed, bad_mac, expired, from_future };

// Issues and verifies tokens under one secret. Immutable after construction; safe to share between
// threads.
class TokenAuthority {
 public:
  // The key is derived from the secret's bytes (any length) so secrets of any form work.
  explicit TokenAuthority(std::string_view secret, uint32_t max_age_seconds = 86400) noexcept;

  // A fresh token with a random test id, issued at `now_unix`; fails only if `random` does.
  [[nodiscard]] Result<TestToken> issue(uint32_t now_unix, net::RandomSource& random = net::system_random()) const;
  // A token for a given id (deterministic; tests and benchmarks use it).
  [[nodiscard]] TestToken issue(const TestId& id, uint32_t now_unix) const noexcept;

  // Checks a token's MAC and age. Tokens issued up to 300 s in the future pass (clock skew between
  // the node that issued it and this one).
  [[nodiscard]] TokenCheck check(const TestToken& token, uint32_t now_unix) const noexcept;

  // The key that opens a test's results, a MAC of its token under a second key: the token itself
  // travels in cleartext DNS names (every resolver on the path sees it), the results key only
  // goes to whoever created the test.
  [[nodiscard]] uint64_t results_key(const TestToken& token) const noexcept;
  [[nodiscard]] uint32_t max_age_seconds() const noexcept { return max_age_seconds_; }

 private:
  [[nodiscard]] uint32_t mac(std::span<const uint8_t, 16> id_and_time) const noexcept;
  SipKey key_{};
  SipKey results_key_{};
  uint32_t max_age_seconds_;
};

// The first label of a test name, `<token>-<probe>`, split by the grammar alone: what a client,
// which has no secret, can tell. nullopt when it is not of that form.
struct TestLabel {
  TestToken token;
  ProbeLabel probe;
};
[[nodiscard]] std::optional<TestLabel> split_test_label(std::span<const uint8_t> label) noexcept;

// Splits the first label of a test name, `<token>-<probe>`, and checks it. On success fills
// `token` and `probe`.
[[nodiscard]] TokenCheck parse_test_label(const TokenAuthority& authority, std::span<const uint8_t> label,
                                          uint32_t now_unix, TestToken& token, ProbeLabel& probe) noexcept;

}  // namespace dnsleak::testname
