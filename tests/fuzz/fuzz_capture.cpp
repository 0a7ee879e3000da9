// libFuzzer target: any frame through the capture decoder (host::decode_frame), as `dnsleak watch`
// and the local evidence of `dnsleak test` read what libpcap hands over. The first octet picks the
// link type; the rest is the frame. Checks what a crash would not show: a decoded question's name
// is a valid name that reads back the same, and DoT is never decoded.
#include <array>
#include <span>

#include "dns/name.h"
#include "fuzz_check.h"
#include "host/capture.h"

namespace {

using namespace dnsleak;
using fuzzing::check;

// DLT_NULL, DLT_EN10MB, DLT_RAW, LINKTYPE_RAW, DLT_LINUX_SLL, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL2.
constexpr std::array<int, 8> kLinkTypes{0, 1, 12, 101, 113, 228, 229, 276};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int dlt = kLinkTypes[data[0] % kLinkTypes.size()];
  check(host::link_type_supported(dlt));
  const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const Result<std::optional<host::CapturedDns>> packet = host::decode_frame(dlt, frame);
  if (!packet || !*packet) return 0;
  const host::CapturedDns& p = **packet;
  check(p.source.family == p.destination.family);
  check(p.source.family == 4 || p.source.family == 6);
  if (p.kind == host::DnsKind::dot) check(!p.decoded);
  if (p.decoded) {
    check(p.name.size() <= dns::DnsName::kMaxTextLength);
    dns::DnsName name;
    check(p.name.empty() || p.name == "." || name.from_text(p.name));
  }
  return 0;
}
