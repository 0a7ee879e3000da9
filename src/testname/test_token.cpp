#include "testname/test_token.h"

#include <endian.h>

#include <cstring>
#include <stdexcept>

namespace dnsleak::testname {
namespace {

constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr uint32_t kMaxFutureSkewSeconds = 300;

// Base32 values of every octet (either case), -1 for the rest: one load per character on the
// packet path.
constexpr std::array<int8_t, 256> kBase32Values = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'a');
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'A');
  for (int c = '2'; c <= '7'; ++c) table[static_cast<size_t>(c)] = static_cast<int8_t>(c - '2' + 26);
  return table;
}();

}  // namespace

TestId TestToken::test_id() const noexcept {
  TestId id;
  std::memcpy(id.data(), raw.data(), kTestIdSize);
  return id;
}

uint32_t TestToken::issued_at() const noexcept {
  return (uint32_t{raw[12]} << 24) | (uint32_t{raw[13]} << 16) | (uint32_t{raw[14]} << 8) | raw[15];
}

void TestToken::write_text(std::span<char, kTokenTextSize> out) const noexcept {
  // 20 octets are exactly 160 bits: 32 groups of 5, no padding.
  uint64_t buffer = 0;
  int bits = 0;
  size_t n = 0;
  for (const uint8_t byte : raw) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[n++] = kBase32[(buffer >> bits) & 0x1F];
    }
  }
}

std::string TestToken::text() const {
  std::string s(kTokenTextSize, '\0');
  write_text(std::span<char, kTokenTextSize>(s.data(), kTokenTextSize));
  return s;
}

namespace {

// The packet path's decoders write their results as whole words: octet-by-octet stores read back
// soon after as wider loads (the MAC check, the copy into an observation) cannot be forwarded from
// the store buffer and stalled the core, which cost more than the decoding itself.

bool decode_token_into(std::span<const uint8_t> text, TestToken& token) noexcept {
  if (text.size() != kTokenTextSize) return false;
  // 8 characters are 40 bits are 5 octets: decode in 4 independent groups.
  uint64_t group[4];
  int8_t invalid = 0;
  for (size_t g = 0; g < 4; ++g) {
    uint64_t bits = 0;
    for (size_t i = 0; i < 8; ++i) {
      const int8_t v = kBase32Values[text[g * 8 + i]];
      invalid |= v;  // any -1 sets the sign bit
      bits = (bits << 5) | static_cast<uint8_t>(v & 0x1F);
    }
    group[g] = bits;
  }
  if (invalid < 0) return false;
  // Octets 0-7, 8-15 (big-endian) and 16-19 of the 20.
  const uint64_t first = htobe64((group[0] << 24) | (group[1] >> 16));
  const uint64_t second = htobe64((group[1] << 48) | (group[2] << 8) | (group[3] >> 32));
  const uint32_t last = htobe32(static_cast<uint32_t>(group[3]));
  std::memcpy(token.raw.data(), &first, 8);
  std::memcpy(token.raw.data() + 8, &second, 8);
  std::memcpy(token.raw.data() + 16, &last, 4);
  return true;
}

bool parse_probe_into(std::span<const uint8_t> text, ProbeLabel& probe) noexcept {
  if (text.empty() || text.size() > kMaxProbeLength) return false;
  uint64_t chars = 0;  // built in a register, stored once
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t c = text[i];
    const uint8_t lower = (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c | 0x20) : c;
    if (!((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9'))) return false;
    chars |= uint64_t{lower} << (8 * i);
  }
  chars = htole64(chars);
  static_assert(sizeof probe.chars == sizeof chars);
  std::memcpy(probe.chars.data(), &chars, sizeof chars);
  probe.length = static_cast<uint8_t>(text.size());
  return true;
}

}  // namespace

std::optional<TestToken> decode_token_text(std::span<const uint8_t> text) noexcept {
  TestToken token;
  if (!decode_token_into(text, token)) return std::nullopt;
  return token;
}

void write_hex(std::span<const uint8_t> in, std::span<char> out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < in.size() && 2 * i + 1 < out.size(); ++i) {
    out[2 * i] = kHex[in[i] >> 4];
    out[2 * i + 1] = kHex[in[i] & 0xF];
  }
}

std::string to_hex(std::span<const uint8_t> in) {
  std::string s(2 * in.size(), '\0');
  write_hex(in, s);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hex(std::string_view text, std::span<uint8_t> out) noexcept {
  if (text.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(text[2 * i]), low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return true;
}

std::string test_id_hex(const TestId& id) { return to_hex(id); }

std::optional<TestId> test_id_from_hex(std::string_view hex) noexcept {
  TestId id;
  if (!parse_hex(hex, id)) return std::nullopt;
  return id;
}

std::optional<ProbeLabel> ProbeLabel::parse(std::span<const uint8_t> text) noexcept {
  ProbeLabel probe;
  if (!parse_probe_into(text, probe)) return std::nullopt;
  return probe;
}

TokenAuthority::TokenAuthority(std::string_view secret, uint32_t max_age_seconds) noexcept
    : max_age_seconds_(max_age_seconds) {
  // Fold the secret into a 128-bit key with SipHash under two fixed keys: any secret length works
  // and every octet of it counts.
  SipKey k0{}, k1{};
  k1.fill(0x5c);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(secret.data()), secret.size());
  SipKey k2{}, k3{};
  k2.fill(0x36);
  k3.fill(0xa5);
  const uint64_t a = siphash24(k0, bytes);
  const uint64_t b = siphash24(k1, bytes);
  const uint64_t c = siphash24(k2, bytes);
  const uint64_t d = siphash24(k3, bytes);
  for (size_t i = 0; i < 8; ++i) {
    key_[i] = static_cast<uint8_t>(a >> (8 * i));
    key_[8 + i] = static_cast<uint8_t>(b >> (8 * i));
    results_key_[i] = static_cast<uint8_t>(c >> (8 * i));
    results_key_[8 + i] = static_cast<uint8_t>(d >> (8 * i));
  }
}

uint64_t TokenAuthority::results_key(const TestToken& token) const noexcept {
  return siphash24(results_key_, token.raw);
}

uint32_t TokenAuthority::mac(std::span<const uint8_t, 16> id_and_time) const noexcept {
  return static_cast<uint32_t>(siphash24(key_, id_and_time));
}

TestToken TokenAuthority::issue(const TestId& id, uint32_t now_unix) const noexcept {
  TestToken token;
  std::memcpy(token.raw.data(), id.data(), kTestIdSize);
  token.raw[12] = static_cast<uint8_t>(now_unix >> 24);
  token.raw[13] = static_cast<uint8_t>(now_unix >> 16);
  token.raw[14] = static_cast<uint8_t>(now_unix >> 8);
  token.raw[15] = static_cast<uint8_t>(now_unix);
  const uint32_t m = mac(std::span<const uint8_t, 16>(token.raw.data(), 16));
  for (size_t i = 0; i < 4; ++i) token.raw[16 + i] = static_cast<uint8_t>(m >> (24 - 8 * i));
  return token;
}

Result<TestToken> TokenAuthority::issue(uint32_t now_unix, net::RandomSource& random) const {
  TestId id;
  if (Result<void> filled = random.fill(id); !filled) {
    return fail(std::move(filled.error()).within("cannot issue a test token"));
  }
  return issue(id, now_unix);
}

TokenCheck TokenAuthority::check(const TestToken& token, uint32_t now_unix) const noexcept {
  const uint32_t m = mac(std::span<const uint8_t, 16>(token.raw.data(), 16));
  const uint32_t sent = (uint32_t{token.raw[16]} << 24) | (uint32_t{token.raw[17]} << 16) |
                        (uint32_t{token.raw[18]} << 8) | token.raw[19];
  if (m != sent) return TokenCheck::bad_mac;
  const uint32_t issued = token.issued_at();
  if (issued > now_unix && issued - now_unix > kMaxFutureSkewSeconds) return TokenCheck::from_future;
  if (now_unix > issued && now_unix - issued > max_age_seconds_) return TokenCheck::expired;
  return TokenCheck::valid;
}

namespace {

// The grammar of `<token>-<probe>`, into the caller's fields: the packet path calls this for every
// test name, so nothing is copied twice.
bool split_into(std::span<const uint8_t> label, TestToken& token, ProbeLabel& probe) noexcept {
  return label.size() >= kTokenTextSize + 2 && label[kTokenTextSize] == '-' &&
         decode_token_into(label.first(kTokenTextSize), token) &&
         parse_probe_into(label.subspan(kTokenTextSize + 1), probe);
}

}  // namespace

std::optional<TestLabel> split_test_label(std::span<const uint8_t> label) noexcept {
  TestLabel out;
  if (!split_into(label, out.token, out.probe)) return std::nullopt;
  return out;
}

TokenCheck parse_test_label(const TokenAuthority& authority, std::span<const uint8_t> label, uint32_t now_unix,
                            TestToken& token, ProbeLabel& probe) noexcept {
  if (!split_into(label, token, probe)) return TokenCheck::malformed;
  return authority.check(token, now_unix);
}

}  // namespace dnsleak::testname
