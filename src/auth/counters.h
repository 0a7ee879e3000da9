// Counters for every outcome of a packet and every reason one was dropped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "auth/responder.h"

namespace dnsleak::auth {

// Events of the listeners that are not a responder outcome.
enum class Event : uint8_t {
  udp_queries,
  tcp_queries,
  udp_send_errors,
  udp_receive_errors,
  tcp_accepted,
  tcp_refused_over_cap,        // closed at once: the connection cap was reached
  tcp_refused_no_descriptors,  // closed at once: the process ran out of file descriptors
  tcp_closed_idle,             // idle or stalled mid-message past the timeout (slow clients)
  tcp_closed_bad_length,       // a length prefix of 0
  tcp_closed_by_peer,
  tcp_closed_error,
  tcp_server_failed,  // the TCP thread stopped: its event wait failed
  observations,
  count_,
};
inline constexpr size_t kEventCount = static_cast<size_t>(Event::count_);
[[nodiscard]] const char* to_string(Event) noexcept;

// One set per thread, written only by that thread (relaxed atomics so a reader may sum them at any
// time); aligned so two threads' sets never share a cache line.
struct alignas(64) CounterSet {
  std::array<std::atomic<uint64_t>, kOutcomeCount> outcomes{};
  std::array<std::atomic<uint64_t>, kEventCount> events{};

  void add(Outcome o, uint64_t n = 1) noexcept { bump(outcomes[static_cast<size_t>(o)], n); }
  void add(Event e, uint64_t n = 1) noexcept { bump(events[static_cast<size_t>(e)], n); }

 private:
  // The set's one writer needs no locked read-modify-write (a fetch_add costs a few times more and
  // runs several times per packet); readers still see whole values.
  static void bump(std::atomic<uint64_t>& counter, uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

struct CounterTotals {
  std::array<uint64_t, kOutcomeCount> outcomes{};
  std::array<uint64_t, kEventCount> events{};
  [[nodiscard]] uint64_t operator[](Outcome o) const noexcept { return outcomes[static_cast<size_t>(o)]; }
  [[nodiscard]] uint64_t operator[](Event e) const noexcept { return events[static_cast<size_t>(e)]; }
};

[[nodiscard]] CounterTotals sum(std::span<const CounterSet> sets) noexcept;
// {"answer":1,...,"udp_queries":2,...}: every counter, zero or not, so a reader sees all names.
[[nodiscard]] std::string to_json(const CounterTotals& totals);

}  // namespace dnsleak::auth
