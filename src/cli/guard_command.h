// `dnsleak guard on|off|status`: the fix applied, shown in words, and lifted. The logic runs on a
// host::GuardSystem and a snapshot, so unit tests drive it without root; run_guard wires the live
// machine in.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "cli/output_mode.h"
#include "host/guard.h"
#include "host/snapshot.h"

namespace dnsleak::cli {

struct GuardAction {
  enum class Verb : uint8_t { on, off, status };
  Verb verb = Verb::status;
  host::GuardPlan plan;  // no tunnels: the ones inspect finds
  bool dry_run = false;
  bool persist = false;      // on: install the boot unit; off: remove it
  bool no_resolved = false;  // on: leave systemd-resolved's links as they are
  OutputMode output = OutputMode::table;
};

// What the machine offers the commands beside the GuardSystem.
struct GuardContext {
  host::GuardSystem& system;
  const host::Snapshot& snapshot;  // tunnels and resolved's links
  bool net_admin = false;          // CAP_NET_ADMIN is effective
  std::string dnsleak_path;        // for the boot unit's ExecStart
  long long now_ms = 0;
};

struct GuardOutcome {
  int code = 0;
  std::string text;  // for people (stdout)
  boost::json::object json;
  std::string error;  // for stderr; empty when all went well
};

[[nodiscard]] GuardOutcome guard_on(const GuardAction& action, GuardContext& context);
[[nodiscard]] GuardOutcome guard_off(const GuardAction& action, GuardContext& context);
[[nodiscard]] GuardOutcome guard_status(const GuardAction& action, GuardContext& context);

// Exit code: 0 done (status: on), 1 status: off, 3 the system refused a change, 4 without
// CAP_NET_ADMIN, 64 nothing to guard (no tunnel) or bad input.
[[nodiscard]] int run_guard(const GuardAction& action);

}  // namespace dnsleak::cli
