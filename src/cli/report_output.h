// How `dnsleak test` shows a report: a table for people (colour on a terminal, none when piped or
// with NO_COLOR), JSON for scripts (a stable schema), or nothing but the exit code.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>

#include "cli/leak_test.h"

namespace dnsleak::cli {

enum class OutputMode : uint8_t { table, json, quiet };

[[nodiscard]] std::string render_table(const LeakTestReport& report, bool colour);
[[nodiscard]] boost::json::object report_json(const LeakTestReport& report);

// The baseline file: resolvers and networks seen with the tunnel down.
void save_baseline(const std::string& path, const LeakTestReport& report);  // throws std::runtime_error
[[nodiscard]] verdict::Baseline load_baseline(const std::string& path);     // throws std::runtime_error

}  // namespace dnsleak::cli
