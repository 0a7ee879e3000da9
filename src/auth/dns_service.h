// The listeners: UDP workers and a TCP server in front of one Responder.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "auth/counters.h"
#include "auth/listen_address.h"
#include "auth/responder.h"
#include "store/observation.h"

namespace dnsleak::auth {

struct DnsServiceOptions {
  std::vector<SocketAddress> listen;  // each gets UDP and TCP on the same port
  unsigned udp_workers = 1;           // receive threads per address, each on its own UDP socket (SO_REUSEPORT)
  unsigned udp_batch = 64;            // packets per recvmmsg/sendmmsg
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
  // Binds every socket, or throws std::runtime_error naming the address that failed. A port of 0
  // becomes one free port shared by UDP and TCP.
  DnsService(DnsServiceOptions options, const Responder& responder, std::vector<store::ObservationSink*> sinks);
  ~DnsService();
  DnsService(const DnsService&) = delete;
  DnsService& operator=(const DnsService&) = delete;

  // The addresses as bound (real ports).
  [[nodiscard]] const std::vector<SocketAddress>& bound() const noexcept { return bound_; }
  void start();
  // Wakes every thread, joins them. Idempotent.
  void stop() noexcept;
  [[nodiscard]] CounterTotals counters() const noexcept;

 private:
  struct UdpSocket {
    int fd;
    bool wants_pktinfo;  // a wildcard bind: reply from the address each query came to
  };
  void run_udp_socket(size_t index) noexcept;
  void run_tcp_server() noexcept;
  void record(std::span<const store::ResolverObservation> batch, CounterSet& counters) noexcept;

  DnsServiceOptions options_;
  const Responder& responder_;
  std::vector<store::ObservationSink*> sinks_;
  std::vector<SocketAddress> bound_;
  std::vector<UdpSocket> udp_sockets_;  // udp_workers per address, a thread each
  std::vector<int> tcp_listeners_;
  int stop_event_ = -1;                     // wakes the TCP thread
  std::unique_ptr<CounterSet[]> counters_;  // one per UDP socket, then the TCP thread's
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

[[nodiscard]] int64_t unix_now_ms() noexcept;

}  // namespace dnsleak::auth
