#include "dns/name.h"

#include <cstring>

namespace dnsleak::dns {

bool DnsName::append_label(std::span<const uint8_t> label) noexcept {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  if (length_ + 1 + label.size() > kMaxNameLength) return false;
  const size_t at = length_ - 1;  // the root octet is overwritten and written again after
  label_offsets_[label_count_++] = static_cast<uint8_t>(at);
  wire_[at] = static_cast<uint8_t>(label.size());
  std::memcpy(wire_.data() + at + 1, label.data(), label.size());
  length_ = static_cast<uint8_t>(at + 1 + label.size() + 1);
  wire_[length_ - 1] = 0;
  return true;
}

bool DnsName::from_text(std::string_view text) noexcept {
  clear();
  if (text == ".") return true;
  if (!text.empty() && text.back() == '.') {
    // The final dot ends the name unless it is escaped: preceded by an odd run of backslashes.
    size_t backslashes = 0;
    while (backslashes + 1 < text.size() && text[text.size() - 2 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) text.remove_suffix(1);
  }
  if (text.empty()) return false;
  std::array<uint8_t, kMaxLabelLength + 1> label{};
  size_t label_length = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      if (!append_label({label.data(), label_length})) return false;
      label_length = 0;
      continue;
    }
    uint8_t c = static_cast<uint8_t>(text[i]);
    if (c == '\\') {
      if (i + 1 >= text.size()) return false;
      if (i + 3 < text.size() + 0 && text[i + 1] >= '0' && text[i + 1] <= '9') {
        int value = 0;
        for (size_t k = 1; k <= 3; ++k) {
          const char d = text[i + k];
          if (d < '0' || d > '9') return false;
          value = value * 10 + (d - '0');
        }
        if (value > 255) return false;
        c = static_cast<uint8_t>(value);
        i += 3;
      } else {
        c = static_cast<uint8_t>(text[++i]);
      }
    }
    if (label_length == kMaxLabelLength) return false;
    label[label_length++] = c;
  }
  return true;
}

bool DnsName::ends_with(const DnsName& suffix) const noexcept {
  if (suffix.label_count_ > label_count_) return false;
  const size_t start = label_offset(label_count_ - suffix.label_count_);
  if (length_ - start != suffix.length_) return false;
  for (size_t i = 0; i < suffix.length_; ++i) {
    if (ascii_lower(wire_[start + i]) != ascii_lower(suffix.wire_[i])) return false;
  }
  return true;
}

bool DnsName::is_host_name() const noexcept {
  if (label_count_ == 0) return false;
  for (size_t i = 0; i < label_count_; ++i) {
    const std::span<const uint8_t> l = label(i);
    if (l.front() == '-' || l.back() == '-') return false;
    for (const uint8_t c : l) {
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!letter && !(c >= '0' && c <= '9') && c != '-') return false;
    }
  }
  return true;
}

DnsName DnsName::lowercased() const noexcept {
  DnsName copy = *this;
  for (size_t i = 0; i < length_; ++i) copy.wire_[i] = ascii_lower(wire_[i]);
  return copy;
}

size_t DnsName::to_text(std::span<char> out) const noexcept {
  size_t n = 0;
  auto put = [&](char c) {
    if (n < out.size()) out[n++] = c;
  };
  if (label_count_ == 0) {
    put('.');
    return n;
  }
  for (size_t l = 0; l < label_count_; ++l) {
    if (l > 0) put('.');
    for (const uint8_t c : label(l)) {
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' || c == '$') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        put('\\');
        put(static_cast<char>('0' + c / 100));
        put(static_cast<char>('0' + c / 10 % 10));
        put(static_cast<char>('0' + c % 10));
      } else {
        put(static_cast<char>(c));
      }
    }
  }
  return n;
}

std::string DnsName::to_text() const {
  std::array<char, kMaxTextLength> buffer;
  return std::string(buffer.data(), to_text(buffer));
}

void DnsName::reindex() noexcept {
  label_count_ = 0;
  size_t at = 0;
  while (wire_[at] != 0) {
    label_offsets_[label_count_++] = static_cast<uint8_t>(at);
    at += 1 + wire_[at];
  }
}

bool read_name(WireReader& reader, DnsName& out) noexcept {
  size_t length = 0;
  size_t resume = 0;  // where the reader continues after the first pointer, 0 until one is seen
  bool jumped = false;
  // Every pointer must go strictly below the lowest position followed so far, so the walk ends.
  size_t lowest = reader.offset();
  while (true) {
    const size_t here = reader.offset();
    const uint8_t len = reader.u8();
    if (!reader.ok()) return false;
    if ((len & 0xC0) == 0xC0) {
      const uint8_t low = reader.u8();
      if (!reader.ok()) return false;
      const size_t target = (static_cast<size_t>(len & 0x3F) << 8) | low;
      if (target >= lowest) {
        reader.fail();
        return false;
      }
      if (!jumped) {
        resume = reader.offset();
        jumped = true;
      }
      lowest = target;
      reader.seek(target);
      (void)here;
      continue;
    }
    if ((len & 0xC0) != 0) {  // 01 (extended label, RFC 6891 obsoleted) and 10 are not names
      reader.fail();
      return false;
    }
    if (len == 0) {
      if (length + 1 > kMaxNameLength) {
        reader.fail();
        return false;
      }
      out.wire_[length++] = 0;
      break;
    }
    // The label, its length octet and the root that must still follow have to fit.
    if (length + 1 + len + 1 > kMaxNameLength) {
      reader.fail();
      return false;
    }
    const auto data = reader.bytes(len);
    if (!reader.ok()) return false;
    out.wire_[length] = len;
    std::memcpy(out.wire_.data() + length + 1, data.data(), len);
    length += 1 + len;
  }
  out.length_ = static_cast<uint8_t>(length);
  out.reindex();
  if (jumped) reader.seek(resume);
  return true;
}

}  // namespace dnsleak::dns
