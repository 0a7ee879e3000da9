#include "dns_test_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "dns/name.h"
#include "dns/wire_reader.h"

namespace dnsleak::testing {
namespace {

void put16(std::vector<std::byte>& out, uint16_t v) {
  out.push_back(static_cast<std::byte>(v >> 8));
  out.push_back(static_cast<std::byte>(v & 0xFF));
}

}  // namespace

std::vector<std::byte> make_query(const QuerySpec& spec) {
  std::vector<std::byte> out;
  put16(out, spec.id);
  put16(out, spec.flags);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, spec.edns ? 1 : 0);
  dns::DnsName name;
  if (!name.from_text(spec.name)) ADD_FAILURE() << "bad test name " << spec.name;
  for (uint8_t b : name.wire()) out.push_back(static_cast<std::byte>(b));
  put16(out, spec.qtype);
  put16(out, spec.qclass);
  if (spec.edns) {
    out.push_back(std::byte{0});
    put16(out, 41);
    put16(out, spec.payload);
    put16(out, static_cast<uint16_t>(spec.edns_version));  // extended rcode 0, version
    put16(out, spec.dnssec_ok ? 0x8000 : 0);
    put16(out, static_cast<uint16_t>(spec.options.size()));
    for (uint8_t b : spec.options) out.push_back(static_cast<std::byte>(b));
  }
  return out;
}

std::vector<uint8_t> ecs_option(uint16_t family, uint8_t prefix, std::vector<uint8_t> address) {
  std::vector<uint8_t> o;
  o.reserve(8 + address.size());
  for (uint8_t b : {uint8_t{0}, uint8_t{8}, uint8_t{0}, static_cast<uint8_t>(4 + address.size()),
                    static_cast<uint8_t>(family >> 8), static_cast<uint8_t>(family), prefix, uint8_t{0}}) {
    o.push_back(b);
  }
  for (uint8_t b : address) o.push_back(b);
  return o;
}

auth::ZoneConfig leak_test_zone() {
  auth::ZoneConfig zone;
  (void)zone.apex.from_text("leak.test");
  auth::NameServer ns;
  (void)ns.name.from_text("ns1.leak.test");
  ns.ipv4.push_back({192, 0, 2, 53});
  auth::Ipv6Bytes v6{};
  inet_pton(AF_INET6, "2001:db8::53", v6.data());
  ns.ipv6.push_back(v6);
  zone.nameservers.push_back(ns);
  zone.web_ipv4.push_back({192, 0, 2, 80});
  inet_pton(AF_INET6, "2001:db8::80", v6.data());
  zone.web_ipv6.push_back(v6);
  (void)zone.soa_rname.from_text("hostmaster.leak.test");
  return zone;
}

std::vector<uint8_t> cookie_option(size_t length) {
  std::vector<uint8_t> o{0, 10, 0, static_cast<uint8_t>(length)};
  for (size_t i = 0; i < length; ++i) o.push_back(static_cast<uint8_t>(i + 1));
  return o;
}

std::optional<Response> parse_response(std::span<const std::byte> wire) {
  dns::WireReader r(wire);
  Response out;
  out.id = r.u16();
  out.flags = r.u16();
  out.rcode = out.flags & 0x0F;
  out.qdcount = r.u16();
  const uint16_t an = r.u16(), ns = r.u16(), ar = r.u16();
  dns::DnsName name;
  if (out.qdcount == 1) {
    if (!dns::read_name(r, name)) {
      ADD_FAILURE() << "bad question name";
      return std::nullopt;
    }
    out.qname = name.to_text();
    out.qtype = r.u16();
    (void)r.u16();
  }
  auto read_section = [&](uint16_t count, std::vector<Record>& into) {
    for (uint16_t i = 0; i < count; ++i) {
      Record rec;
      if (!dns::read_name(r, name)) return false;
      rec.name = name.to_text();
      rec.type = r.u16();
      const uint16_t rclass = r.u16();
      rec.ttl = r.u32();
      const uint16_t length = r.u16();
      const size_t rdata_at = r.offset();
      const auto data = r.bytes(length);
      if (!r.ok()) return false;
      for (std::byte b : data) rec.rdata.push_back(static_cast<uint8_t>(b));
      if (rec.type == 2) {
        dns::WireReader target(wire, rdata_at);
        if (!dns::read_name(target, name)) return false;
        rec.rdata_name = name.to_text();
      }
      if (rec.type == 41) {
        out.opt_ttl = rec.ttl;
        out.opt_rdata = rec.rdata;
        (void)rclass;
      }
      into.push_back(rec);
    }
    return true;
  };
  if (!r.ok() || !read_section(an, out.answer) || !read_section(ns, out.authority) ||
      !read_section(ar, out.additional)) {
    ADD_FAILURE() << "malformed response";
    return std::nullopt;
  }
  if (r.remaining() != 0) {
    ADD_FAILURE() << "trailing bytes in response";
    return std::nullopt;
  }
  return out;
}

std::string ipv4_text(const std::vector<uint8_t>& rdata) {
  char text[INET_ADDRSTRLEN] = {};
  if (rdata.size() == 4) inet_ntop(AF_INET, rdata.data(), text, sizeof text);
  return text;
}

}  // namespace dnsleak::testing
