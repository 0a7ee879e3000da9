#include "net/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace dnsleak::net {

size_t IpAddress::to_text(std::span<char> out) const noexcept {
  if (out.size() < INET6_ADDRSTRLEN) return 0;
  if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, bytes.data(), out.data(), static_cast<socklen_t>(out.size())) ==
      nullptr) {
    return 0;
  }
  size_t n = 0;
  while (out[n] != '\0') ++n;
  return n;
}

std::string IpAddress::to_string() const {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  return std::string(buffer.data(), to_text(buffer));
}

Result<IpAddress> parse_ip(std::string_view text) {
  std::array<char, 64> buffer{};
  if (text.size() < buffer.size()) {
    std::copy(text.begin(), text.end(), buffer.begin());
    IpAddress out;
    if (inet_pton(AF_INET, buffer.data(), out.bytes.data()) == 1) return out;
    if (inet_pton(AF_INET6, buffer.data(), out.bytes.data()) == 1) {
      out.family = 6;
      return out;
    }
  }
  return fail(concat({"'", text, "' is not an IP address"}));
}

IpAddress prefix_of(const IpAddress& address, unsigned length) noexcept {
  IpAddress out = address;
  length = std::min(length, address.bits());
  for (unsigned i = 0; i < out.bytes.size(); ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= length) {
      out.bytes[i] = 0;
    } else if (length - first_bit < 8) {
      out.bytes[i] &= static_cast<uint8_t>(0xFF00u >> (length - first_bit));
    }
  }
  return out;
}

bool Prefix::contains(const IpAddress& other) const noexcept {
  return other.family == address.family && prefix_of(other, length) == address;
}

std::string Prefix::to_string() const { return concat({address.to_string(), "/", std::to_string(length)}); }

Result<Prefix> parse_prefix(std::string_view text, HostBits host_bits) {
  const size_t slash = text.find('/');
  auto address = parse_ip(text.substr(0, slash));
  if (!address) return fail(std::move(address.error()));
  Prefix out{*address, static_cast<uint8_t>(address->bits())};
  if (slash != std::string_view::npos) {
    const std::string_view length_text = text.substr(slash + 1);
    unsigned length = 0;
    const auto [end, error] = std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (length_text.empty() || error != std::errc{} || end != length_text.data() + length_text.size() ||
        length > address->bits()) {
      return fail(concat({"'", text, "': the prefix length must be 0 to ", std::to_string(address->bits())}));
    }
    out.length = static_cast<uint8_t>(length);
  }
  if (host_bits == HostBits::clear) out.address = prefix_of(out.address, out.length);
  if (prefix_of(out.address, out.length) != out.address) {
    return fail(concat({"'", text, "' has bits set past its prefix length (did you mean ",
                        Prefix{prefix_of(out.address, out.length), out.length}.to_string(), "?)"}));
  }
  return out;
}

}  // namespace dnsleak::net
