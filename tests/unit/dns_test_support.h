// Builds queries and reads responses for the unit tests (test-side code; the product's parser is
// what is under test, so responses are read with a separate, simple walker).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/zone_config.h"

namespace dnsleak::testing {

// The zone the responder tests serve: leak.test, ns1.leak.test at 192.0.2.53 and 2001:db8::53,
// the web at 192.0.2.80 and 2001:db8::80.
auth::ZoneConfig leak_test_zone();

struct QuerySpec {
  std::string name;
  uint16_t qtype = 1;
  uint16_t qclass = 1;
  uint16_t id = 0x1234;
  uint16_t flags = 0x0100;  // RD
  bool edns = false;
  uint16_t payload = 1232;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;
  std::vector<uint8_t> options{};  // raw EDNS options (code, length, value...)
};

std::vector<std::byte> make_query(const QuerySpec& spec);
// An ECS option: family 1/2, prefix, and the address octets to send.
std::vector<uint8_t> ecs_option(uint16_t family, uint8_t prefix, std::vector<uint8_t> address);
std::vector<uint8_t> cookie_option(size_t length);

struct Record {
  std::string name;  // presentation, as written (case kept)
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
  std::string rdata_name;  // for NS: the target
};

struct Response {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint8_t rcode = 0;  // header rcode only
  std::string qname;
  uint16_t qtype = 0;
  uint16_t qdcount = 0;
  std::vector<Record> answer, authority, additional;
  bool aa() const { return flags & 0x0400; }
  bool tc() const { return flags & 0x0200; }
  std::optional<uint32_t> opt_ttl;  // extended rcode, version, DO
  std::vector<uint8_t> opt_rdata;
};

// Parses a response; fails the calling test (ADD_FAILURE) and returns nullopt if it is malformed.
std::optional<Response> parse_response(std::span<const std::byte> wire);

std::string ipv4_text(const std::vector<uint8_t>& rdata);

}  // namespace dnsleak::testing
