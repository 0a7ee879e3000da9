#include "net/random.h"

#include <sys/random.h>

#include <cerrno>

namespace dnsleak::net {

Result<void> SystemRandom::fill(std::span<uint8_t> out) noexcept {
  size_t filled = 0;
  while (filled < out.size()) {
    const ssize_t n = ::getrandom(out.data() + filled, out.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(system_error("getrandom"));
    }
    filled += static_cast<size_t>(n);
  }
  return {};
}

RandomSource& system_random() noexcept {
  static SystemRandom random;
  return random;
}

}  // namespace dnsleak::net
