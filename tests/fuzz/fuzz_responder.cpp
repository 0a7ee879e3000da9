// libFuzzer target: any bytes through the whole query -> response path, as UDP and as TCP, from
// an IPv4 and an IPv6 peer. Checks the invariants a crash would not show: the answer fits its
// buffer, keeps the query's ID, and is itself a well-formed message.
#include <array>
#include <cstring>
#include <span>

#include "dns/message.h"
#include "fuzz_check.h"
#include "responder_fixture.h"

namespace {

using namespace dnsleak;
using fuzzing::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzzing::ResponderFixture fixture;
  static const auth::Responder responder(fixture.zone, fixture.tokens, &fixture.cookies);
  static std::array<std::byte, 65535> out;
  const std::span<const std::byte> query(reinterpret_cast<const std::byte*>(data), size);

  for (int variant = 0; variant < fuzzing::kVariants; ++variant) {
    const auth::QueryContext context = fuzzing::variant_context(variant);
    store::ResolverObservation observation;
    const auth::ResponseResult r = responder.respond(query, context, out, observation);
    if (r.length == 0) continue;
    check(r.length <= out.size());
    check(r.length >= dns::kHeaderSize && size >= dns::kHeaderSize);
    check(std::memcmp(out.data(), data, 2) == 0);  // the ID
    if (context.transport == net::Transport::udp) check(r.length <= 1232);
    // Our own answer must parse as a message: read it back as a query after clearing QR.
    std::array<std::byte, 65535> copy;
    std::memcpy(copy.data(), out.data(), r.length);
    copy[2] &= std::byte{0x7F};
    dns::Query parsed;
    const dns::QueryParseStatus status = dns::parse_query({copy.data(), r.length}, parsed);
    check(status != dns::QueryParseStatus::drop_too_short);
    // The rate limiter's slip of this answer: truncated, empty, never larger than the query (the
    // amplification a spoofed victim can get past the limit).
    std::memcpy(copy.data(), out.data(), r.length);
    const size_t slipped = auth::Responder::slip(copy, r, size);
    if (slipped == 0) continue;  // not sent: it would have been larger than the query
    check(slipped >= dns::kHeaderSize && slipped <= size);
    check((std::to_integer<uint8_t>(copy[2]) & 0x02) != 0);
    check(copy[6] == std::byte{0} && copy[7] == std::byte{0} && copy[8] == std::byte{0} && copy[9] == std::byte{0});
  }
  return 0;
}
