#include "dns/message.h"

#include <cstdio>
#include <cstring>

namespace dnsleak::dns {
namespace {

constexpr uint8_t kOpcodeQuery = 0;

// RFC 7871 6: the address carries ceil(source/8) octets and no bits beyond the prefix.
bool parse_client_subnet(WireReader& option, uint16_t length, ClientSubnet& out) noexcept {
  if (length < 4) return false;
  out.family = option.u16();
  out.source_prefix = option.u8();
  out.scope_prefix = option.u8();
  const size_t max_prefix = out.family == 1 ? 32 : out.family == 2 ? 128 : 0;
  if (max_prefix == 0 || out.source_prefix > max_prefix) return false;
  if (out.scope_prefix != 0) return false;  // must be 0 in queries (RFC 7871 6)
  const size_t octets = (out.source_prefix + 7u) / 8u;
  if (length - 4u != octets) return false;
  const auto address = option.bytes(octets);
  if (!option.ok()) return false;
  std::memcpy(out.address.data(), address.data(), octets);
  if (out.source_prefix % 8 != 0) {
    const uint8_t unused_bits = static_cast<uint8_t>(0xFFu >> (out.source_prefix % 8));
    if ((out.address[octets - 1] & unused_bits) != 0) return false;
  }
  return true;
}

bool parse_opt_rdata(std::span<const std::byte> rdata, EdnsInfo& edns) noexcept {
  WireReader reader(rdata);
  while (reader.remaining() > 0) {
    const uint16_t code = reader.u16();
    const uint16_t length = reader.u16();
    const auto value = reader.bytes(length);
    if (!reader.ok()) return false;
    WireReader option(value);
    if (code == edns_option::CLIENT_SUBNET) {
      if (edns.has_client_subnet) return false;
      if (!parse_client_subnet(option, length, edns.client_subnet)) return false;
      edns.has_client_subnet = true;
    } else if (code == edns_option::COOKIE) {
      // RFC 7873 5.2.2: 8 octets client cookie, optionally 8 to 32 octets server cookie.
      if (edns.has_cookie) return false;
      if (length != 8 && (length < 16 || length > 40)) return false;
      std::memcpy(edns.client_cookie.data(), value.data(), 8);
      edns.has_cookie = true;
      edns.has_server_cookie = length > 8;
      edns.server_cookie_length = static_cast<uint8_t>(length - 8);
      if (edns.has_server_cookie) std::memcpy(edns.server_cookie.data(), value.data() + 8, length - 8u);
    } else if (code == edns_option::NSID) {
      // RFC 5001 2.1: sent empty; whatever it holds, it asks for our identifier.
      edns.wants_nsid = true;
    }
  }
  return true;
}

}  // namespace

QueryParseStatus parse_query(std::span<const std::byte> packet, Query& out) noexcept {
  // Field by field: `out = Query{}` had the compiler zero the whole ~450-octet object (the name's
  // storage included) for every packet.
  out.header = Header{};
  out.qname.clear();
  out.qtype = 0;
  out.qclass = 0;
  out.question_parsed = false;
  out.edns = EdnsInfo{};
  WireReader reader(packet);
  Header& h = out.header;
  h.id = reader.u16();
  h.flags = reader.u16();
  h.qdcount = reader.u16();
  h.ancount = reader.u16();
  h.nscount = reader.u16();
  h.arcount = reader.u16();
  if (!reader.ok()) return QueryParseStatus::drop_too_short;
  if (h.qr()) return QueryParseStatus::drop_is_response;

  if (h.qdcount == 1) {
    const bool name_ok = read_name(reader, out.qname);
    out.qtype = reader.u16();
    out.qclass = reader.u16();
    out.question_parsed = name_ok && reader.ok();
  }
  if (h.opcode() != kOpcodeQuery) return QueryParseStatus::not_implemented;
  if (!out.question_parsed) return QueryParseStatus::format_error;

  // Answer and authority records carry nothing a query needs; walk over them to the OPT.
  const size_t records = size_t{h.ancount} + h.nscount + h.arcount;
  DnsName owner;
  for (size_t i = 0; i < records; ++i) {
    const bool owner_ok = read_name(reader, owner);
    const uint16_t type = reader.u16();
    const uint16_t rclass = reader.u16();
    const uint32_t ttl = reader.u32();
    const uint16_t rdlength = reader.u16();
    const auto rdata = reader.bytes(rdlength);
    if (!owner_ok || !reader.ok()) return QueryParseStatus::format_error;
    if (type != rr_type::OPT) continue;
    // RFC 6891 6.1.1: one OPT, owned by the root, in the additional section.
    if (i < size_t{h.ancount} + h.nscount || out.edns.present || owner.label_count() != 0) {
      return QueryParseStatus::format_error;
    }
    out.edns.present = true;
    out.edns.udp_payload_size = rclass;
    out.edns.version = static_cast<uint8_t>(ttl >> 16);
    out.edns.dnssec_ok = (ttl & 0x8000u) != 0;
    if (!parse_opt_rdata(rdata, out.edns)) return QueryParseStatus::format_error;
  }
  return QueryParseStatus::ok;
}

std::string_view qtype_name(uint16_t qtype, std::span<char, 12> scratch) noexcept {
  switch (qtype) {
    case rr_type::A: return "A";
    case rr_type::NS: return "NS";
    case rr_type::CNAME: return "CNAME";
    case rr_type::SOA: return "SOA";
    case 15: return "MX";
    case rr_type::TXT: return "TXT";
    case rr_type::AAAA: return "AAAA";
    case rr_type::DS: return "DS";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case rr_type::ANY: return "ANY";
    default: break;
  }
  const int n = std::snprintf(scratch.data(), scratch.size(), "TYPE%u", static_cast<unsigned>(qtype));
  return {scratch.data(), static_cast<size_t>(n)};
}

}  // namespace dnsleak::dns
