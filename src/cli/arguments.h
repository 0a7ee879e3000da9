// dnsleak's command line resolved into a typed action: what to run and how to show it. Parsing
// reads the environment and the config file (the default server, the baseline) but runs nothing
// and touches no network; main runs the action.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/guard_command.h"
#include "cli/host_commands.h"
#include "cli/leak_test.h"
#include "cli/output_mode.h"
#include "probe/echo_names.h"
#include "verdict/verdict.h"

namespace dnsleak::cli {

// Nothing to run: --help, --version, or a usage error already explained on stderr.
struct ExitAction {
  int code = 0;
};

// `dnsleak test`: a leak test against a dnsleakd.
struct LeakTestAction {
  LeakTestOptions options;  // baseline and expectations already loaded
  OutputMode output = OutputMode::table;
  std::optional<std::string> save_baseline_to;  // --save-baseline: write what was seen here
  bool local = true;                            // gather this machine's evidence (--no-local: not)
};

// `dnsleak test --public`: the resolver echo names.
struct PublicTestAction {
  std::vector<probe::EchoName> names;
  verdict::Expectations expected;
  long timeout_ms = 10'000;
  OutputMode output = OutputMode::table;
};

using Action = std::variant<ExitAction, LeakTestAction, PublicTestAction, InspectAction, WatchAction, GuardAction>;

// Parses argv. Help, version and usage errors are printed here (stdout for help, stderr for
// errors), and come back as an ExitAction.
[[nodiscard]] Action parse_arguments(int argc, const char* const* argv);

}  // namespace dnsleak::cli
