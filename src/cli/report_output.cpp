#include "cli/report_output.h"

#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "enrich/ip_data.h"

namespace dnsleak::cli {
namespace json = boost::json;
namespace {

std::string text_of(const json::value& v, const char* key) {
  if (!v.is_object()) return "";
  const auto* x = v.as_object().if_contains(key);
  if (x == nullptr) return "";
  if (x->is_string()) return std::string(x->as_string());
  if (x->is_int64()) return std::to_string(x->as_int64());
  if (x->is_uint64()) return std::to_string(x->as_uint64());
  return "";
}

std::string network_text(const json::value& entry) {
  const json::value network =
      entry.is_object() && entry.as_object().if_contains("network") ? entry.at("network") : json::value();
  const std::string asn = text_of(network, "asn");
  if (asn.empty()) return "unknown network";
  std::string text = "AS" + asn;
  if (const std::string org = text_of(network, "organisation"); !org.empty()) text += " " + org;
  if (const std::string country = text_of(network, "country"); !country.empty()) text += " (" + country + ")";
  if (const std::string op = text_of(network, "public_operator"); !op.empty()) text += ", public resolver: " + op;
  return text;
}

std::string join(const json::value& v, const char* key, const char* separator) {
  std::string out;
  if (!v.is_object() || !v.as_object().if_contains(key) || !v.at(key).is_array()) return out;
  for (const json::value& x : v.at(key).as_array()) {
    if (!x.is_string()) continue;
    if (!out.empty()) out += separator;
    out += std::string(x.as_string());
  }
  return out;
}

const json::array& array_of(const json::value& results, const char* key) {
  static const json::array kEmpty;
  if (!results.is_object() || !results.as_object().if_contains(key) || !results.at(key).is_array()) return kEmpty;
  return results.at(key).as_array();
}

}  // namespace

std::string render_table(const LeakTestReport& r, bool colour) {
  auto paint = [colour](const char* code, const std::string& text) {
    return colour ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  };
  std::ostringstream out;
  if (!r.error.empty()) {
    out << "dnsleak: " << r.error << "\n";
    return out.str();
  }
  size_t resolved = 0;
  for (const auto& l : r.lookups) resolved += !l.addresses.empty();
  out << "Leak test against " << r.server << ": " << resolved << " of " << r.lookups.size() << " names resolved, "
      << r.duration_ms << " ms\n\n";
  out << "Resolvers that asked for your names:\n";
  const json::array& resolvers = array_of(r.results, "resolvers");
  if (resolvers.empty()) out << "  (none)\n";
  for (const json::value& x : resolvers) {
    out << "  " << text_of(x, "address");
    if (const std::string name = text_of(x, "reverse_name"); !name.empty()) out << " (" << name << ")";
    out << "  " << network_text(x) << "  over " << join(x, "transports", "+") << "\n";
  }
  out << "\nYour exits (as the test server saw you connect):\n";
  const json::array& egress = array_of(r.results, "egress");
  if (egress.empty()) out << "  (none: the HTTP probes did not arrive)\n";
  for (const json::value& x : egress) out << "  " << text_of(x, "address") << "  " << network_text(x) << "\n";
  const char* headline = r.verdict.outcome == verdict::Outcome::leak      ? "DNS LEAK"
                         : r.verdict.outcome == verdict::Outcome::no_leak ? "No DNS leak"
                                                                          : "Could not tell";
  const char* code = r.verdict.outcome == verdict::Outcome::leak      ? "1;31"
                     : r.verdict.outcome == verdict::Outcome::no_leak ? "1;32"
                                                                      : "1;33";
  out << "\nVerdict: " << paint(code, headline) << "\n";
  for (const verdict::Finding& f : r.verdict.findings) {
    out << "  - "
        << (f.severity == verdict::Severity::info ? ""
                                                  : paint(f.severity == verdict::Severity::leak ? "31" : "33",
                                                          std::string("[") + verdict::to_string(f.severity) + "] "))
        << f.reason << "\n";
  }
  return out.str();
}

json::object report_json(const LeakTestReport& r) {
  json::object o;
  o["schema"] = 1;
  o["server"] = r.server;
  o["exit_code"] = r.exit_code();
  if (!r.error.empty()) {
    o["error"] = r.error;
    return o;
  }
  o["test_id"] = r.test_id;
  o["duration_ms"] = r.duration_ms;
  json::array findings;
  for (const verdict::Finding& f : r.verdict.findings) {
    findings.push_back(
        json::object{{"severity", verdict::to_string(f.severity)}, {"code", f.code}, {"reason", f.reason}});
  }
  o["verdict"] = json::object{{"outcome", verdict::to_string(r.verdict.outcome)}, {"findings", std::move(findings)}};
  o["resolvers"] = array_of(r.results, "resolvers");
  o["egress"] = array_of(r.results, "egress");
  json::array lookups;
  for (const auto& l : r.lookups) {
    lookups.push_back(json::object{{"name", l.name},
                                   {"addresses", json::value_from(l.addresses)},
                                   {"error", l.error.empty() ? json::value(nullptr) : json::value(l.error)},
                                   {"ms", l.milliseconds}});
  }
  o["lookups"] = std::move(lookups);
  auto probe = [](const ProbeOutcome& p) {
    return json::object{{"status", p.status}, {"error", p.error.empty() ? json::value(nullptr) : json::value(p.error)}};
  };
  o["probes"] = json::object{{"ipv4", probe(r.probe4)}, {"ipv6", probe(r.probe6)}};
  return o;
}

void save_baseline(const std::string& path, const LeakTestReport& report) {
  json::array resolvers, asns;
  for (const json::value& x : array_of(report.results, "resolvers")) {
    const json::value network = x.is_object() && x.as_object().if_contains("network") ? x.at("network") : json::value();
    // A public resolver (1.1.1.1 at home and through the VPN alike) is not the ISP's: keep it out.
    if (!text_of(network, "public_operator").empty()) continue;
    resolvers.push_back(json::value(text_of(x, "address")));
    const std::string asn = text_of(network, "asn");
    uint32_t number = 0;
    if (!asn.empty() && std::from_chars(asn.data(), asn.data() + asn.size(), number).ec == std::errc{}) {
      asns.push_back(json::value(number));
    }
  }
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream out(path);
  out << json::serialize(json::object{{"resolvers", resolvers}, {"asns", asns}}) << "\n";
  if (!out) throw std::runtime_error("cannot write the baseline to '" + path + "'");
}

verdict::Baseline load_baseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the baseline '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  const json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) throw std::runtime_error("the baseline '" + path + "' is not valid JSON");
  verdict::Baseline b;
  for (const json::value& a : array_of(v, "resolvers")) {
    if (!a.is_string()) continue;
    if (const Result<net::IpAddress> address = net::parse_ip(a.as_string()); address) b.resolvers.push_back(*address);
  }
  for (const json::value& a : array_of(v, "asns")) {
    if (a.is_int64()) b.asns.push_back(static_cast<uint32_t>(a.as_int64()));
    if (a.is_uint64()) b.asns.push_back(static_cast<uint32_t>(a.as_uint64()));
  }
  return b;
}

}  // namespace dnsleak::cli
