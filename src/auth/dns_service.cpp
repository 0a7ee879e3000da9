#include "auth/dns_service.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "net/clock.h"
#include "net/random.h"

namespace dnsleak::auth {
namespace {

constexpr int kListenBacklog = 128;
constexpr int kUdpReceiveBuffer = 4 << 20;
// A UDP thread blocks in recvmmsg; stop() wakes it with shutdown(), and this timeout is the
// fallback that bounds how long a stop can take should that wake-up be missed.
constexpr timeval kUdpReceiveTimeout{1, 0};

using net::SocketAddress;
using net::UniqueFd;

[[nodiscard]] Result<void> set_option(int fd, int level, int name, const void* value, socklen_t size, const char* what,
                                      const SocketAddress& address) {
  if (::setsockopt(fd, level, name, value, size) == 0) return {};
  return fail(system_error(std::string("cannot set ") + what + " on " + address.to_string()));
}

Result<UniqueFd> open_socket(const SocketAddress& address, int type, bool reuse_port) {
  const char* kind = type == SOCK_DGRAM ? "UDP" : "TCP";
  // UDP sockets block (their thread waits in recvmmsg, sends use MSG_DONTWAIT); TCP ones do not.
  UniqueFd fd(::socket(address.family(), type | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC, 0));
  if (!fd) return fail(system_error(std::string("cannot create a ") + kind + " socket for " + address.to_string()));
  const int one = 1;
  Result<void> set = set_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one, "SO_REUSEADDR", address);
  if (set && reuse_port)
    set = set_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one, "SO_REUSEPORT", address);
  if (set && type == SOCK_DGRAM) {
    // A burst from a busy resolver (or a load test's window) must not overflow the default
    // ~208 KiB receive buffer between two recvmmsg calls. SO_RCVBUFFORCE passes rmem_max when
    // running as root (CAP_NET_ADMIN); otherwise the kernel caps SO_RCVBUF at rmem_max.
    const int size = kUdpReceiveBuffer;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      set = set_option(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size, "SO_RCVBUF", address);
    }
    if (set) {
      set = set_option(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &kUdpReceiveTimeout, sizeof kUdpReceiveTimeout, "SO_RCVTIMEO",
                       address);
    }
  }
  if (set && address.family() == AF_INET6) {
    // Keep the families apart: "[::]:53" serves IPv6 only; IPv4 needs its own listen address.
    set = set_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one, "IPV6_V6ONLY", address);
    // Only a wildcard bind needs the destination of each query to reply from it; a bound address
    // replies from itself, and skips the per-packet control messages (measured: ~5% of a core).
    if (set && type == SOCK_DGRAM && address.is_wildcard()) {
      set = set_option(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one, "IPV6_RECVPKTINFO", address);
    }
  } else if (set && type == SOCK_DGRAM && address.is_wildcard()) {
    set = set_option(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one, "IP_PKTINFO", address);
  }
  if (!set) return fail(std::move(set.error()));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    return fail(system_error(std::string("cannot bind ") + kind + " " + address.to_string()));
  }
  return fd;
}

[[nodiscard]] Result<void> watch(int epoll, int fd, uint64_t tag, const char* what) {
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = tag;
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &e) == 0) return {};
  return fail(system_error(std::string("cannot watch the ") + what + " (epoll_ctl)"));
}

}  // namespace

DnsService::DnsService(DnsServiceOptions options, const Responder& responder)
    : options_(std::move(options)), responder_(responder) {
  if (options_.udp_workers == 0) options_.udp_workers = 1;
  if (options_.udp_batch == 0) options_.udp_batch = 1;
}

Result<std::unique_ptr<DnsService>> DnsService::create(DnsServiceOptions options, const Responder& responder) {
  std::unique_ptr<DnsService> service(new DnsService(std::move(options), responder));
  if (Result<void> opened = service->open(); !opened) return fail(std::move(opened.error()));
  return service;
}

Result<void> DnsService::open() {
  for (SocketAddress address : options_.listen) {
    // UDP and TCP must share the port. For port 0, take the kernel's UDP choice and retry when
    // TCP finds that port taken.
    UniqueFd udp, tcp;
    for (int attempt = 0; attempt < 20 && !tcp; ++attempt) {
      SocketAddress try_address = address;
      Result<UniqueFd> opened_udp = open_socket(try_address, SOCK_DGRAM, true);
      if (!opened_udp) return fail(std::move(opened_udp.error()));
      udp = std::move(*opened_udp);
      const Result<SocketAddress> bound = net::local_address(udp.get());
      if (!bound) return fail(Error(bound.error()).within("UDP " + try_address.to_string()));
      try_address.set_port(bound->port());
      Result<UniqueFd> opened_tcp = open_socket(try_address, SOCK_STREAM, false);
      if (opened_tcp) {
        tcp = std::move(*opened_tcp);
        address = try_address;
      } else if (address.port() != 0 || opened_tcp.error().system_errno != EADDRINUSE) {
        return fail(std::move(opened_tcp.error()));  // only a port taken by someone else is worth a retry
      }
    }
    if (!tcp) return fail("cannot find a port free for UDP and TCP on " + address.to_string());
    if (::listen(tcp.get(), kListenBacklog) != 0)
      return fail(system_error("cannot listen on TCP " + address.to_string()));
    udp_sockets_.push_back({std::move(udp), address.is_wildcard()});
    tcp_listeners_.push_back(std::move(tcp));
    for (unsigned w = 1; w < options_.udp_workers; ++w) {
      Result<UniqueFd> more = open_socket(address, SOCK_DGRAM, true);
      if (!more) return fail(std::move(more.error()));
      udp_sockets_.push_back({std::move(*more), address.is_wildcard()});
    }
    bound_.push_back(address);
  }
  stop_event_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop_event_) return fail(system_error("cannot create the stop event (eventfd)"));
  // The TCP thread's epoll set is made here, so that a failure stops the start instead of leaving
  // a thread that would never answer, nor wake for stop().
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return fail(system_error("cannot create the TCP event set (epoll_create1)"));
  if (Result<void> w = watch(epoll_.get(), stop_event_.get(), kTcpStopTag, "stop event"); !w) {
    return fail(std::move(w.error()));
  }
  for (size_t i = 0; i < tcp_listeners_.size(); ++i) {
    if (Result<void> w = watch(epoll_.get(), tcp_listeners_[i].get(), kTcpListenerTagBase + i, "TCP listener"); !w) {
      return fail(std::move(w.error()));
    }
  }
  // Held in reserve: out of descriptors, the TCP thread frees it to accept and close a pending
  // connection, which would otherwise keep the listener readable and the thread spinning.
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!spare_fd_) return fail(system_error("cannot open /dev/null"));
  counters_ = std::make_unique<CounterSet[]>(udp_sockets_.size() + 1);
  testname::SipKey seed;
  if (Result<void> filled = net::system_random().fill(seed); !filled) return fail(std::move(filled.error()));
  if (options_.rate_limit.mode != RateMode::off) limiter_ = std::make_unique<RateLimiter>(options_.rate_limit, seed);
  if (options_.max_observations_per_test != 0) {
    // A bucket per test id whatever the source (prefix length 0): it holds the cap and refills
    // it over a token's lifetime, so one token flooded cannot crowd every other test out of the
    // store, while a test's own few dozen observations never come near it.
    RateLimitOptions cap;
    cap.mode = RateMode::on;
    cap.ipv4_prefix = 0;
    cap.ipv6_prefix = 0;
    cap.test_rate =
        std::max<uint32_t>(1, options_.max_observations_per_test / std::max<uint32_t>(1, options_.token_lifetime_s));
    cap.burst_seconds = std::max<uint32_t>(1, options_.max_observations_per_test / cap.test_rate);
    cap.slip = 0;
    cap.table_size = 1u << 16;
    observation_cap_ = std::make_unique<RateLimiter>(cap, seed);
  }
  return {};
}

DnsService::~DnsService() { stop(); }

Result<void> DnsService::start(std::vector<store::ObservationSink*> sinks) {
  if (!threads_.empty()) return fail("the DNS service was already started");
  sinks_ = std::move(sinks);
  try {
    for (size_t i = 0; i < udp_sockets_.size(); ++i) threads_.emplace_back([this, i] { run_udp_socket(i); });
    threads_.emplace_back([this] { run_tcp_server(); });
  } catch (const std::system_error& e) {
    stop();
    return fail(std::string("cannot start the DNS threads: ") + e.what());
  }
  return {};
}

void DnsService::stop() noexcept {
  if (stopped_.exchange(true)) return;
  const uint64_t one = 1;
  // Cannot fail: the eventfd counter is far from its maximum.
  if (stop_event_) (void)!::write(stop_event_.get(), &one, sizeof one);
  // Wakes a thread blocked in recvmmsg (which then returns at once and sees stopped_). On an
  // unconnected UDP socket the call reports ENOTCONN but still shuts the receive side.
  for (const UdpSocket& s : udp_sockets_) (void)::shutdown(s.fd.get(), SHUT_RD);
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

void DnsService::log_limited(const net::IpAddress& source, RateClass c) noexcept {
  // At most a line every 10 s: a flood must not become a flood of log lines.
  const int64_t now = net::unix_now_ms();
  int64_t last = last_limit_log_ms_.load(std::memory_order_relaxed);
  if (now - last < 10'000 || !last_limit_log_ms_.compare_exchange_strong(last, now)) return;
  const bool log_only = options_.rate_limit.mode == RateMode::log_only;
  std::fprintf(stderr, "dnsleakd: rate limit%s: %s answers to %s are over %u/s (counted in rrl_limited)\n",
               log_only ? " (log only, still sent)" : "", to_string(c), limiter_->prefix_of(source).to_string().c_str(),
               options_.rate_limit.rate(c));
}

bool DnsService::admit(const store::ResolverObservation& o, CounterSet& counters) noexcept {
  if (!observation_cap_) return true;
  // A test id's first octets are random (the server drew them): a hash as they are.
  uint64_t key;
  std::memcpy(&key, o.token.raw.data(), sizeof key);
  if (key == 0) key = 1;
  // Tests found over their cap are held in a small table every observation looks at (one cache
  // line, no hashing); the cap's own buckets see one observation in kCapSample, weighed as that
  // many, so a test's first observations cost next to nothing.
  CapHold& hold = cap_holds_[key % kCapHolds];
  if (hold.key.load(std::memory_order_relaxed) == key) {
    if (o.time_ms < hold.until_ms.load(std::memory_order_relaxed)) {
      counters.add(Event::observations_over_cap);
      return false;
    }
    hold.key.store(0, std::memory_order_relaxed);
  }
  thread_local uint32_t sample = 0;
  if (++sample % kCapSample != 0) return true;
  if (!observation_cap_->account(o.resolver, RateClass::test, key, o.time_ms, kCapSample).limited) return true;
  hold.until_ms.store(o.time_ms + 1000, std::memory_order_relaxed);
  hold.key.store(key, std::memory_order_relaxed);
  counters.add(Event::observations_over_cap);
  return false;
}

size_t DnsService::limit(const ResponseResult& r, const QueryContext& context, std::span<std::byte> buffer,
                         size_t query_size, CounterSet& counters) noexcept {
  if (!limiter_) return r.length;
  if (r.cookie == CookieState::valid) {
    counters.add(Event::rrl_exempt_cookie);
    return r.length;
  }
  if (limiter_->allowed(context.remote)) {
    counters.add(Event::rrl_exempt_allowed);
    return r.length;
  }
  const RateVerdict verdict = limiter_->account(context.remote, r.rate_class, r.rate_key, context.now_ms);
  if (!verdict.limited) return r.length;
  counters.add(Event::rrl_limited);
  if (verdict.started) log_limited(context.remote, r.rate_class);
  switch (verdict.decision) {
    case RateDecision::send: return r.length;
    case RateDecision::slip:
      if (const size_t length = Responder::slip(buffer, r, query_size); length != 0) {
        counters.add(Event::rrl_slipped);
        return length;
      }
      counters.add(Event::rrl_dropped);  // even the slip would amplify (a compressed question)
      return 0;
    case RateDecision::drop: counters.add(Event::rrl_dropped); return 0;
  }
  return 0;
}

void DnsService::run_udp_socket(size_t index) noexcept {
  CounterSet& counters = counters_[index];
  const int socket_fd = udp_sockets_[index].fd.get();
  const bool wants_pktinfo = udp_sockets_[index].wants_pktinfo;
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
      if (wants_pktinfo) {
        h.msg_control = receive_control[i].data();
        h.msg_controllen = kControlSize;
      }
    }
    // Blocks for the first datagram, then takes what else is queued, up to a batch.
    const int got = ::recvmmsg(socket_fd, receive.data(), static_cast<unsigned>(batch), MSG_WAITFORONE, nullptr);
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
    context.transport = net::Transport::udp;
    context.now_ms = net::unix_now_ms();
    size_t to_send = 0, observed = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    for (int i = 0; i < got; ++i) {
      const msghdr& in = receive[i].msg_hdr;
      const net::Peer peer = net::peer_of(peers[i], in.msg_namelen);
      context.remote = peer.ip;
      context.remote_port = peer.port;
      std::byte* const buffer = buffers.data() + i * kBufferStride;
      const ResponseResult r =
          responder_.respond({buffer, receive[i].msg_len}, context, {buffer, kBufferSize}, observations[observed]);
      bytes_in += receive[i].msg_len;
      counters.add(r.outcome);
      count_cookie(counters, r.cookie);
      // The observation is kept whatever the rate limit decides: a limited answer is still a
      // resolver seen asking.
      if (r.observed && admit(observations[observed], counters)) ++observed;
      if (r.length == 0) continue;
      const size_t length = limit(r, context, {buffer, kBufferSize}, receive[i].msg_len, counters);
      if (length == 0) continue;
      bytes_out += length;
      // Reply from the address the query came to (pktinfo), to the address it came from.
      msghdr& reply = send[to_send].msg_hdr;
      reply = msghdr{};
      send_iov[to_send] = {buffer, length};
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
      const int s = ::sendmmsg(socket_fd, send.data() + sent, static_cast<unsigned>(to_send - sent), MSG_DONTWAIT);
      if (s <= 0) {
        if (s < 0 && errno == EINTR) continue;
        // Skip the message that failed (unreachable peer, full buffer) and go on.
        counters.add(Event::udp_send_errors);
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(s);
    }
    counters.add(Event::udp_bytes_received, bytes_in);
    counters.add(Event::udp_bytes_sent, bytes_out);
    record({observations.data(), observed}, counters);
  }
}

}  // namespace dnsleak::auth
