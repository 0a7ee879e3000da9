#include "store/observation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace dnsleak::store {

size_t format_time_ms(int64_t unix_ms, std::span<char> out) noexcept {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  const int n =
      std::snprintf(out.data(), out.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                    utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(unix_ms % 1000));
  return n > 0 ? std::min(static_cast<size_t>(n), out.size() - 1) : 0;
}

const char* to_string(Transport t) noexcept { return t == Transport::tcp ? "tcp" : "udp"; }

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

size_t IpAddress::to_text(std::span<char> out) const noexcept {
  if (out.size() < INET6_ADDRSTRLEN) return 0;
  if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes.data(), out.data(), static_cast<socklen_t>(out.size())) ==
      nullptr) {
    return 0;
  }
  size_t n = 0;
  while (out[n] != '\0') ++n;
  return n;
}

std::string IpAddress::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  return std::string(buffer.data(), to_text(buffer));
}

CaseMask case_mask_of(const dns::DnsName& name) noexcept {
  // Length octets are at most 63, below every ASCII letter, so the wire form can be scanned as
  // one run of bytes (this runs for every observation).
  CaseMask mask;
  size_t letter = 0;
  for (const uint8_t c : name.wire()) {
    if (static_cast<uint8_t>((c | 0x20) - 'a') >= 26) continue;
    const bool upper = (c & 0x20) == 0;
    if (letter < 64)
      mask.bits |= static_cast<uint64_t>(upper) << letter;
    else
      mask.beyond |= upper;
    ++letter;
  }
  return mask;
}

void apply_case_mask(dns::DnsName& name, CaseMask mask) noexcept {
  // DnsName exposes labels read-only; rebuild it label by label with the case applied.
  dns::DnsName out;
  size_t letter = 0;
  for (size_t l = 0; l < name.label_count(); ++l) {
    std::array<uint8_t, dns::kMaxLabelLength> label{};
    const auto source = name.label(l);
    for (size_t i = 0; i < source.size(); ++i) {
      uint8_t c = source[i];
      if (c >= 'a' && c <= 'z') {
        if (letter < 64 && (mask.bits >> letter & 1u)) c = static_cast<uint8_t>(c & ~0x20);
        ++letter;
      }
      label[i] = c;
    }
    if (!out.append_label({label.data(), source.size()})) return;
  }
  name = out;
}

}  // namespace dnsleak::store
