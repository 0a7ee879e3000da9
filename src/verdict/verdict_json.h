// A verdict as JSON, the one writer of it: {"outcome", "findings": [{"severity", "code",
// "reason"}]}, as the API, `dnsleak test --json` and its public mode all print it.
#pragma once

#include <boost/json/object.hpp>

#include "verdict/verdict.h"

namespace dnsleak::verdict {

[[nodiscard]] boost::json::object verdict_json(const Verdict& verdict);

}  // namespace dnsleak::verdict
