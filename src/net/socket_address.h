// Socket addresses, given as text ("192.0.2.1:53", "[2001:db8::1]:53") or as the kernel fills
// them in, and the transport a query came over.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::net {

enum class Transport : uint8_t { udp, tcp };
[[nodiscard]] const char* to_string(Transport) noexcept;

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
  [[nodiscard]] uint16_t port() const noexcept;
  // 0.0.0.0 or ::, where replies must name their source address (IP_PKTINFO).
  [[nodiscard]] bool is_wildcard() const noexcept;
  void set_port(uint16_t port) noexcept;
  [[nodiscard]] std::string to_string() const;  // "[::1]:53" / "127.0.0.1:53"
  [[nodiscard]] IpAddress ip() const noexcept;
};

// Parses ADDR:PORT (IPv6 in brackets). Port 0 asks the kernel for a free one.
[[nodiscard]] Result<SocketAddress> parse_socket_address(std::string_view text);
// The address a socket is bound to (getsockname).
[[nodiscard]] Result<SocketAddress> local_address(int fd);

// The peer recvmsg/accept filled in, as observations record it: IPv4-mapped IPv6 addresses come
// back as IPv4. Runs for every packet, so it writes the two fields and nothing else.
struct Peer {
  IpAddress ip;
  uint16_t port = 0;
};
[[nodiscard]] Peer peer_of(const sockaddr_storage& address, socklen_t length) noexcept;

}  // namespace dnsleak::net
