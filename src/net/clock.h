// Time behind a small interface, so that expiry, timeouts and token ages are tested with a clock
// the test moves (tests/unit/test_clock.h), and the system clock everywhere else.
#pragma once

#include <cstdint>
#include <span>

namespace dnsleak::net {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in milliseconds.
  [[nodiscard]] virtual int64_t unix_ms() const noexcept = 0;
};

// CLOCK_REALTIME_COARSE: a few ms of resolution for the price of a memory read (vDSO); this is
// what the packet path stamps observations with.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] int64_t unix_ms() const noexcept override;
};

// The process's one system clock, for whoever is not handed another.
[[nodiscard]] const Clock& system_clock() noexcept;
// system_clock().unix_ms() without the virtual call, for the packet path.
[[nodiscard]] int64_t unix_now_ms() noexcept;

// Unix milliseconds as RFC 3339 UTC ("2026-11-27T02:57:10.872Z") into `out` (32 octets suffice);
// returns the length.
size_t format_time_ms(int64_t unix_ms, std::span<char> out) noexcept;

}  // namespace dnsleak::net
