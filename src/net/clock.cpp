#include "net/clock.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace dnsleak::net {

int64_t unix_now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t SystemClock::unix_ms() const noexcept { return unix_now_ms(); }

const Clock& system_clock() noexcept {
  static const SystemClock clock;
  return clock;
}

size_t format_time_ms(int64_t unix_ms, std::span<char> out) noexcept {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  const int n =
      std::snprintf(out.data(), out.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                    utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(unix_ms % 1000));
  return n > 0 ? std::min(static_cast<size_t>(n), out.size() - 1) : 0;
}

}  // namespace dnsleak::net
