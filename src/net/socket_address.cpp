#include "net/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace dnsleak::net {

const char* to_string(Transport t) noexcept { return t == Transport::tcp ? "tcp" : "udp"; }

uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(storage).sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6&>(storage).sin6_port);
}

void SocketAddress::set_port(uint16_t port) noexcept {
  if (family() == AF_INET)
    reinterpret_cast<sockaddr_in&>(storage).sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6&>(storage).sin6_port = htons(port);
}

bool SocketAddress::is_wildcard() const noexcept {
  const IpAddress address = ip();
  const size_t length = address.family == 4 ? 4 : 16;
  for (size_t i = 0; i < length; ++i) {
    if (address.bytes[i] != 0) return false;
  }
  return true;
}

IpAddress SocketAddress::ip() const noexcept {
  IpAddress ip;
  if (family() == AF_INET) {
    ip.family = 4;
    std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in&>(storage).sin_addr, 4);
  } else {
    ip.family = 6;
    std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(storage).sin6_addr, 16);
  }
  return ip;
}

std::string SocketAddress::to_string() const {
  const std::string host = ip().to_string();
  return (family() == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port());
}

Result<SocketAddress> parse_socket_address(std::string_view text) {
  const auto bad = [text] {
    return fail(concat({"'", text, "' is not ADDRESS:PORT (IPv6 in brackets: [2001:db8::1]:53)"}));
  };
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad();
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return bad();
  }
  SocketAddress out;
  auto& v4 = reinterpret_cast<sockaddr_in&>(out.storage);
  auto& v6 = reinterpret_cast<sockaddr_in6&>(out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    out.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    out.length = sizeof(sockaddr_in6);
  } else {
    return bad();
  }
  out.set_port(static_cast<uint16_t>(port));
  return out;
}

Result<SocketAddress> local_address(int fd) {
  SocketAddress out;
  out.length = sizeof out.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length) != 0) {
    return fail(system_error("getsockname"));
  }
  return out;
}

Peer peer_of(const sockaddr_storage& address, socklen_t length) noexcept {
  Peer peer;
  if (address.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    peer.port = ntohs(v6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      std::memcpy(peer.ip.bytes.data(), v6.sin6_addr.s6_addr + 12, 4);
    } else {
      peer.ip.family = 6;
      std::memcpy(peer.ip.bytes.data(), v6.sin6_addr.s6_addr, 16);
    }
  } else if (address.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    peer.port = ntohs(v4.sin_port);
    std::memcpy(peer.ip.bytes.data(), &v4.sin_addr, 4);
  }
  return peer;
}

}  // namespace dnsleak::net
