#include "auth/dns_service.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

#include "auth/unique_fd.h"

namespace dnsleak::auth {
namespace {

constexpr int kListenBacklog = 128;
constexpr int kUdpReceiveBuffer = 4 << 20;
// A UDP thread blocks in recvmmsg; stop() wakes it with shutdown(), and this timeout is the
// fallback that bounds how long a stop can take should that wake-up be missed.
constexpr timeval kUdpReceiveTimeout{1, 0};

[[noreturn]] void fail(const std::string& what, const SocketAddress& address) {
  throw std::runtime_error(what + " " + address.to_string() + ": " + std::strerror(errno));
}

int open_socket(const SocketAddress& address, int type, bool reuse_port) {
  // UDP sockets block (their thread waits in recvmmsg, sends use MSG_DONTWAIT); TCP ones do not.
  const int fd = ::socket(address.family(), type | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("cannot create a socket for", address);
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    ::close(fd);
    fail("cannot set SO_REUSEPORT on", address);
  }
  if (type == SOCK_DGRAM) {
    // A burst from a busy resolver (or a load test's window) must not overflow the default
    // ~208 KiB receive buffer between two recvmmsg calls. SO_RCVBUFFORCE passes rmem_max when
    // running as root (CAP_NET_ADMIN); otherwise the kernel caps SO_RCVBUF at rmem_max.
    const int size = kUdpReceiveBuffer;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kUdpReceiveTimeout, sizeof kUdpReceiveTimeout);
  }
  if (address.family() == AF_INET6) {
    // Keep the families apart: "[::]:53" serves IPv6 only; IPv4 needs its own listen address.
    (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    // Only a wildcard bind needs the destination of each query to reply from it; a bound address
    // replies from itself, and skips the per-packet control messages (measured: ~5% of a core).
    if (type == SOCK_DGRAM && address.is_wildcard()) {
      (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    }
  } else if (type == SOCK_DGRAM && address.is_wildcard()) {
    (void)::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage s{};
  socklen_t n = sizeof s;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &n);
  return peer_of(s, n).port;
}

}  // namespace

int64_t unix_now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

DnsService::DnsService(DnsServiceOptions options, const Responder& responder,
                       std::vector<store::ObservationSink*> sinks)
    : options_(std::move(options)), responder_(responder), sinks_(std::move(sinks)) {
  if (options_.udp_workers == 0) options_.udp_workers = 1;
  if (options_.udp_batch == 0) options_.udp_batch = 1;
  auto close_all = [&] {
    for (const UdpSocket& s : udp_sockets_) ::close(s.fd);
    udp_sockets_.clear();
    for (int fd : tcp_listeners_) ::close(fd);
    tcp_listeners_.clear();
    if (stop_event_ >= 0) ::close(stop_event_);
    stop_event_ = -1;
  };
  try {
    for (SocketAddress address : options_.listen) {
      // UDP and TCP must share the port. For port 0, take the kernel's UDP choice and retry when
      // TCP finds that port taken.
      UniqueFd udp, tcp;
      for (int attempt = 0; attempt < 20 && !tcp; ++attempt) {
        SocketAddress try_address = address;
        udp.reset(open_socket(try_address, SOCK_DGRAM, true));
        if (!udp) fail("cannot bind UDP", try_address);
        try_address.set_port(bound_port(udp.get()));
        tcp.reset(open_socket(try_address, SOCK_STREAM, false));
        if (!tcp && address.port() != 0) fail("cannot bind TCP", try_address);
        if (tcp) address = try_address;
      }
      if (!tcp) fail("cannot find a port free for UDP and TCP on", address);
      if (::listen(tcp.get(), kListenBacklog) != 0) fail("cannot listen on TCP", address);
      udp_sockets_.push_back({udp.release(), address.is_wildcard()});
      tcp_listeners_.push_back(tcp.release());
      for (unsigned w = 1; w < options_.udp_workers; ++w) {
        const int fd = open_socket(address, SOCK_DGRAM, true);
        if (fd < 0) fail("cannot bind UDP", address);
        udp_sockets_.push_back({fd, address.is_wildcard()});
      }
      bound_.push_back(address);
    }
    stop_event_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (stop_event_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  } catch (...) {
    close_all();
    throw;
  }
  counters_ = std::make_unique<CounterSet[]>(udp_sockets_.size() + 1);
}

DnsService::~DnsService() {
  stop();
  for (const UdpSocket& s : udp_sockets_) ::close(s.fd);
  for (int fd : tcp_listeners_) ::close(fd);
  if (stop_event_ >= 0) ::close(stop_event_);
}

void DnsService::start() {
  for (size_t i = 0; i < udp_sockets_.size(); ++i) threads_.emplace_back([this, i] { run_udp_socket(i); });
  threads_.emplace_back([this] { run_tcp_server(); });
}

void DnsService::stop() noexcept {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  if (stop_event_ >= 0) (void)!::write(stop_event_, &one, sizeof one);
  // Wakes a thread blocked in recvmmsg (which then returns at once and sees stopped_). On an
  // unconnected UDP socket the call reports ENOTCONN but still shuts the receive side.
  for (const UdpSocket& s : udp_sockets_) (void)::shutdown(s.fd, SHUT_RD);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

CounterTotals DnsService::counters() const noexcept { return sum({counters_.get(), udp_sockets_.size() + 1}); }

void DnsService::record(std::span<const store::ResolverObservation> batch, CounterSet& counters) noexcept {
  if (batch.empty()) return;
  for (store::ObservationSink* sink : sinks_) sink->record(batch);
  counters.add(Event::observations, batch.size());
}

void DnsService::run_udp_socket(size_t index) noexcept {
  CounterSet& counters = counters_[index];
  const UdpSocket socket = udp_sockets_[index];
  const size_t batch = options_.udp_batch;
  // Queries are small (larger ones are cut and fail to parse); each answer is written over its own
  // query (the responder has parsed all of it first), the responder limiting UDP answers further.
  constexpr size_t kBufferSize = 4096;
  // Buffers a cache line further apart than their size: at a 4 KiB stride every buffer's first
  // line falls in the same L1 cache set, and a batch's 64 of them evict each other.
  constexpr size_t kBufferStride = kBufferSize + 64;
  constexpr size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo));

  // Every buffer is allocated once here; the loop below allocates nothing.
  std::vector<std::byte> buffers(batch * kBufferStride);
  std::vector<sockaddr_storage> peers(batch);
  std::vector<std::array<std::byte, kControlSize>> receive_control(batch);
  std::vector<std::array<std::byte, kControlSize>> send_control(batch);
  std::vector<iovec> receive_iov(batch), send_iov(batch);
  std::vector<mmsghdr> receive(batch), send(batch);
  std::vector<store::ResolverObservation> observations(batch);
  for (size_t i = 0; i < batch; ++i) receive_iov[i] = {buffers.data() + i * kBufferStride, kBufferSize};
  size_t to_reset = batch;  // receive headers the kernel wrote into since they were last set

  while (!stopped_.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < to_reset; ++i) {
      msghdr& h = receive[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &peers[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &receive_iov[i];
      h.msg_iovlen = 1;
      if (socket.wants_pktinfo) {
        h.msg_control = receive_control[i].data();
        h.msg_controllen = kControlSize;
      }
    }
    // Blocks for the first datagram, then takes what else is queued, up to a batch.
    const int got = ::recvmmsg(socket.fd, receive.data(), static_cast<unsigned>(batch), MSG_WAITFORONE, nullptr);
    if (got <= 0) {
      to_reset = 0;
      if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        counters.add(Event::udp_receive_errors);
      }
      continue;
    }
    to_reset = static_cast<size_t>(got);
    if (stopped_.load(std::memory_order_relaxed)) break;
    counters.add(Event::udp_queries, static_cast<uint64_t>(got));
    QueryContext context;
    context.transport = store::Transport::udp;
    context.now_ms = unix_now_ms();
    size_t to_send = 0, observed = 0;
    for (int i = 0; i < got; ++i) {
      const msghdr& in = receive[i].msg_hdr;
      const Peer peer = peer_of(peers[i], in.msg_namelen);
      context.remote = peer.ip;
      context.remote_port = peer.port;
      std::byte* const buffer = buffers.data() + i * kBufferStride;
      const ResponseResult r =
          responder_.respond({buffer, receive[i].msg_len}, context, {buffer, kBufferSize}, observations[observed]);
      counters.add(r.outcome);
      if (r.observed) ++observed;
      if (r.length == 0) continue;
      // Reply from the address the query came to (pktinfo), to the address it came from.
      msghdr& reply = send[to_send].msg_hdr;
      reply = msghdr{};
      send_iov[to_send] = {buffer, r.length};
      reply.msg_name = &peers[i];
      reply.msg_namelen = in.msg_namelen;
      reply.msg_iov = &send_iov[to_send];
      reply.msg_iovlen = 1;
      size_t control_length = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&in), c)) {
        auto* control = send_control[to_send].data();
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo info;
          std::memcpy(&info, CMSG_DATA(c), sizeof info);
          info.ipi_spec_dst = info.ipi_addr;
          info.ipi_ifindex = 0;
          auto* h = reinterpret_cast<cmsghdr*>(control);
          h->cmsg_level = IPPROTO_IP;
          h->cmsg_type = IP_PKTINFO;
          h->cmsg_len = CMSG_LEN(sizeof info);
          std::memcpy(CMSG_DATA(h), &info, sizeof info);
          control_length = CMSG_SPACE(sizeof info);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          auto* h = reinterpret_cast<cmsghdr*>(control);
          h->cmsg_level = IPPROTO_IPV6;
          h->cmsg_type = IPV6_PKTINFO;
          h->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
          std::memcpy(CMSG_DATA(h), CMSG_DATA(c), sizeof(in6_pktinfo));
          control_length = CMSG_SPACE(sizeof(in6_pktinfo));
        }
      }
      if (control_length > 0) {
        reply.msg_control = send_control[to_send].data();
        reply.msg_controllen = control_length;
      }
      ++to_send;
    }
    size_t sent = 0;
    while (sent < to_send) {
      // Never block on a full send buffer: the answer is dropped and counted instead.
      const int s = ::sendmmsg(socket.fd, send.data() + sent, static_cast<unsigned>(to_send - sent), MSG_DONTWAIT);
      if (s <= 0) {
        if (s < 0 && errno == EINTR) continue;
        // Skip the message that failed (unreachable peer, full buffer) and go on.
        counters.add(Event::udp_send_errors);
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(s);
    }
    record({observations.data(), observed}, counters);
  }
}

}  // namespace dnsleak::auth
