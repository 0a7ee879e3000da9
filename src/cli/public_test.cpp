#include "cli/public_test.h"

#include <chrono>
#include <set>

#include "cli/exit_codes.h"
#include "probe/fan_out.h"

namespace dnsleak::cli {

namespace {
constexpr const char* kLimits =
    "Public echo names show one resolver per lookup and nothing about your exits: parallel or fallback "
    "resolvers may not show, and without your own dnsleakd no network comparison is possible.";
}

int PublicTestReport::exit_code() const noexcept { return exit_code_for(verdict.outcome); }

PublicTestReport run_public_test(const std::vector<probe::EchoName>& names, const verdict::Expectations& expected,
                                 long timeout_ms, const std::shared_ptr<probe::NameResolver>& resolver) {
  const auto started = std::chrono::steady_clock::now();
  PublicTestReport report;
  report.names = names;
  // Each thread holds the names and the resolver: one may outlive this call.
  const auto shared_names = std::make_shared<const std::vector<probe::EchoName>>(names);
  report.answers = probe::fan_out(
      names.size(), timeout_ms, [shared_names, resolver](size_t i) { return resolver->ask_echo((*shared_names)[i]); },
      probe::EchoAnswer{{}, "", "timed out"});

  // Each resolver once, judged as the dnsleakd test judges them: by what the user expects (no
  // network data and no exits here, so the heuristics have nothing to compare).
  verdict::Evidence evidence;
  evidence.expected = expected;
  evidence.networks_known = false;
  std::set<std::string> seen;
  for (const probe::EchoAnswer& a : report.answers) {
    for (const std::string& text : a.resolvers) {
      const Result<net::IpAddress> address = net::parse_ip(text);
      if (address && seen.insert(text).second) evidence.resolvers.push_back({*address, {}, std::nullopt});
    }
  }
  report.verdict = verdict::judge(evidence);
  report.verdict.findings.insert(
      report.verdict.findings.begin(),
      verdict::Finding{verdict::Severity::info, "public_mode_limits", kLimits, verdict::Certainty::unknown, ""});
  report.duration_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return report;
}

}  // namespace dnsleak::cli
