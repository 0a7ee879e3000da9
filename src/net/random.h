// Randomness behind a small interface: test ids come from the OS, and tests can hand in a source
// that repeats itself (tests/unit/test_clock.h).
#pragma once

#include <cstdint>
#include <span>

#include "net/error.h"

namespace dnsleak::net {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` entirely, or fails.
  [[nodiscard]] virtual Result<void> fill(std::span<uint8_t> out) noexcept = 0;
};

// getrandom(2): blocks only until the kernel's pool is first initialised, at boot.
class SystemRandom final : public RandomSource {
 public:
  [[nodiscard]] Result<void> fill(std::span<uint8_t> out) noexcept override;
};

[[nodiscard]] RandomSource& system_random() noexcept;

}  // namespace dnsleak::net
