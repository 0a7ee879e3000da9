#include "dns/response.h"

#include "dns/wire_reader.h"

namespace dnsleak::dns {

Result<Response> parse_response(std::span<const std::byte> packet) {
  WireReader reader(packet);
  Response out;
  out.packet_ = packet;
  out.header_.id = reader.u16();
  out.header_.flags = reader.u16();
  out.header_.qdcount = reader.u16();
  out.header_.ancount = reader.u16();
  out.header_.nscount = reader.u16();
  out.header_.arcount = reader.u16();
  if (!reader.ok()) return fail("a DNS message shorter than its header");
  if (!out.header_.qr()) return fail("a DNS query where a response was expected");
  for (uint16_t i = 0; i < out.header_.qdcount; ++i) {
    DnsName name;
    if (!read_name(reader, name)) return fail("a malformed question name");
    const uint16_t qtype = reader.u16();
    (void)reader.u16();  // the class
    if (!reader.ok()) return fail("a question cut short");
    if (i == 0) {
      out.qname_ = name;
      out.qtype_ = qtype;
    }
  }
  const struct {
    Section section;
    uint16_t count;
  } sections[] = {{Section::answer, out.header_.ancount},
                  {Section::authority, out.header_.nscount},
                  {Section::additional, out.header_.arcount}};
  // Each record takes at least 11 octets, so the counts cannot make this reserve more than the
  // packet could hold.
  out.records_.reserve(std::min<size_t>(size_t{out.header_.ancount} + out.header_.nscount + out.header_.arcount,
                                        reader.remaining() / 11));
  for (const auto& [section, count] : sections) {
    for (uint16_t i = 0; i < count; ++i) {
      ResourceRecord rr;
      rr.section = section;
      if (!read_name(reader, rr.owner)) return fail("a malformed record owner name");
      rr.type = reader.u16();
      rr.rclass = reader.u16();
      rr.ttl = reader.u32();
      rr.rdata_length = reader.u16();
      rr.rdata_offset = reader.offset();
      reader.skip(rr.rdata_length);
      if (!reader.ok()) return fail("a record cut short (the counts promise more than the message holds)");
      out.records_.push_back(std::move(rr));
    }
  }
  return out;
}

Result<std::vector<std::string>> Response::txt_strings(const ResourceRecord& rr) const {
  WireReader reader(rdata(rr));
  std::vector<std::string> strings;
  while (reader.remaining() > 0) {
    const uint8_t length = reader.u8();
    const std::span<const std::byte> text = reader.bytes(length);
    if (!reader.ok()) return fail("a TXT string runs past its record");
    strings.emplace_back(reinterpret_cast<const char*>(text.data()), text.size());
  }
  return strings;
}

Result<DnsName> Response::rdata_name(const ResourceRecord& rr) const {
  // Over the whole packet, so pointers into earlier names resolve; it must end where the RDATA does.
  WireReader reader(packet_, rr.rdata_offset);
  DnsName name;
  if (!read_name(reader, name)) return fail("a malformed name in a record");
  if (reader.offset() != rr.rdata_offset + rr.rdata_length) return fail("a name that does not fill its record");
  return name;
}

}  // namespace dnsleak::dns
