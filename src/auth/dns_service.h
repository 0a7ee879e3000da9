// The listeners: UDP workers and a TCP server in front of one Responder.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "auth/counters.h"
#include "auth/rate_limit.h"
#include "auth/responder.h"
#include "net/error.h"
#include "net/socket_address.h"
#include "net/unique_fd.h"
#include "store/store.h"

namespace dnsleak::auth {

struct DnsServiceOptions {
  std::vector<net::SocketAddress> listen;  // each gets UDP and TCP on the same port
  unsigned udp_workers = 1;                // receive threads per address, each on its own UDP socket (SO_REUSEPORT)
  unsigned udp_batch = 64;                 // packets per recvmmsg/sendmmsg
  unsigned tcp_max_connections = 256;
  int tcp_idle_timeout_ms = 10'000;  // RFC 7766 6.2.3: idle (or stalled mid-message) connections close
  RateLimitOptions rate_limit;       // UDP answers only; TCP cannot be spoofed
  // Observations one test may add (refilled over token_lifetime_s); past it they are counted in
  // observations_over_cap and not stored. 0: no cap.
  uint32_t max_observations_per_test = 4096;
  uint32_t token_lifetime_s = 3600;
};

// Owns every socket and thread. UDP: each socket has its own thread, which blocks in recvmmsg and
// answers in batches, replying from the address the query arrived at (IP_PKTINFO / IPV6_PKTINFO),
// so wildcard binds answer correctly. No epoll on UDP sockets: a socket in an epoll set makes the
// kernel call back into epoll for every datagram it frees after sending (measured: ~7% of the
// kernel's UDP ceiling on loopback).
// TCP (RFC 7766): length-prefixed messages, several per connection, answered in order; a cap on
// connections, an idle timeout that also ends stalled half-messages (slow clients), and back
// pressure when a client does not read its answers.
class DnsService {
 public:
  // Binds every socket and prepares every wake-up the threads need, or fails naming the address
  // or the call that failed. A port of 0 becomes one free port shared by UDP and TCP. Starts no
  // thread: ports are bound before privileges are dropped, threads started after.
  [[nodiscard]] static Result<std::unique_ptr<DnsService>> create(DnsServiceOptions options,
                                                                  const Responder& responder);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // The addresses as bound (real ports).
  [[nodiscard]] const std::vector<net::SocketAddress>& bound() const noexcept { return bound_; }
  // Starts a thread per UDP socket and the TCP thread, recording observations into `sinks`
  // (which must outlive the service); fails if the system gives no more threads.
  [[nodiscard]] Result<void> start(std::vector<store::ObservationSink*> sinks);
  // Wakes every thread, joins them. Idempotent.
  void stop() noexcept;
  [[nodiscard]] CounterTotals counters() const noexcept;
  // Nullptr when rate limiting is off.
  [[nodiscard]] const RateLimiter* rate_limiter() const noexcept { return limiter_.get(); }

 private:
  struct UdpSocket {
    net::UniqueFd fd;
    bool wants_pktinfo;  // a wildcard bind: reply from the address each query came to
  };
  // The TCP thread's epoll tags: connections are tagged with their descriptor.
  static constexpr uint64_t kTcpStopTag = UINT64_MAX;
  static constexpr uint64_t kTcpListenerTagBase = UINT64_MAX - 1024;  // listeners: base + index

  DnsService(DnsServiceOptions options, const Responder& responder);
  [[nodiscard]] Result<void> open();
  void run_udp_socket(size_t index) noexcept;
  void run_tcp_server() noexcept;
  void record(std::span<const store::ResolverObservation> batch, CounterSet& counters) noexcept;
  // Applies the rate limit to one UDP answer in `buffer`; returns the length to send (0: none).
  [[nodiscard]] size_t limit(const ResponseResult& r, const QueryContext& context, std::span<std::byte> buffer,
                             size_t query_size, CounterSet& counters) noexcept;
  void log_limited(const net::IpAddress& source, RateClass c) noexcept;
  // Whether an observation goes to the sinks (the per-test cap).
  [[nodiscard]] bool admit(const store::ResolverObservation& o, CounterSet& counters) noexcept;

  DnsServiceOptions options_;
  const Responder& responder_;
  std::vector<store::ObservationSink*> sinks_;
  std::vector<net::SocketAddress> bound_;
  std::vector<UdpSocket> udp_sockets_;  // udp_workers per address, a thread each
  std::vector<net::UniqueFd> tcp_listeners_;
  net::UniqueFd stop_event_;                // wakes the TCP thread
  net::UniqueFd epoll_;                     // the TCP thread's: listeners, stop event, connections
  net::UniqueFd spare_fd_;                  // the TCP thread's spare descriptor, for running out of them
  std::unique_ptr<CounterSet[]> counters_;  // one per UDP socket, then the TCP thread's
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<RateLimiter> observation_cap_;
  static constexpr uint32_t kCapSample = 16;
  static constexpr size_t kCapHolds = 256;
  struct CapHold {
    std::atomic<uint64_t> key{0};
    std::atomic<int64_t> until_ms{0};
  };
  std::array<CapHold, kCapHolds> cap_holds_{};
  std::atomic<int64_t> last_limit_log_ms_{0};
};

}  // namespace dnsleak::auth
