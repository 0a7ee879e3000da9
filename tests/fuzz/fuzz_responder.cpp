// libFuzzer target: any bytes through the whole query -> response path, as UDP and as TCP, from
// an IPv4 and an IPv6 peer. Checks the invariants a crash would not show: the answer fits its
// buffer, keeps the query's ID, and is itself a well-formed message.
#include <arpa/inet.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <span>

#include "auth/responder.h"
#include "dns/message.h"

namespace {

using namespace dnsleak;

struct Fixture {
  // Tokens never expire here so the seed corpus, made once with this secret, stays valid.
  Fixture() : tokens("fuzzing secret, not for production", UINT32_MAX) {
    (void)zone.apex.from_text("leak.test");
    auth::NameServer ns;
    (void)ns.name.from_text("ns1.leak.test");
    ns.ipv4.push_back({192, 0, 2, 53});
    auth::Ipv6Bytes v6{};
    inet_pton(AF_INET6, "2001:db8::53", v6.data());
    ns.ipv6.push_back(v6);
    zone.nameservers.push_back(ns);
    zone.web_ipv4.push_back({192, 0, 2, 80});
    zone.web_ipv6.push_back(v6);
    (void)zone.soa_rname.from_text("hostmaster.leak.test");
  }
  auth::ZoneConfig zone;
  testname::TokenAuthority tokens;
};

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  static const auth::Responder responder(fixture.zone, fixture.tokens);
  static std::array<std::byte, 65535> out;
  const std::span<const std::byte> query(reinterpret_cast<const std::byte*>(data), size);

  for (int variant = 0; variant < 3; ++variant) {
    auth::QueryContext context;
    context.now_ms = 1'800'000'000'000;
    context.remote_port = 4242;
    context.remote.family = variant == 1 ? 6 : 4;
    context.remote.bytes[0] = 198;
    context.transport = variant == 2 ? net::Transport::tcp : net::Transport::udp;
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
  }
  return 0;
}
