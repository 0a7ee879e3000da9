// A DNS response as the client reads it (an echo name's TXT, a resolver's PTR): validated once by
// parse_response (header, question, every record of every section located, every owner name read
// through the one bounded name reader), then read without further checks. Replaces libresolv's
// ns_initparse/ns_parserr/dn_expand, and is fuzzed (tests/fuzz/fuzz_response.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "net/error.h"

namespace dnsleak::dns {

enum class Section : uint8_t { answer, authority, additional };

struct ResourceRecord {
  Section section = Section::answer;
  DnsName owner;
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  size_t rdata_offset = 0;  // into the packet
  uint16_t rdata_length = 0;
};

class Response {
 public:
  [[nodiscard]] const Header& header() const noexcept { return header_; }
  [[nodiscard]] uint8_t rcode() const noexcept { return static_cast<uint8_t>(header_.flags & 0x000F); }
  // The first question (responses carry at most one in practice); empty name when none.
  [[nodiscard]] const DnsName& qname() const noexcept { return qname_; }
  [[nodiscard]] uint16_t qtype() const noexcept { return qtype_; }
  [[nodiscard]] const std::vector<ResourceRecord>& records() const noexcept { return records_; }

  [[nodiscard]] std::span<const std::byte> rdata(const ResourceRecord& rr) const noexcept {
    return packet_.subspan(rr.rdata_offset, rr.rdata_length);
  }
  // The <character-string>s of a TXT record (RFC 1035 3.3.14); fails if one runs past the RDATA.
  [[nodiscard]] Result<std::vector<std::string>> txt_strings(const ResourceRecord& rr) const;
  // The name a PTR, CNAME or NS record holds, compression pointers followed within the packet;
  // fails if it is not one well-formed name filling the RDATA.
  [[nodiscard]] Result<DnsName> rdata_name(const ResourceRecord& rr) const;

 private:
  friend Result<Response> parse_response(std::span<const std::byte> packet);

  std::span<const std::byte> packet_;  // the caller's buffer: must outlive the Response
  Header header_;
  DnsName qname_;
  uint16_t qtype_ = 0;
  std::vector<ResourceRecord> records_;
};

// Checks the whole message: QR set, the counts matching the records present, every name and RDATA
// inside the packet. Trailing octets after the last record are ignored (some middleboxes pad).
[[nodiscard]] Result<Response> parse_response(std::span<const std::byte> packet);

}  // namespace dnsleak::dns
