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
  observations_over_cap,  // not stored: the test already had its share (a flooded token)
  udp_bytes_received,     // with udp_bytes_sent: the amplification factor seen from here
  udp_bytes_sent,
  cookie_client_only,  // RFC 7873 cookies: a client cookie alone (the first query of a client)
  cookie_valid,        // a server cookie of ours, still fresh, for this address
  cookie_invalid,      // a server cookie that fails (stale, another secret, spoofed or replayed)
  rrl_limited,         // answers over their bucket's rate (in log-only mode, sent anyway)
  rrl_slipped,         // of those, sent as an empty TC=1 answer
  rrl_dropped,         // of those, not sent
  rrl_exempt_cookie,   // not accounted: a valid server cookie proves the source
  rrl_exempt_allowed,  // not accounted: an allow-listed prefix
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

namespace dnsleak::auth {
// Counts what a query carried of cookies.
inline void count_cookie(CounterSet& counters, CookieState cookie) noexcept {
  switch (cookie) {
    case CookieState::none: break;
    case CookieState::client_only: counters.add(Event::cookie_client_only); break;
    case CookieState::valid: counters.add(Event::cookie_valid); break;
    case CookieState::invalid: counters.add(Event::cookie_invalid); break;
  }
}
}  // namespace dnsleak::auth
