#include "cli/public_test.h"

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/leak_test.h"
#include "enrich/ip_data.h"

namespace dnsleak::cli {
namespace json = boost::json;

namespace {
constexpr const char* kLimits =
    "Public echo names show one resolver per lookup and nothing about your exits: parallel or fallback "
    "resolvers may not show, and without your own dnsleakd no network comparison is possible.";
}

int PublicTestReport::exit_code() const noexcept {
  switch (verdict.outcome) {
    case verdict::Outcome::no_leak: return kNoLeak;
    case verdict::Outcome::leak: return kLeak;
    case verdict::Outcome::inconclusive: break;
  }
  return kInconclusive;
}

PublicTestReport run_public_test(const std::vector<probe::EchoName>& names, const verdict::Expectations& expected,
                                 long timeout_ms) {
  const auto started = std::chrono::steady_clock::now();
  PublicTestReport report;
  report.names = names;
  // One detached thread per name: a lookup stuck in the resolver past the deadline must not hold
  // the test (a std::async future would wait for it when destroyed).
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<std::optional<probe::EchoAnswer>> answers;
    size_t finished = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->answers.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    std::thread([shared, i, name = names[i]] {
      probe::EchoAnswer answer = probe::ask_echo(name);
      std::lock_guard lock(shared->mutex);
      shared->answers[i] = std::move(answer);
      ++shared->finished;
      shared->done.notify_all();
    }).detach();
  }
  {
    std::unique_lock lock(shared->mutex);
    shared->done.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                          [&] { return shared->finished == names.size(); });
    for (const auto& a : shared->answers) report.answers.push_back(a ? *a : probe::EchoAnswer{{}, "", "timed out"});
  }
  std::set<std::string> resolvers;
  for (const probe::EchoAnswer& a : report.answers) resolvers.insert(a.resolvers.begin(), a.resolvers.end());

  auto add = [&](verdict::Severity s, std::string code, std::string reason) {
    report.verdict.findings.push_back({s, std::move(code), std::move(reason)});
  };
  add(verdict::Severity::info, "public_mode_limits", kLimits);
  if (resolvers.empty()) {
    add(verdict::Severity::warning, "no_resolver_seen", "No echo name answered, so no resolver could be seen.");
  } else if (!expected.empty()) {
    bool leak = false;
    for (const std::string& text : resolvers) {
      const Result<net::IpAddress> address = net::parse_ip(text);
      if (!address) continue;
      if (std::find(expected.resolvers.begin(), expected.resolvers.end(), *address) != expected.resolvers.end())
        continue;
      add(verdict::Severity::leak, "unexpected_resolver",
          "Resolver " + text + " is not one you said your tunnel uses.");
      leak = true;
    }
    report.verdict.outcome = leak ? verdict::Outcome::leak : verdict::Outcome::no_leak;
  }
  report.duration_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return report;
}

std::string render_public_table(const PublicTestReport& r, bool colour) {
  std::ostringstream out;
  out << "Public echo names (" << r.duration_ms << " ms):\n";
  for (size_t i = 0; i < r.names.size(); ++i) {
    out << "  " << r.names[i].name << (r.names[i].txt ? " TXT" : " A") << ": ";
    const probe::EchoAnswer& a = r.answers[i];
    if (a.resolvers.empty()) {
      out << a.error << "\n";
      continue;
    }
    for (size_t k = 0; k < a.resolvers.size(); ++k) out << (k ? ", " : "") << "resolver " << a.resolvers[k];
    if (!a.subnet.empty()) out << ", forwards your subnet " << a.subnet;
    out << "\n";
  }
  const char* headline = r.verdict.outcome == verdict::Outcome::leak      ? "DNS LEAK"
                         : r.verdict.outcome == verdict::Outcome::no_leak ? "No DNS leak"
                                                                          : "Could not tell";
  out << "\nVerdict: " << (colour ? "\033[1m" : "") << headline << (colour ? "\033[0m" : "") << "\n";
  for (const verdict::Finding& f : r.verdict.findings) out << "  - " << f.reason << "\n";
  return out.str();
}

json::object public_report_json(const PublicTestReport& r) {
  json::array echoes;
  for (size_t i = 0; i < r.names.size(); ++i) {
    const probe::EchoAnswer& a = r.answers[i];
    echoes.push_back(json::object{{"name", r.names[i].name},
                                  {"type", r.names[i].txt ? "TXT" : "A"},
                                  {"resolvers", json::value_from(a.resolvers)},
                                  {"subnet", a.subnet.empty() ? json::value(nullptr) : json::value(a.subnet)},
                                  {"error", a.error.empty() ? json::value(nullptr) : json::value(a.error)}});
  }
  json::array findings;
  for (const verdict::Finding& f : r.verdict.findings) {
    findings.push_back(
        json::object{{"severity", verdict::to_string(f.severity)}, {"code", f.code}, {"reason", f.reason}});
  }
  return json::object{
      {"schema", 1},
      {"mode", "public"},
      {"exit_code", r.exit_code()},
      {"duration_ms", r.duration_ms},
      {"echo", std::move(echoes)},
      {"verdict", json::object{{"outcome", verdict::to_string(r.verdict.outcome)}, {"findings", std::move(findings)}}}};
}

}  // namespace dnsleak::cli
