// The zone, secret and query variants the responder's fuzz target and its answer check share.
// Tokens never expire here so the seed corpus, made once with this secret, stays valid.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <span>

#include "auth/cookies.h"
#include "auth/responder.h"

namespace dnsleak::fuzzing {

struct ResponderFixture {
  ResponderFixture()
      : tokens("fuzzing secret, not for production", UINT32_MAX), cookies("fuzzing secret, not for production") {
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
  auth::CookieAuthority cookies;  // server cookies made and checked as dnsleakd does
};

// Every input is asked three ways: UDP from IPv4, UDP from IPv6, TCP from IPv4.
inline constexpr int kVariants = 3;
[[nodiscard]] inline auth::QueryContext variant_context(int variant) {
  auth::QueryContext context;
  context.now_ms = 1'800'000'000'000;
  context.remote_port = 4242;
  context.remote.family = variant == 1 ? 6 : 4;
  context.remote.bytes[0] = 198;
  context.transport = variant == 2 ? net::Transport::tcp : net::Transport::udp;
  return context;
}

}  // namespace dnsleak::fuzzing
