#include "auth/counters.h"

namespace dnsleak::auth {

const char* to_string(Event e) noexcept {
  switch (e) {
    case Event::udp_queries: return "udp_queries";
    case Event::tcp_queries: return "tcp_queries";
    case Event::udp_send_errors: return "udp_send_errors";
    case Event::udp_receive_errors: return "udp_receive_errors";
    case Event::tcp_accepted: return "tcp_accepted";
    case Event::tcp_refused_over_cap: return "tcp_refused_over_cap";
    case Event::tcp_refused_no_descriptors: return "tcp_refused_no_descriptors";
    case Event::tcp_closed_idle: return "tcp_closed_idle";
    case Event::tcp_closed_bad_length: return "tcp_closed_bad_length";
    case Event::tcp_closed_by_peer: return "tcp_closed_by_peer";
    case Event::tcp_closed_error: return "tcp_closed_error";
    case Event::tcp_server_failed: return "tcp_server_failed";
    case Event::observations: return "observations";
    case Event::observations_over_cap: return "observations_over_cap";
    case Event::udp_bytes_received: return "udp_bytes_received";
    case Event::udp_bytes_sent: return "udp_bytes_sent";
    case Event::cookie_client_only: return "cookie_client_only";
    case Event::cookie_valid: return "cookie_valid";
    case Event::cookie_invalid: return "cookie_invalid";
    case Event::rrl_limited: return "rrl_limited";
    case Event::rrl_slipped: return "rrl_slipped";
    case Event::rrl_dropped: return "rrl_dropped";
    case Event::rrl_exempt_cookie: return "rrl_exempt_cookie";
    case Event::rrl_exempt_allowed: return "rrl_exempt_allowed";
    case Event::count_: break;
  }
  return "unknown";
}

CounterTotals sum(std::span<const CounterSet> sets) noexcept {
  CounterTotals t;
  for (const CounterSet& s : sets) {
    for (size_t i = 0; i < kOutcomeCount; ++i) t.outcomes[i] += s.outcomes[i].load(std::memory_order_relaxed);
    for (size_t i = 0; i < kEventCount; ++i) t.events[i] += s.events[i].load(std::memory_order_relaxed);
  }
  return t;
}

std::string to_json(const CounterTotals& totals) {
  std::string out = "{";
  auto field = [&](const char* name, uint64_t value) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += name;
    out += "\":";
    out += std::to_string(value);
  };
  for (size_t i = 0; i < kOutcomeCount; ++i) field(to_string(static_cast<Outcome>(i)), totals.outcomes[i]);
  for (size_t i = 0; i < kEventCount; ++i) field(to_string(static_cast<Event>(i)), totals.events[i]);
  out += '}';
  return out;
}

}  // namespace dnsleak::auth
