// Reverse DNS (PTR) names of resolver addresses, looked up in the background through the host's
// resolver with a short timeout, cached. Never blocks a caller: an address not looked up yet
// gives "unknown" now and is queued, so a later read of the same results has the name.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "net/ip_address.h"

namespace dnsleak::enrich {

class ReverseNames {
 public:
  // enabled = false: every lookup answers "unknown" and nothing is sent. `nameserver` (an IPv4
  // address and port) replaces the host's resolvers; tests point it at loopback.
  explicit ReverseNames(bool enabled, std::optional<std::pair<std::string, uint16_t>> nameserver = std::nullopt);
  ~ReverseNames();
  ReverseNames(const ReverseNames&) = delete;
  ReverseNames& operator=(const ReverseNames&) = delete;

  // The PTR name; "" when the address has none; nullopt when not known (yet).
  [[nodiscard]] std::optional<std::string> lookup(const net::IpAddress& address);

  // The name `1.2.0.192.in-addr.arpa` / nibble form under ip6.arpa (RFC 1035 3.5, RFC 3596 2.5).
  [[nodiscard]] static std::string reverse_zone_name(const net::IpAddress& address);

  // Lookups refused because kMaxQueue were waiting (or no worker thread could start).
  [[nodiscard]] uint64_t queue_full() const noexcept { return queue_full_.load(std::memory_order_relaxed); }

  static constexpr size_t kMaxCache = 65536;
  static constexpr size_t kMaxQueue = 1024;

 private:
  void run();

  const bool enabled_;
  const std::optional<std::pair<std::string, uint16_t>> nameserver_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<net::IpAddress> queue_;
  std::unordered_map<std::string, std::optional<std::string>> cache_;  // nullopt: queued
  bool stopping_ = false;
  bool worker_failed_ = false;
  std::atomic<uint64_t> queue_full_{0};
  std::thread worker_;
};

}  // namespace dnsleak::enrich
