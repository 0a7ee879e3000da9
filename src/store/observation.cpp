#include "store/observation.h"

#include <arpa/inet.h>
#include <endian.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace dnsleak::store {

const char* to_string(SubZone z) noexcept {
  switch (z) {
    case SubZone::v4: return "v4";
    case SubZone::v6: return "v6";
    case SubZone::tcp: return "tcp";
    case SubZone::none: break;
  }
  return "";
}

const char* to_string(AnswerKind a) noexcept {
  switch (a) {
    case AnswerKind::nodata: return "nodata";
    case AnswerKind::referral: return "referral";
    case AnswerKind::truncated: return "truncated";
    case AnswerKind::answer: break;
  }
  return "answer";
}

namespace {

// High bit of each octet of `x` that is an ASCII uppercase letter, all 8 octets at once.
uint64_t uppercase_octets(uint64_t x) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t low7 = x & ~kHigh;  // adding below cannot carry into the next octet
  const uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;
  const uint64_t beyond_z = low7 + (0x80 - 'Z' - 1) * kOnes;
  return at_least_a & ~beyond_z & ~x & kHigh;
}

// The high bits of the 8 octets as 8 bits, octet 0 in bit 0 (the multiply gathers them into the top
// octet; no two partial products share a bit, so nothing carries).
uint64_t gather_high_bits(uint64_t high) noexcept { return ((high >> 7) * 0x0102040810204080ULL) >> 56; }

}  // namespace

CaseMask case_mask_of(const dns::DnsName& name) noexcept {
  // Runs for every observation: 8 octets at a time, no branch per character. Length octets are at
  // most 63, so they never look like letters.
  const uint8_t* wire = name.wire().data();
  const size_t end = name.length() - 1;  // the root octet is no letter
  CaseMask mask;
  for (size_t at = 1; at < end; at += 8) {
    // Whole 8-octet loads only: a short copy into a zeroed word stalled on store forwarding and
    // cost more than the rest. The last, short word is the name's last 8 octets shifted down.
    uint64_t word = 0;
    const size_t n = std::min<size_t>(8, end - at);
    if (n == 8) {
      std::memcpy(&word, wire + at, 8);
      word = le64toh(word);
    } else if (end >= 8) {
      std::memcpy(&word, wire + end - 8, 8);
      word = le64toh(word) >> (8 * (8 - n));
    } else {
      for (size_t i = 0; i < n; ++i) word |= uint64_t{wire[at + i]} << (8 * i);
    }
    const uint64_t upper = uppercase_octets(word);
    if (at - 1 < kCaseMaskPositions)
      mask.bits |= gather_high_bits(upper) << (at - 1);
    else
      mask.beyond |= upper != 0;
  }
  return mask;
}

void apply_case_mask(dns::DnsName& name, CaseMask mask) noexcept {
  // DnsName exposes labels read-only; rebuild it label by label with the case applied.
  dns::DnsName out;
  for (size_t l = 0; l < name.label_count(); ++l) {
    std::array<uint8_t, dns::kMaxLabelLength> label{};
    const auto source = name.label(l);
    for (size_t i = 0; i < source.size(); ++i) {
      uint8_t c = source[i];
      const size_t bit = name.label_offset(l) + i;  // the octet is at wire position bit + 1
      if (c >= 'a' && c <= 'z' && bit < kCaseMaskPositions && (mask.bits >> bit & 1u)) {
        c = static_cast<uint8_t>(c & ~0x20);
      }
      label[i] = c;
    }
    if (!out.append_label({label.data(), source.size()})) return;
  }
  name = out;
}

std::optional<dns::DnsName> test_qname(const testname::TestToken& token, const testname::ProbeLabel& probe,
                                       SubZone sub_zone, const dns::DnsName& zone, CaseMask mask) noexcept {
  std::array<uint8_t, testname::kTokenTextSize + 1 + testname::kMaxProbeLength> first{};
  token.write_text(
      std::span<char, testname::kTokenTextSize>(reinterpret_cast<char*>(first.data()), testname::kTokenTextSize));
  first[testname::kTokenTextSize] = '-';
  std::memcpy(first.data() + testname::kTokenTextSize + 1, probe.chars.data(), probe.length);
  dns::DnsName name;
  bool ok = name.append_label({first.data(), testname::kTokenTextSize + 1 + probe.length});
  if (sub_zone != SubZone::none) {
    const char* sub = to_string(sub_zone);
    ok = ok && name.append_label({reinterpret_cast<const uint8_t*>(sub), std::strlen(sub)});
  }
  for (size_t l = 0; l < zone.label_count(); ++l) ok = ok && name.append_label(zone.label(l));
  if (!ok) return std::nullopt;
  apply_case_mask(name, mask);
  return name;
}

}  // namespace dnsleak::store
