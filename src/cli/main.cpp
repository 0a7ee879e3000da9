// dnsleak: the client. `dnsleak test` runs a leak test against a dnsleakd through the system
// resolver path and gives a verdict with reasons. Parses the command line, runs, prints.
#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/leak_test.h"
#include "cli/public_test.h"
#include "cli/report_output.h"
#include "enrich/ip_data.h"

namespace {

using namespace dnsleak;

constexpr const char* kExitCodes =
    "Exit codes: 0 no leak, 1 leak found, 2 could not tell (e.g. no resolver reached the server),\n"
    "3 the server could not be used (unreachable, errors, garbage), 64 usage or configuration error.";

std::string config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/dnsleak";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/dnsleak";
  return ".";
}

// The default server: DNSLEAK_SERVER, else `server` in <config dir>/dnsleak.toml.
std::string default_server() {
  if (const char* env = std::getenv("DNSLEAK_SERVER"); env && *env) return env;
  const std::string path = config_dir() + "/dnsleak.toml";
  if (!std::filesystem::exists(path)) return "";
  try {
    const toml::table config = toml::parse_file(path);
    if (const auto server = config["server"].value<std::string>()) return *server;
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(path + ": " + std::string(e.description()));
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dnsleak: find out whether your DNS lookups leak outside your VPN or Tor tunnel."};
  app.set_version_flag("--version", "dnsleak 0.1.0");
  app.footer(kExitCodes);
  app.require_subcommand(1);

  CLI::App* test = app.add_subcommand(
      "test",
      "Run a leak test against a dnsleakd: resolve unique names through the system resolver (exactly\n"
      "what applications do), probe over IPv4 and IPv6, and judge which resolvers and exits were seen.");
  cli::LeakTestOptions options;
  std::string server;
  double timeout_s = 10;
  bool only4 = false, only6 = false, json = false, quiet = false, no_baseline = false;
  std::vector<std::string> expect_resolvers;
  std::vector<uint32_t> expect_asns;
  std::string save_baseline, baseline_file = config_dir() + "/baseline.json";
  test->add_option("--server", server,
                   "dnsleakd's base URL, http:// or https:// [default: $DNSLEAK_SERVER, or server = \"...\" in " +
                       config_dir() + "/dnsleak.toml]");
  test->add_flag("--extended", options.extended, "36 names instead of 6 (finds resolvers used only now and then)");
  test->add_option("--count", options.count, "this many plain names (1-100) instead of 6 or 36")
      ->check(CLI::Range(1, 100));
  bool public_mode = false;
  std::vector<std::string> echo_names;
  auto* public_flag = test->add_flag(
      "--public", public_mode,
      "no dnsleakd at hand: ask public resolver echo names (Akamai, Google) which resolver answers; one\n"
      "resolver per lookup and no exits, so only --expect-resolver gives a verdict");
  test->add_option("--echo-name", echo_names, "with --public: ask these TXT echo names instead (repeatable)")
      ->needs(public_flag);
  test->add_option("--timeout", timeout_s, "seconds the whole test may take [default: 10]")
      ->check(CLI::Range(1.0, 300.0));
  auto* four = test->add_flag("-4", only4, "IPv4 only: lookups and probes");
  test->add_flag("-6", only6, "IPv6 only: lookups and probes")->excludes(four);
  test->add_option("--interface", options.interface, "make the HTTP probes from this interface or address");
  test->add_option("--expect-resolver", expect_resolvers,
                   "a resolver address your tunnel should use (repeatable); decides over the heuristics");
  test->add_option("--expect-asn", expect_asns, "an AS number your tunnel's resolvers are in (repeatable)");
  test->add_option("--save-baseline", save_baseline,
                   "run this with the tunnel DOWN: save the resolvers seen (your ISP's) to FILE; later runs "
                   "flag any of them seen again")
      ->expected(0, 1)
      ->default_str(baseline_file);
  test->add_option("--baseline", baseline_file, "the baseline file to compare with [default: " + baseline_file + "]");
  test->add_flag("--no-baseline", no_baseline, "do not compare with a saved baseline");
  auto* json_flag = test->add_flag("--json", json, "print the report as JSON (a stable schema; see the README)");
  test->add_flag("--quiet,-q", quiet, "print nothing; the exit code says it all")->excludes(json_flag);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cli::kUsage;
  }

  // Both modes judge by the resolvers the user expects.
  for (const std::string& text : expect_resolvers) {
    const Result<net::IpAddress> address = net::parse_ip(text);
    if (!address) {
      std::fprintf(stderr, "dnsleak: --expect-resolver %s\n", address.error().message.c_str());
      return cli::kUsage;
    }
    options.expected.resolvers.push_back(*address);
  }

  if (public_mode) {
    std::vector<probe::EchoName> names = probe::public_echo_names();
    if (!echo_names.empty()) {
      names.clear();
      for (const std::string& n : echo_names) names.push_back({n, true});
    }
    const cli::PublicTestReport report =
        cli::run_public_test(names, options.expected, static_cast<long>(timeout_s * 1000));
    if (json) {
      std::printf("%s\n", boost::json::serialize(cli::public_report_json(report)).c_str());
    } else if (!quiet) {
      std::fputs(cli::render_public_table(report, isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr).c_str(),
                 stdout);
    }
    return report.exit_code();
  }

  try {
    options.server = server.empty() ? default_server() : server;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnsleak: %s\n", e.what());
    return cli::kUsage;
  }
  if (options.server.empty()) {
    std::fprintf(
        stderr,
        "dnsleak: no server: give --server URL, set DNSLEAK_SERVER, or put server = \"URL\" in %s/dnsleak.toml\n",
        config_dir().c_str());
    return cli::kUsage;
  }
  if (options.server.rfind("http://", 0) != 0 && options.server.rfind("https://", 0) != 0) {
    std::fprintf(stderr, "dnsleak: --server '%s' must start with http:// or https://\n", options.server.c_str());
    return cli::kUsage;
  }
  options.expected.asns = expect_asns;
  options.family = only4 ? 4 : only6 ? 6 : 0;
  options.timeout_ms = static_cast<long>(timeout_s * 1000);
  const bool saving = test->count("--save-baseline") > 0;
  if (!saving && !no_baseline && std::filesystem::exists(baseline_file)) {
    try {
      options.baseline = cli::load_baseline(baseline_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dnsleak: %s\n", e.what());
      return cli::kUsage;
    }
  }
  options.progress = !json && !quiet && isatty(STDERR_FILENO);

  const cli::LeakTestReport report = cli::run_leak_test(options);
  if (saving && report.error.empty()) {
    const std::string path = save_baseline.empty() ? baseline_file : save_baseline;
    try {
      cli::save_baseline(path, report);
      if (!json && !quiet)
        std::fprintf(stderr, "dnsleak: baseline of %s saved to %s\n", "your resolvers", path.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dnsleak: %s\n", e.what());
      return cli::kUsage;
    }
  }
  if (json) {
    std::printf("%s\n", boost::json::serialize(cli::report_json(report)).c_str());
  } else if (!quiet) {
    const bool colour = isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
    const std::string text = cli::render_table(report, colour);
    std::fputs(text.c_str(), report.error.empty() ? stdout : stderr);
  }
  return report.exit_code();
}
