// dnsleak's exit codes, the one mapping from a verdict to them (documented in --help, the man
// page and the README).
#pragma once

#include <cstdint>

#include "verdict/verdict.h"

namespace dnsleak::cli {

enum ExitCode : uint8_t {
  kNoLeak = 0,
  kLeak = 1,
  kInconclusive = 2,
  kServerError = 3,
  kNoPrivilege = 4,  // a capability the command cannot do without (watch: CAP_NET_RAW)
  kUsage = 64
};

[[nodiscard]] constexpr int exit_code_for(verdict::Outcome outcome) noexcept {
  switch (outcome) {
    case verdict::Outcome::no_leak: return kNoLeak;
    case verdict::Outcome::leak: return kLeak;
    case verdict::Outcome::inconclusive: break;
  }
  return kInconclusive;
}

}  // namespace dnsleak::cli
