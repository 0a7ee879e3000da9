// The listeners: UDP workers and a TCP server in front of one Responder.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "auth/counters.h"
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
  // or the call that failed. A port of 0 becomes one free port shared by UDP and TCP.
  [[nodiscard]] static Result<std::unique_ptr<DnsService>> create(DnsServiceOptions options, const Responder& responder,
                                                                  std::vector<store::ObservationSink*> sinks);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // The addresses as bound (real ports).
  [[nodiscard]] const std::vector<net::SocketAddress>& bound() const noexcept { return bound_; }
  // Starts a thread per UDP socket and the TCP thread; fails if the system gives no more threads.
  [[nodiscard]] Result<void> start();
  // Wakes every thread, joins them. Idempotent.
  void stop() noexcept;
  [[nodiscard]] CounterTotals counters() const noexcept;

 private:
  struct UdpSocket {
    net::UniqueFd fd;
    bool wants_pktinfo;  // a wildcard bind: reply from the address each query came to
  };
  // The TCP thread's epoll tags: connections are tagged with their descriptor.
  static constexpr uint64_t kTcpStopTag = UINT64_MAX;
  static constexpr uint64_t kTcpListenerTagBase = UINT64_MAX - 1024;  // listeners: base + index

  DnsService(DnsServiceOptions options, const Responder& responder, std::vector<store::ObservationSink*> sinks);
  [[nodiscard]] Result<void> open();
  void run_udp_socket(size_t index) noexcept;
  void run_tcp_server() noexcept;
  void record(std::span<const store::ResolverObservation> batch, CounterSet& counters) noexcept;

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
};

}  // namespace dnsleak::auth
