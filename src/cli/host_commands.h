// `dnsleak inspect` and `dnsleak watch`: this machine's DNS configuration judged, and the DNS
// that leaves it, seen live.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/output_mode.h"
#include "host/capture.h"
#include "host/snapshot.h"

namespace dnsleak::cli {

struct InspectAction {
  OutputMode output = OutputMode::table;
  std::string record_to;    // --record DIR: keep the raw inputs (for a bug report, a test fixture)
  std::string replay_from;  // --replay DIR: judge a recording instead of this machine
};

struct WatchAction {
  std::vector<std::string> interfaces;  // empty: every non-tunnel interface
  double duration_s = 0;                // 0: until interrupted (or the command ends)
  OutputMode output = OutputMode::table;
  std::vector<std::string> command;  // run this and watch for its lifetime
  std::string read_from;             // --read FILE: a saved capture instead of live interfaces
};

// Exit code: 1 when a finding is a leak, 0 otherwise; 3 when the recording cannot be read.
[[nodiscard]] int run_inspect(const InspectAction& action);
// Exit code: 1 when DNS was seen leaving, 0 when none was; 4 without the capability to capture.
[[nodiscard]] int run_watch(const WatchAction& action);

// Whose browser settings inspect reads: under sudo, the invoking user's home; else $HOME.
[[nodiscard]] std::string user_home();

// For tests: the inspect report of a snapshot, and one watch line.
[[nodiscard]] boost::json::object inspect_json(const host::Snapshot& snapshot,
                                               const std::vector<verdict::Finding>& findings);
[[nodiscard]] std::string inspect_table(const host::Snapshot& snapshot, const std::vector<verdict::Finding>& findings,
                                        bool colour);
[[nodiscard]] std::string watch_line(const std::string& interface, const host::CapturedDns& packet);
[[nodiscard]] boost::json::object watch_json(const std::string& interface, const host::CapturedDns& packet,
                                             long long time_ms);

}  // namespace dnsleak::cli
