// Domain names in wire form (RFC 1035 3.1, 4.1.4).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "dns/wire_reader.h"

namespace dnsleak::dns {

inline constexpr size_t kMaxNameLength = 255;  // octets in wire form, RFC 1035 3.1
inline constexpr size_t kMaxLabelLength = 63;  // RFC 1035 2.3.4
// A 255-octet name holds at most 127 one-octet labels plus the root.
inline constexpr size_t kMaxLabels = 128;

// An uncompressed name in wire form, in the case it was received (resolvers randomise case per
// RFC 0x20 draft; the answer must echo it). Fixed storage: building one never allocates.
class DnsName {
 public:
  DnsName() noexcept { clear(); }
  // Copies only the octets and offsets in use (a name is usually far shorter than 255 octets, and
  // names are copied for every query: into the parsed query and into its observation).
  DnsName(const DnsName& other) noexcept { *this = other; }
  DnsName& operator=(const DnsName& other) noexcept {
    if (this != &other) {
      std::memcpy(wire_.data(), other.wire_.data(), other.length_);
      std::memcpy(label_offsets_.data(), other.label_offsets_.data(), other.label_count_);
      length_ = other.length_;
      label_count_ = other.label_count_;
    }
    return *this;
  }

  // Parses presentation form ("Leak.Example.org", trailing dot optional; "\." and "\DDD" escapes).
  // Returns false for an empty label, a label over 63 octets or a name over 255 octets.
  [[nodiscard]] bool from_text(std::string_view text) noexcept;

  // Appends one label in front of the root. Returns false if it would break a length limit.
  [[nodiscard]] bool append_label(std::span<const uint8_t> label) noexcept;

  void clear() noexcept {
    wire_[0] = 0;
    length_ = 1;
    label_count_ = 0;
  }

  // Wire bytes including the terminating root label.
  [[nodiscard]] std::span<const uint8_t> wire() const noexcept { return {wire_.data(), length_}; }
  [[nodiscard]] size_t length() const noexcept { return length_; }
  // Labels, not counting the root.
  [[nodiscard]] size_t label_count() const noexcept { return label_count_; }
  // Label i (0 = leftmost), without its length octet.
  [[nodiscard]] std::span<const uint8_t> label(size_t i) const noexcept {
    const size_t at = label_offsets_[i];
    return {wire_.data() + at + 1, wire_[at]};
  }
  // Offset in wire() of label i's length octet; label_count() gives the root's offset.
  [[nodiscard]] size_t label_offset(size_t i) const noexcept {
    return i < label_count_ ? label_offsets_[i] : length_ - 1;
  }

  // True if this name equals `suffix` or ends in it, label-aligned, ignoring ASCII case.
  [[nodiscard]] bool ends_with(const DnsName& suffix) const noexcept;
  [[nodiscard]] bool equals(const DnsName& other) const noexcept {
    return length_ == other.length_ && ends_with(other);
  }
  // The same name with ASCII letters lowered.
  [[nodiscard]] DnsName lowercased() const noexcept;
  // Every label is a host name label (RFC 1123 section 2.1): letters, digits and hyphens, neither
  // first nor last a hyphen. The root is not a host name.
  [[nodiscard]] bool is_host_name() const noexcept;

  // Presentation form without the trailing dot ("." for the root); escapes like dig does.
  [[nodiscard]] std::string to_text() const;
  // The same into a caller's buffer (no allocation); returns the length written. A buffer of
  // kMaxTextLength always suffices.
  static constexpr size_t kMaxTextLength = 4 * kMaxNameLength + 1;
  size_t to_text(std::span<char> out) const noexcept;

 private:
  friend bool read_name(WireReader&, DnsName&) noexcept;
  void reindex() noexcept;

  std::array<uint8_t, kMaxNameLength> wire_;
  std::array<uint8_t, kMaxLabels> label_offsets_;
  uint8_t length_;
  uint8_t label_count_;
};

// Reads a possibly compressed name at the reader's offset into `out` and leaves the reader after
// the name's bytes at that place. Compression pointers must point strictly backwards of the label
// that holds them, which rules out loops; the expanded name must fit 255 octets; label types 01 and
// 10 (RFC 6891 obsoleted them) are rejected. On failure the reader is failed.
[[nodiscard]] bool read_name(WireReader& reader, DnsName& out) noexcept;

[[nodiscard]] inline uint8_t ascii_lower(uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c | 0x20) : c;
}

}  // namespace dnsleak::dns
