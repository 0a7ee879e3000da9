// How `dnsleak test` shows a report (of a dnsleakd test or of the public echo names): a table for
// people (colour on a terminal, none when piped or with NO_COLOR), JSON for scripts (a stable
// schema), or nothing but the exit code.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/leak_test.h"
#include "cli/public_test.h"
#include "net/error.h"

namespace dnsleak::cli {

// The headline of a verdict for people: "DNS LEAK", "No DNS leak", "Could not tell".
[[nodiscard]] const char* headline(verdict::Outcome outcome) noexcept;

[[nodiscard]] std::string render_table(const LeakTestReport& report, bool colour);
// Findings as the tables list them: severity, reason, certainty where it is not "likely", the fix.
[[nodiscard]] std::string findings_text(const std::vector<verdict::Finding>& findings, bool colour);
[[nodiscard]] boost::json::object local_json(const verdict::LocalEvidence& local);
[[nodiscard]] boost::json::object report_json(const LeakTestReport& report);
[[nodiscard]] std::string render_public_table(const PublicTestReport& report, bool colour);
[[nodiscard]] boost::json::object public_report_json(const PublicTestReport& report);

// The baseline file: resolvers and networks seen with the tunnel down.
[[nodiscard]] Result<void> save_baseline(const std::string& path, const LeakTestReport& report);
[[nodiscard]] Result<verdict::Baseline> load_baseline(const std::string& path);

}  // namespace dnsleak::cli
