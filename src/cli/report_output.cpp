#include "cli/report_output.h"

#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "verdict/verdict_json.h"

namespace dnsleak::cli {
namespace json = boost::json;
namespace {

std::string path_text(const verdict::LocalResolver& x) {
  switch (x.path) {
    case verdict::ResolverPath::tunnel: return "through the tunnel (" + x.interface + ")";
    case verdict::ResolverPath::outside: return "OUTSIDE the tunnel, over " + x.interface;
    case verdict::ResolverPath::loopback: return "on this machine (a local forwarder)";
    case verdict::ResolverPath::unreachable: return "unreachable";
    case verdict::ResolverPath::unknown: break;
  }
  return "route unknown";
}

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

const char* headline(verdict::Outcome outcome) noexcept {
  switch (outcome) {
    case verdict::Outcome::leak: return "DNS LEAK";
    case verdict::Outcome::no_leak: return "No DNS leak";
    case verdict::Outcome::inconclusive: break;
  }
  return "Could not tell";
}

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
  const char* code = r.verdict.outcome == verdict::Outcome::leak      ? "1;31"
                     : r.verdict.outcome == verdict::Outcome::no_leak ? "1;32"
                                                                      : "1;33";
  if (r.local.gathered) {
    out << "\nThis machine:\n";
    std::string tunnels;
    for (const std::string& t : r.local.tunnels) tunnels += (tunnels.empty() ? "" : ", ") + t;
    out << "  tunnel: " << (tunnels.empty() ? "none found" : tunnels) << "\n";
    for (const verdict::LocalResolver& x : r.local.resolvers) {
      out << "  resolver " << x.address.to_string() << (x.stub_upstream ? " (behind the local stub)" : "") << ": "
          << path_text(x) << (x.firewall_stops.empty() ? "" : ", but the firewall rejects DNS to it") << "\n";
    }
    if (!r.local.firewall_stops_dns.empty()) {
      out << "  firewall: stops DNS outside the tunnel (" << r.local.firewall_stops_dns << ")\n";
    }
    for (const verdict::UnderlayProbe& u : r.local.underlay) {
      out << "  outside the tunnel, " << u.interface << (u.family == 6 ? " (IPv6)" : " (IPv4)") << ": ";
      if (u.address) {
        out << u.address->to_string();
        if (u.network.asn) out << "  AS" << *u.network.asn << " " << u.network.organisation;
        out << "\n";
      } else {
        out << "could not tell (" << u.error << ")\n";
      }
    }
    if (r.local.captured) {
      std::string where;
      for (const std::string& i : r.local.capture_interfaces) where += (where.empty() ? "" : ", ") + i;
      out << "  captured on " << where << ": " << r.local.leaks.size() << " test name(s) seen leaving\n";
    }
  }
  out << "\nVerdict: " << paint(code, headline(r.verdict.outcome)) << " (" << verdict::to_string(r.verdict.certainty)
      << ")\n";
  out << findings_text(r.verdict.findings, colour);
  return out.str();
}

std::string findings_text(const std::vector<verdict::Finding>& findings, bool colour) {
  auto paint = [colour](const char* code, const std::string& text) {
    return colour ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  };
  std::ostringstream out;
  for (const verdict::Finding& f : findings) {
    out << "  - "
        << (f.severity == verdict::Severity::info ? ""
                                                  : paint(f.severity == verdict::Severity::leak ? "31" : "33",
                                                          std::string("[") + verdict::to_string(f.severity) + "] "))
        << f.reason;
    if (f.certainty != verdict::Certainty::likely) out << " (" << verdict::to_string(f.certainty) << ")";
    out << "\n";
    if (!f.fix.empty()) out << "    fix: " << f.fix << "\n";
  }
  return out.str();
}

json::object local_json(const verdict::LocalEvidence& local) {
  json::array resolvers;
  for (const verdict::LocalResolver& x : local.resolvers) {
    resolvers.push_back(json::object{{"address", x.address.to_string()},
                                     {"path", verdict::to_string(x.path)},
                                     {"interface", x.interface},
                                     {"stub_upstream", x.stub_upstream},
                                     {"firewall_stops", x.firewall_stops}});
  }
  json::array leaks;
  for (const verdict::LocalLeak& l : local.leaks) {
    leaks.push_back(
        json::object{{"name", l.name}, {"interface", l.interface}, {"destination", l.destination.to_string()}});
  }
  json::array underlay;
  for (const verdict::UnderlayProbe& u : local.underlay) {
    json::object o{{"interface", u.interface}, {"family", u.family == 6 ? "ipv6" : "ipv4"}};
    o["address"] = u.address ? json::value(u.address->to_string()) : json::value(nullptr);
    o["asn"] = u.network.asn ? json::value(*u.network.asn) : json::value(nullptr);
    o["organisation"] = u.network.organisation;
    if (!u.error.empty()) o["error"] = u.error;
    underlay.push_back(std::move(o));
  }
  return json::object{{"tunnels", json::value_from(local.tunnels)},
                      {"underlay", std::move(underlay)},
                      {"resolvers", std::move(resolvers)},
                      {"captured", local.captured},
                      {"capture_interfaces", json::value_from(local.capture_interfaces)},
                      {"leaks", std::move(leaks)},
                      {"firewall_stops_dns", local.firewall_stops_dns},
                      {"unchecked", json::value_from(local.unchecked)}};
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
  o["verdict"] = verdict::verdict_json(r.verdict);
  o["resolvers"] = array_of(r.results, "resolvers");
  o["egress"] = array_of(r.results, "egress");
  o["local"] = r.local.gathered ? json::value(local_json(r.local)) : json::value(nullptr);
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

Result<void> save_baseline(const std::string& path, const LeakTestReport& report) {
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
  std::error_code made;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), made);
  if (made) return fail(concat({"cannot create ", p.parent_path().string(), " for the baseline: ", made.message()}));
  std::ofstream out(path);
  out << json::serialize(json::object{{"resolvers", resolvers}, {"asns", asns}}) << "\n";
  out.close();
  if (!out) return fail(concat({"cannot write the baseline to '", path, "'"}));
  return {};
}

Result<verdict::Baseline> load_baseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(concat({"cannot read the baseline '", path, "'"}));
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  const json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return fail(concat({"the baseline '", path, "' is not valid JSON"}));
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
  out << "\nVerdict: " << (colour ? "\033[1m" : "") << headline(r.verdict.outcome) << (colour ? "\033[0m" : "") << "\n";
  out << findings_text(r.verdict.findings, colour);
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
  return json::object{{"schema", 1},
                      {"mode", "public"},
                      {"exit_code", r.exit_code()},
                      {"duration_ms", r.duration_ms},
                      {"echo", std::move(echoes)},
                      {"verdict", verdict::verdict_json(r.verdict)}};
}

}  // namespace dnsleak::cli
