// Seams for unit tests: a clock the test moves, and randomness that repeats or fails on demand.
#pragma once

#include <cstdint>
#include <span>

#include "net/clock.h"
#include "net/random.h"

namespace dnsleak::testing {

class TestClock final : public net::Clock {
 public:
  explicit TestClock(int64_t unix_ms = 1'000'000'000) : now_ms(unix_ms) {}
  [[nodiscard]] int64_t unix_ms() const noexcept override { return now_ms; }
  int64_t now_ms;
};

// Counts up from `next` octet by octet; with `fails` set, fails as getrandom would without entropy.
class CountingRandom final : public net::RandomSource {
 public:
  [[nodiscard]] Result<void> fill(std::span<uint8_t> out) noexcept override {
    if (fails) return fail(Error{"getrandom: no entropy (test)", 0});
    for (uint8_t& octet : out) octet = next++;
    return {};
  }
  uint8_t next = 0;
  bool fails = false;
};

}  // namespace dnsleak::testing
