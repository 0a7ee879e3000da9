// DNS seen on the wire: a frame as libpcap hands it over, decoded down to the DNS question with
// our own bounded readers (IPv4/IPv6, UDP/TCP, dns::read_name), and live capture on interfaces.
//
// decode_frame is pure and fuzzed (tests/fuzz/fuzz_capture.cpp): any octets give a packet, "no
// DNS here", or an Error saying what is malformed, never a read outside the frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/error.h"
#include "net/ip_address.h"
#include "net/socket_address.h"

namespace dnsleak::host {

enum class DnsKind : uint8_t { dns, dot, mdns, llmnr };
[[nodiscard]] const char* to_string(DnsKind) noexcept;

struct CapturedDns {
  DnsKind kind = DnsKind::dns;
  net::Transport transport = net::Transport::udp;
  net::IpAddress source, destination;
  uint16_t source_port = 0, destination_port = 0;
  bool response = false;  // sent from the DNS port, not to it
  // A DNS message's first question was read (never for DoT, whose payload is encrypted).
  bool decoded = false;
  std::string name;  // the question's name in presentation form (escaped), without the final dot
  uint16_t qtype = 0;
  uint16_t id = 0;
};

// libpcap's link types (DLT_*) that are decoded: Ethernet (with up to two VLAN tags), raw IP
// (tun), Linux cooked v1 and v2 (the "any" device), BSD loopback.
[[nodiscard]] bool link_type_supported(int dlt) noexcept;

// nullopt: a frame without DNS in it (a bare TCP acknowledgement, a TCP length prefix alone, a
// later fragment, a port that is not ours). DoT is reported once per connection, on its SYN.
[[nodiscard]] Result<std::optional<CapturedDns>> decode_frame(int dlt, std::span<const std::byte> frame);

// Captures what leaves (PCAP_D_OUT) on the given interfaces: UDP and TCP 53, DoT 853, mDNS 5353
// and LLMNR 5355. Needs CAP_NET_RAW; without it open() fails with EPERM and says so.
class LiveCapture {
 public:
  using Handler = std::function<void(const std::string& interface, const CapturedDns&)>;
  virtual ~LiveCapture() = default;
  [[nodiscard]] static Result<std::unique_ptr<LiveCapture>> open(const std::vector<std::string>& interfaces);
  // Waits up to timeout_ms for packets and hands each decoded one over.
  [[nodiscard]] virtual Result<void> poll(int timeout_ms, const Handler& on_packet) = 0;
  [[nodiscard]] virtual uint64_t undecodable() const noexcept = 0;  // frames that were malformed
  [[nodiscard]] virtual uint64_t dropped() const noexcept = 0;      // lost by the kernel (pcap_stats)
  [[nodiscard]] virtual const std::vector<std::string>& interfaces() const noexcept = 0;
};

// A saved capture (pcap or pcapng, as tcpdump -w writes it): every frame decoded in order; no
// privilege needed. Frames cut short by the snap length or malformed are counted, not fatal.
struct CaptureFileStats {
  uint64_t frames = 0;
  uint64_t dns = 0;
  uint64_t undecodable = 0;
};
[[nodiscard]] Result<CaptureFileStats> read_capture_file(const std::string& path,
                                                         const std::function<void(const CapturedDns&)>& on_packet);

// The capture filter, for pcap_compile and for the README.
inline constexpr const char* kCaptureFilter = "port 53 or tcp port 853 or udp port 5353 or port 5355";

}  // namespace dnsleak::host
