// `dnsleak inspect`: every DNS leak risk this machine's configuration shows, as findings with the
// shared severities, how sure each is, the reason and the fix. Pure: reads a Snapshot.
#pragma once

#include <vector>

#include "host/snapshot.h"
#include "verdict/verdict.h"

namespace dnsleak::host {

[[nodiscard]] std::vector<verdict::Finding> inspect(const Snapshot& snapshot);

}  // namespace dnsleak::host
