// How a subcommand shows its result: a table for people, JSON for scripts, or only the exit code.
#pragma once

#include <cstdint>

namespace dnsleak::cli {

enum class OutputMode : uint8_t { table, json, quiet };

}  // namespace dnsleak::cli
