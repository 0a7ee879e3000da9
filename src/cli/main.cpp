// dnsleak: the client. Resolves the command line into an action, runs it, prints the report, and
// exits with the code the report gives (cli/exit_codes.h).
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <variant>

#include "cli/arguments.h"
#include "cli/guard_command.h"
#include "cli/host_commands.h"
#include "cli/leak_test.h"
#include "cli/local_evidence.h"
#include "cli/public_test.h"
#include "cli/report_output.h"

namespace {

using namespace dnsleak;

bool colour_on_stdout() { return isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr; }

int run(const cli::ExitAction& action) { return action.code; }

int run(const cli::PublicTestAction& action) {
  const cli::PublicTestReport report =
      cli::run_public_test(action.names, action.expected, action.timeout_ms, std::make_shared<probe::SystemResolver>());
  if (action.output == cli::OutputMode::json) {
    std::printf("%s\n", boost::json::serialize(cli::public_report_json(report)).c_str());
  } else if (action.output == cli::OutputMode::table) {
    std::fputs(cli::render_public_table(report, colour_on_stdout()).c_str(), stdout);
  }
  return report.exit_code();
}

int run(const cli::InspectAction& action) { return cli::run_inspect(action); }
int run(const cli::WatchAction& action) { return cli::run_watch(action); }
int run(const cli::GuardAction& action) { return cli::run_guard(action); }

int run(const cli::LeakTestAction& action) {
  probe::CurlHttpClient http;
  probe::SystemResolver resolver;
  const std::unique_ptr<cli::LocalObserver> local = action.local ? cli::live_local_observer() : nullptr;
  const cli::LeakTestReport report = cli::run_leak_test(action.options, http, resolver, local.get());
  if (action.save_baseline_to && report.error.empty()) {
    if (const Result<void> saved = cli::save_baseline(*action.save_baseline_to, report); !saved) {
      std::fprintf(stderr, "dnsleak: %s\n", saved.error().message.c_str());
      return cli::kUsage;
    }
    if (action.output == cli::OutputMode::table) {
      std::fprintf(stderr, "dnsleak: baseline of your resolvers saved to %s\n", action.save_baseline_to->c_str());
    }
  }
  if (action.output == cli::OutputMode::json) {
    std::printf("%s\n", boost::json::serialize(cli::report_json(report)).c_str());
  } else if (action.output == cli::OutputMode::table) {
    std::fputs(cli::render_table(report, colour_on_stdout()).c_str(), report.error.empty() ? stdout : stderr);
  }
  return report.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const cli::Action action = cli::parse_arguments(argc, argv);
    return std::visit([](const auto& a) { return run(a); }, action);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnsleak: %s\n", e.what());
    return cli::kServerError;
  }
}
