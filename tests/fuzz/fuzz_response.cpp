// libFuzzer target: any bytes through dns::parse_response and every record reader, as the client
// reads an echo name's TXT answer or a resolver's PTR answer. Checks what a crash would not show:
// every record and string lies inside the packet, names stay within 255 octets and read back the
// same from their presentation form.
#include <algorithm>
#include <span>

#include "dns/response.h"
#include "fuzz_check.h"

namespace {

using namespace dnsleak;
using fuzzing::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> packet(reinterpret_cast<const std::byte*>(data), size);
  const Result<dns::Response> response = dns::parse_response(packet);
  if (!response) return 0;
  check(size >= dns::kHeaderSize);
  check(response->records().size() * 11 <= size);
  for (const dns::ResourceRecord& rr : response->records()) {
    check(rr.rdata_offset + rr.rdata_length <= size);
    check(rr.owner.length() <= dns::kMaxNameLength);
    dns::DnsName again;
    check(again.from_text(rr.owner.to_text()));
    check(std::ranges::equal(again.wire(), rr.owner.wire()));
    if (const auto strings = response->txt_strings(rr)) {
      size_t octets = 0;
      for (const std::string& s : *strings) octets += 1 + s.size();
      check(octets == rr.rdata_length);
    }
    if (const auto name = response->rdata_name(rr)) check(name->length() <= dns::kMaxNameLength);
  }
  return 0;
}
