// `dnsleak test --public`: where no dnsleakd is at hand, ask public resolver echo names which
// resolver handles the system's lookups. Its limits: one resolver per lookup (parallel or fallback
// resolvers may not show), no exits (so no network comparison), and no network data: only
// --expect-resolver can turn it into a verdict.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "probe/echo_names.h"
#include "probe/lookups.h"
#include "verdict/verdict.h"

namespace dnsleak::cli {

struct PublicTestReport {
  std::vector<probe::EchoName> names;
  std::vector<probe::EchoAnswer> answers;  // one per name
  verdict::Verdict verdict;
  long duration_ms = 0;
  [[nodiscard]] int exit_code() const noexcept;
};

// Asks every echo name at once through `resolver`; judged by the shared verdict library with the
// resolvers seen and the user's expected resolvers (no networks are known in this mode, so
// expected AS numbers cannot be checked: the command line refuses them).
// The resolver is shared: a lookup still running at the deadline finishes on its own thread.
[[nodiscard]] PublicTestReport run_public_test(const std::vector<probe::EchoName>& names,
                                               const verdict::Expectations& expected, long timeout_ms,
                                               const std::shared_ptr<probe::NameResolver>& resolver);

}  // namespace dnsleak::cli
