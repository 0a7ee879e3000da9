// The only translation unit that includes CLI11.
#include "cli/arguments.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/report_output.h"
#include "net/ip_address.h"

namespace dnsleak::cli {
namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 no leak (guard: done, or on), 1 leak found (test), a leak risk (inspect), DNS seen\n"
    "leaving (watch) or the guard off (guard status), 2 could not tell (e.g. no resolver reached the\n"
    "server), 3 the server or a recording could not be used, or the system refused a change (guard),\n"
    "4 a capability is missing (watch needs CAP_NET_RAW, guard CAP_NET_ADMIN), 64 usage or configuration error.";

std::string config_dir() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/dnsleak";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/dnsleak";
  return ".";
}

// The default server: DNSLEAK_SERVER, else `server` in <config dir>/dnsleak.toml.
Result<std::string> default_server() {
  if (const char* env = std::getenv("DNSLEAK_SERVER"); env && *env) return std::string(env);
  const std::string path = config_dir() + "/dnsleak.toml";
  if (!std::filesystem::exists(path)) return std::string();
  try {
    const toml::table config = toml::parse_file(path);
    if (const auto server = config["server"].value<std::string>()) return *server;
  } catch (const toml::parse_error& e) {
    return fail(concat({path, ": ", e.description()}));
  }
  return std::string();
}

ExitAction usage_error(const std::string& message) {
  std::fprintf(stderr, "dnsleak: %s\n", message.c_str());
  return {kUsage};
}

}  // namespace

Action parse_arguments(int argc, const char* const* argv) {
  CLI::App app{"dnsleak: find out whether your DNS lookups leak outside your VPN or Tor tunnel."};
  app.set_version_flag("--version", "dnsleak 0.1.0");
  app.footer(kExitCodes);
  app.require_subcommand(1);

  CLI::App* test = app.add_subcommand(
      "test",
      "Run a leak test against a dnsleakd: resolve unique names through the system resolver (exactly\n"
      "what applications do), probe over IPv4 and IPv6, and judge which resolvers and exits were seen.");
  LeakTestOptions options;
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
  auto* expect_asn = test->add_option("--expect-asn", expect_asns,
                                      "an AS number your tunnel's resolvers are in (repeatable; not with --public, "
                                      "which knows no networks)");
  expect_asn->excludes(public_flag);
  test->add_option("--save-baseline", save_baseline,
                   "run this with the tunnel DOWN: save the resolvers seen (your ISP's) to FILE; later runs "
                   "flag any of them seen again")
      ->expected(0, 1)
      ->default_str(baseline_file);
  test->add_option("--baseline", baseline_file, "the baseline file to compare with [default: " + baseline_file + "]");
  test->add_flag("--no-baseline", no_baseline, "do not compare with a saved baseline");
  bool no_local = false;
  test->add_flag("--no-local", no_local,
                 "judge by the server alone: do not read this machine's routes, nor capture (as root) the\n"
                 "test's names leaving outside the tunnel");
  auto* json_flag = test->add_flag("--json", json, "print the report as JSON (a stable schema; see the README)");
  test->add_flag("--quiet,-q", quiet, "print nothing; the exit code says it all")->excludes(json_flag);

  CLI::App* inspect = app.add_subcommand(
      "inspect",
      "Judge this machine's DNS setup without sending anything: the resolvers configured, the interface\n"
      "the kernel routes each through, tunnels, IPv6 outside the tunnel, search domains, multicast DNS.\n"
      "Every risk comes with its fix. Needs no privilege.");
  InspectAction inspect_action;
  bool inspect_json = false, inspect_quiet = false;
  auto* inspect_json_flag = inspect->add_flag("--json", inspect_json, "print the report as JSON");
  inspect->add_flag("--quiet,-q", inspect_quiet, "print nothing; the exit code says it all")
      ->excludes(inspect_json_flag);
  inspect->add_option("--record", inspect_action.record_to,
                      "also save the raw inputs read (files, netlink replies) into DIR, for a bug report");
  inspect->add_option("--replay", inspect_action.replay_from,
                      "judge a directory saved with --record instead of this machine");

  CLI::App* watch = app.add_subcommand(
      "watch",
      "Show the DNS that leaves this machine outside the tunnel, live: UDP and TCP 53 decoded (name,\n"
      "type, source -> destination), DNS over TLS (853), mDNS (5353) and LLMNR (5355). Captures on\n"
      "every interface that is up and not a tunnel, or those named. Needs CAP_NET_RAW (root).\n"
      "  dnsleak watch -- getent ahosts example.com    watch for the lifetime of a command");
  WatchAction watch_action;
  bool watch_json = false;
  watch->add_option("--interface,-i", watch_action.interfaces, "capture on this interface (repeatable)");
  watch->add_option("--duration", watch_action.duration_s, "stop after this many seconds [default: until Ctrl-C]")
      ->check(CLI::Range(0.1, 86400.0));
  watch->add_flag("--json", watch_json, "one JSON object per packet");
  auto* read_flag = watch->add_option("--read", watch_action.read_from,
                                      "decode a saved capture (tcpdump -w) instead; needs no privilege");
  watch->add_option("command", watch_action.command, "a command to run; the watch ends when it does (after --)");
  watch->positionals_at_end();
  read_flag->excludes("--interface")->excludes("--duration");

  CLI::App* guard = app.add_subcommand(
      "guard",
      "The fix: hold DNS to the tunnel with a firewall table of dnsleak's own (inet dnsleak), applied in\n"
      "one transaction and lifted as cleanly. DNS (UDP and TCP 53, 853) may leave only through the tunnel\n"
      "and loopback; elsewhere it is rejected at once, mDNS and LLMNR are stopped outside the tunnel.\n"
      "Other tables are never touched: ours adds blocking beside ufw, firewalld or Docker, and cannot\n"
      "allow what they drop. Needs CAP_NET_ADMIN (root), except --dry-run.");
  guard->require_subcommand(1);
  GuardAction guard_action;
  bool guard_json = false;
  std::vector<std::string> allow_texts;
  CLI::App* guard_on = guard->add_subcommand(
      "on",
      "Apply the guard (again: nothing changes). With systemd-resolved, also route every domain to the\n"
      "tunnel link (~.) and take DefaultRoute off the others; guard off puts them back.");
  guard_on->add_option("--tunnel", guard_action.plan.tunnels,
                       "the tunnel interface (repeatable) [default: the tunnels that are up, as inspect finds them]");
  guard_on->add_option("--allow-resolver", allow_texts,
                       "ADDR: DNS through the tunnel may go to this resolver alone (repeatable), which also stops\n"
                       "a resolver outside the VPN reached through the tunnel; ADDR%IF: allow it on interface IF");
  guard_on->add_flag("--block-ipv6", guard_action.plan.block_ipv6,
                     "also reject all IPv6 leaving outside the tunnel, but link-local and neighbour discovery");
  guard_on->add_flag("--dry-run", guard_action.dry_run,
                     "print the nft ruleset and change nothing (no privilege needed; with it, the kernel\n"
                     "checks the ruleset too, as nft -c does)");
  guard_on->add_flag("--persist", guard_action.persist,
                     "also install a systemd unit (dnsleak-guard.service) that applies the table at boot,\n"
                     "before the network comes up");
  guard_on->add_flag("--no-resolved", guard_action.no_resolved, "leave systemd-resolved's links as they are");
  guard_on->add_flag("--json", guard_json, "print what was done as JSON");
  CLI::App* guard_off = guard->add_subcommand(
      "off", "Remove exactly what guard on made (after a crash too: it is recorded), nothing else. Idempotent.");
  guard_off->add_flag("--persist", guard_action.persist, "also remove the boot unit");
  guard_off->add_flag("--json", guard_json, "print what was undone as JSON");
  CLI::App* guard_status = guard->add_subcommand(
      "status", "On or off, the rules in words, and what each has blocked (its counter). Exit 0 on, 1 off.");
  guard_status->add_flag("--json", guard_json, "print the status as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return ExitAction{code == 0 ? 0 : kUsage};
  }
  if (app.got_subcommand(inspect)) {
    inspect_action.output = inspect_json ? OutputMode::json : inspect_quiet ? OutputMode::quiet : OutputMode::table;
    if (!inspect_action.record_to.empty() && !inspect_action.replay_from.empty()) {
      return usage_error("--record and --replay exclude each other");
    }
    return inspect_action;
  }
  if (app.got_subcommand(guard)) {
    guard_action.output = guard_json ? OutputMode::json : OutputMode::table;
    guard_action.verb = guard->got_subcommand(guard_on)    ? GuardAction::Verb::on
                        : guard->got_subcommand(guard_off) ? GuardAction::Verb::off
                                                           : GuardAction::Verb::status;
    for (const std::string& t : guard_action.plan.tunnels) {
      if (!host::valid_interface_name(t)) return usage_error("--tunnel '" + t + "' is not an interface name");
    }
    for (const std::string& text : allow_texts) {
      Result<host::AllowedResolver> allowed = host::parse_allowed_resolver(text);
      if (!allowed) return usage_error("--allow-resolver " + allowed.error().message);
      guard_action.plan.allowed.push_back(*allowed);
    }
    return guard_action;
  }
  if (app.got_subcommand(watch)) {
    watch_action.output = watch_json ? OutputMode::json : OutputMode::table;
    if (!watch_action.read_from.empty() && !watch_action.command.empty()) {
      return usage_error("--read decodes a saved capture; it runs no command");
    }
    return watch_action;
  }
  const OutputMode output = json ? OutputMode::json : quiet ? OutputMode::quiet : OutputMode::table;

  // Both modes judge by the resolvers the user expects.
  verdict::Expectations expected;
  for (const std::string& text : expect_resolvers) {
    const Result<net::IpAddress> address = net::parse_ip(text);
    if (!address) return usage_error("--expect-resolver " + address.error().message);
    expected.resolvers.push_back(*address);
  }
  expected.asns = expect_asns;

  if (public_mode) {
    PublicTestAction action;
    action.names = probe::public_echo_names();
    if (!echo_names.empty()) {
      action.names.clear();
      for (const std::string& n : echo_names) action.names.push_back({n, true});
    }
    action.expected = std::move(expected);
    action.timeout_ms = static_cast<long>(timeout_s * 1000);
    action.output = output;
    return action;
  }

  if (server.empty()) {
    Result<std::string> configured = default_server();
    if (!configured) return usage_error(configured.error().message);
    server = std::move(*configured);
  }
  if (server.empty()) {
    return usage_error("no server: give --server URL, set DNSLEAK_SERVER, or put server = \"URL\" in " + config_dir() +
                       "/dnsleak.toml");
  }
  if (server.rfind("http://", 0) != 0 && server.rfind("https://", 0) != 0) {
    return usage_error("--server '" + server + "' must start with http:// or https://");
  }
  LeakTestAction action;
  action.output = output;
  options.server = server;
  options.expected = std::move(expected);
  options.family = only4 ? 4 : only6 ? 6 : 0;
  options.timeout_ms = static_cast<long>(timeout_s * 1000);
  options.progress = output == OutputMode::table && isatty(STDERR_FILENO);
  if (test->count("--save-baseline") > 0) {
    action.save_baseline_to = save_baseline.empty() ? baseline_file : save_baseline;
  } else if (!no_baseline && std::filesystem::exists(baseline_file)) {
    Result<verdict::Baseline> baseline = load_baseline(baseline_file);
    if (!baseline) return usage_error(baseline.error().message);
    options.baseline = std::move(*baseline);
  }
  action.local = !no_local;
  action.options = std::move(options);
  return action;
}

}  // namespace dnsleak::cli
