#include "host/capture.h"

#include <pcap/pcap.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "dns/name.h"
#include "dns/wire_reader.h"

namespace dnsleak::host {
namespace {

constexpr int kDltLinuxSll2 = 276;  // DLT_LINUX_SLL2, not in every libpcap header

std::optional<DnsKind> kind_of_port(uint16_t port, net::Transport transport) {
  switch (port) {
    case 53: return DnsKind::dns;
    case 853: return transport == net::Transport::tcp ? std::optional(DnsKind::dot) : std::nullopt;
    case 5353: return transport == net::Transport::udp ? std::optional(DnsKind::mdns) : std::nullopt;
    case 5355: return DnsKind::llmnr;
    default: return std::nullopt;
  }
}

// The first question of a DNS message, with our bounded name reader.
Result<void> read_question(std::span<const std::byte> message, CapturedDns& out) {
  dns::WireReader r(message);
  out.id = r.u16();
  const uint16_t flags = r.u16();
  const uint16_t qdcount = r.u16();
  r.skip(6);
  if (!r.ok()) return fail("DNS message shorter than its header");
  out.response = (flags & 0x8000) != 0;
  if (qdcount == 0) return fail("DNS message without a question");
  dns::DnsName name;
  if (!dns::read_name(r, name)) return fail("DNS question name is malformed");
  out.qtype = r.u16();
  if (!r.ok()) return fail("DNS question is truncated");
  out.name = name.to_text();  // presentation form, escapes included, no final dot
  out.decoded = true;
  return {};
}

// The transport header and its DNS payload.
Result<std::optional<CapturedDns>> decode_transport(uint8_t protocol, const net::IpAddress& source,
                                                    const net::IpAddress& destination,
                                                    std::span<const std::byte> segment) {
  dns::WireReader r(segment);
  CapturedDns out;
  out.source = source;
  out.destination = destination;
  out.source_port = r.u16();
  out.destination_port = r.u16();
  std::span<const std::byte> payload;
  bool syn_only = false;
  if (protocol == 17) {
    out.transport = net::Transport::udp;
    const uint16_t length = r.u16();
    r.skip(2);
    if (!r.ok()) return fail("truncated UDP header");
    // The UDP length bounds the payload (Ethernet pads short frames).
    if (length < 8) return fail("UDP length shorter than its header");
    payload = segment.subspan(8, std::min<size_t>(length - 8U, segment.size() - 8));
  } else {
    out.transport = net::Transport::tcp;
    r.skip(8);  // sequence and acknowledgement numbers
    const uint8_t offset = r.u8();
    const uint8_t flags = r.u8();
    if (!r.ok()) return fail("truncated TCP header");
    const size_t header = static_cast<size_t>(offset >> 4U) * 4;
    if (header < 20 || header > segment.size()) return fail("TCP header length out of bounds");
    payload = segment.subspan(header);
    syn_only = (flags & 0x12U) == 0x02U;
  }
  const bool to_dns = kind_of_port(out.destination_port, out.transport).has_value();
  const std::optional<DnsKind> kind = kind_of_port(to_dns ? out.destination_port : out.source_port, out.transport);
  if (!kind) return std::optional<CapturedDns>();
  out.kind = *kind;
  out.response = !to_dns;
  if (out.kind == DnsKind::dot) return syn_only ? std::optional(out) : std::optional<CapturedDns>();
  if (out.transport == net::Transport::tcp) {
    if (payload.size() <= 2) return std::optional<CapturedDns>();  // no data, or the length prefix alone
    // A connection's first data segment starts with the 2-octet length (RFC 1035 4.2.2); later
    // segments of a long message do not, and fail to decode as what they are: fragments.
    payload = payload.subspan(2);
  }
  const bool sent_as_response = out.response;
  if (Result<void> read = read_question(payload, out); !read) return fail(std::move(read.error()));
  out.response = out.response || sent_as_response;
  return std::optional(out);
}

Result<std::optional<CapturedDns>> decode_ip(std::span<const std::byte> packet) {
  if (packet.empty()) return fail("empty IP packet");
  const unsigned version = static_cast<unsigned>(packet[0]) >> 4U;
  dns::WireReader r(packet);
  net::IpAddress source, destination;
  if (version == 4) {
    const size_t header = (static_cast<size_t>(packet[0]) & 0x0FU) * 4;
    r.skip(2);
    const uint16_t total = r.u16();
    r.skip(2);
    const uint16_t fragment = r.u16();
    r.skip(1);
    const uint8_t protocol = r.u8();
    r.skip(2);
    const auto src = r.bytes(4);
    const auto dst = r.bytes(4);
    if (!r.ok()) return fail("truncated IPv4 header");
    if (header < 20 || header > packet.size() || total < header) return fail("IPv4 header length out of bounds");
    if ((fragment & 0x1FFFU) != 0) return std::optional<CapturedDns>();  // a later fragment: no header
    if (protocol != 6 && protocol != 17) return std::optional<CapturedDns>();
    source.family = destination.family = 4;
    std::memcpy(source.bytes.data(), src.data(), 4);
    std::memcpy(destination.bytes.data(), dst.data(), 4);
    const size_t end = std::min<size_t>(total, packet.size());
    return decode_transport(protocol, source, destination, packet.subspan(header, end - header));
  }
  if (version == 6) {
    r.skip(4);
    const uint16_t payload_length = r.u16();
    uint8_t next = r.u8();
    r.skip(1);
    const auto src = r.bytes(16);
    const auto dst = r.bytes(16);
    if (!r.ok()) return fail("truncated IPv6 header");
    source.family = destination.family = 6;
    std::memcpy(source.bytes.data(), src.data(), 16);
    std::memcpy(destination.bytes.data(), dst.data(), 16);
    size_t at = 40;
    const size_t end = std::min<size_t>(40U + payload_length, packet.size());
    // Extension headers: hop-by-hop, routing, fragment, destination options (at most 8 of them).
    for (int hops = 0; hops < 8 && (next == 0 || next == 43 || next == 44 || next == 60); ++hops) {
      dns::WireReader ext(packet.first(end), at);
      const uint8_t following = ext.u8();
      const uint8_t length = ext.u8();
      const uint16_t fragment = ext.u16();
      if (!ext.ok()) return fail("truncated IPv6 extension header");
      if (next == 44) {
        if ((fragment & 0xFFF8U) != 0) return std::optional<CapturedDns>();  // a later fragment
        at += 8;
      } else {
        at += (static_cast<size_t>(length) + 1) * 8;
      }
      next = following;
      if (at > end) return fail("IPv6 extension header runs past the packet");
    }
    if (next != 6 && next != 17) return std::optional<CapturedDns>();
    return decode_transport(next, source, destination, packet.subspan(at, end - at));
  }
  return fail("not an IPv4 or IPv6 packet (version " + std::to_string(version) + ")");
}

// The network-layer packet and its EtherType-style protocol, from the link layer's framing.
Result<std::optional<CapturedDns>> decode_link(int dlt, std::span<const std::byte> frame) {
  dns::WireReader r(frame);
  uint16_t protocol = 0;
  switch (dlt) {
    case DLT_EN10MB: {
      r.skip(12);
      protocol = r.u16();
      for (int tags = 0; tags < 2 && (protocol == 0x8100 || protocol == 0x88A8); ++tags) {
        r.skip(2);
        protocol = r.u16();
      }
      break;
    }
    case DLT_LINUX_SLL:
      r.skip(14);
      protocol = r.u16();
      break;
    case kDltLinuxSll2:
      protocol = r.u16();
      r.skip(18);
      break;
    case DLT_NULL: {
      const auto family = r.bytes(4);  // host byte order AF_ value
      if (!r.ok()) break;
      uint32_t af = 0;
      std::memcpy(&af, family.data(), 4);
      protocol = af == 2 ? 0x0800 : 0x86DD;
      break;
    }
    case DLT_RAW:
    case 101:  // LINKTYPE_RAW as some files carry it
    case 228:  // DLT_IPV4
    case 229:  // DLT_IPV6
      return decode_ip(frame);
    default: return fail("link type " + std::to_string(dlt) + " is not decoded");
  }
  if (!r.ok()) return fail("truncated link-layer header");
  if (protocol != 0x0800 && protocol != 0x86DD) return std::optional<CapturedDns>();
  return decode_ip(frame.subspan(r.offset()));
}

}  // namespace

const char* to_string(DnsKind k) noexcept {
  switch (k) {
    case DnsKind::dns: return "dns";
    case DnsKind::dot: return "dot";
    case DnsKind::mdns: return "mdns";
    case DnsKind::llmnr: return "llmnr";
  }
  return "dns";
}

bool link_type_supported(int dlt) noexcept {
  return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == kDltLinuxSll2 || dlt == DLT_NULL || dlt == DLT_RAW ||
         dlt == 101 || dlt == 228 || dlt == 229;
}

Result<std::optional<CapturedDns>> decode_frame(int dlt, std::span<const std::byte> frame) {
  return decode_link(dlt, frame);
}

namespace {

struct PcapCloser {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

class PcapCapture final : public LiveCapture {
 public:
  struct Source {
    std::string interface;
    PcapHandle handle;
    int dlt = 0;
    int fd = -1;
  };
  explicit PcapCapture(std::vector<Source> sources) : sources_(std::move(sources)) {
    for (const Source& s : sources_) names_.push_back(s.interface);
  }

  Result<void> poll(int timeout_ms, const Handler& on_packet) override {
    std::vector<pollfd> fds;
    fds.reserve(sources_.size());
    for (const Source& s : sources_) fds.push_back({s.fd, POLLIN, 0});
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) return {};
      return fail(system_error("poll on the capture"));
    }
    for (size_t i = 0; i < sources_.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLERR)) == 0) continue;
      Source& s = sources_[i];
      // At most 256 packets per interface and wake-up, so one busy link cannot starve the others.
      for (int n = 0; n < 256; ++n) {
        pcap_pkthdr* header = nullptr;
        const u_char* data = nullptr;
        const int got = pcap_next_ex(s.handle.get(), &header, &data);
        if (got == 0) break;
        if (got < 0) {
          return fail(concat({"capture on ", s.interface, " failed: ", pcap_geterr(s.handle.get())}));
        }
        const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), header->caplen);
        Result<std::optional<CapturedDns>> packet = decode_frame(s.dlt, frame);
        if (!packet) {
          ++undecodable_;
          continue;
        }
        if (const std::optional<CapturedDns>& dns = *packet; dns.has_value()) on_packet(s.interface, *dns);
      }
    }
    return {};
  }

  uint64_t undecodable() const noexcept override { return undecodable_; }
  uint64_t dropped() const noexcept override {
    uint64_t total = 0;
    for (const Source& s : sources_) {
      pcap_stat stat{};
      if (pcap_stats(s.handle.get(), &stat) == 0) total += stat.ps_drop;
    }
    return total;
  }
  const std::vector<std::string>& interfaces() const noexcept override { return names_; }

 private:
  std::vector<Source> sources_;
  std::vector<std::string> names_;
  uint64_t undecodable_ = 0;
};

}  // namespace

Result<CaptureFileStats> read_capture_file(const std::string& path,
                                           const std::function<void(const CapturedDns&)>& on_packet) {
  std::array<char, PCAP_ERRBUF_SIZE> error{};
  PcapHandle handle(pcap_open_offline(path.c_str(), error.data()));
  if (!handle) return fail(concat({"cannot read the capture ", path, ": ", error.data()}));
  const int dlt = pcap_datalink(handle.get());
  if (!link_type_supported(dlt)) {
    return fail(concat({"cannot read the capture ", path, ": its link type ", std::to_string(dlt), " is not decoded"}));
  }
  CaptureFileStats stats;
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int got = pcap_next_ex(handle.get(), &header, &data);
    if (got == PCAP_ERROR_BREAK) break;  // the end of the file
    if (got < 0) return fail(concat({"the capture ", path, " is damaged: ", pcap_geterr(handle.get())}));
    ++stats.frames;
    const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), header->caplen);
    Result<std::optional<CapturedDns>> packet = decode_frame(dlt, frame);
    if (!packet) {
      ++stats.undecodable;
      continue;
    }
    if (const std::optional<CapturedDns>& dns = *packet; dns.has_value()) {
      ++stats.dns;
      on_packet(*dns);
    }
  }
  return stats;
}

Result<std::unique_ptr<LiveCapture>> LiveCapture::open(const std::vector<std::string>& interfaces) {
  if (interfaces.empty()) return fail("no interface to capture on");
  std::vector<PcapCapture::Source> sources;
  for (const std::string& name : interfaces) {
    std::array<char, PCAP_ERRBUF_SIZE> error{};
    PcapHandle handle(pcap_create(name.c_str(), error.data()));
    if (!handle) return fail(concat({"cannot capture on ", name, ": ", error.data()}));
    (void)pcap_set_snaplen(handle.get(), 65535);  // these setters fail only on an activated handle
    (void)pcap_set_immediate_mode(handle.get(), 1);
    (void)pcap_set_timeout(handle.get(), 100);
    const int activated = pcap_activate(handle.get());
    if (activated == PCAP_ERROR_PERM_DENIED) {
      Error e{concat({"capturing on ", name, " needs CAP_NET_RAW (run as root, or grant the capability)"}), EPERM};
      return fail(std::move(e));
    }
    if (activated == PCAP_ERROR_NO_SUCH_DEVICE) {
      Error e{concat({"cannot capture on ", name, ": no such interface"}), ENODEV};
      return fail(std::move(e));
    }
    if (activated < 0) return fail(concat({"cannot capture on ", name, ": ", pcap_geterr(handle.get())}));
    const int dlt = pcap_datalink(handle.get());
    if (!link_type_supported(dlt)) {
      return fail(concat({"cannot capture on ", name, ": its link type ", std::to_string(dlt), " is not decoded"}));
    }
    bpf_program program{};
    if (pcap_compile(handle.get(), &program, kCaptureFilter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return fail(concat({"cannot compile the capture filter: ", pcap_geterr(handle.get())}));
    }
    const int filtered = pcap_setfilter(handle.get(), &program);
    pcap_freecode(&program);
    if (filtered != 0) return fail(concat({"cannot filter the capture on ", name, ": ", pcap_geterr(handle.get())}));
    if (pcap_setdirection(handle.get(), PCAP_D_OUT) != 0) {
      return fail(concat({"cannot capture only outgoing packets on ", name, ": ", pcap_geterr(handle.get())}));
    }
    if (pcap_setnonblock(handle.get(), 1, error.data()) != 0) {
      return fail(concat({"cannot capture on ", name, " without blocking: ", error.data()}));
    }
    const int fd = pcap_get_selectable_fd(handle.get());
    if (fd < 0) return fail(concat({"cannot wait for packets on ", name}));
    sources.push_back({name, std::move(handle), dlt, fd});
  }
  return std::make_unique<PcapCapture>(std::move(sources));
}

}  // namespace dnsleak::host
