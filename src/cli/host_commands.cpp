#include "cli/host_commands.h"

#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "cli/local_evidence.h"
#include "cli/report_output.h"
#include "dns/message.h"
#include "host/inspect.h"
#include "net/capabilities.h"
#include "net/clock.h"
#include "verdict/verdict_json.h"

namespace dnsleak::cli {
namespace json = boost::json;
namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

bool colour_on(FILE* f) { return isatty(fileno(f)) != 0 && std::getenv("NO_COLOR") == nullptr; }

std::string endpoint(const net::IpAddress& a, uint16_t port) {
  return a.family == 6 ? concat({"[", a.to_string(), "]:", std::to_string(port)})
                       : concat({a.to_string(), ":", std::to_string(port)});
}

std::string kind_text(const host::Link& l) {
  if (l.loopback()) return "loopback";
  if (l.tunnel()) return l.kind.empty() ? std::string("tunnel") : concat({"tunnel (", l.kind, ")"});
  return l.kind.empty() ? "physical" : l.kind;
}

}  // namespace

std::string user_home() {
  // Under sudo, the browsers are the user's, not root's.
  if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user != nullptr && *sudo_user && ::geteuid() == 0) {
    if (const passwd* pw = ::getpwnam(sudo_user); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return {};
}

static json::value resolved_json(const host::Snapshot& s) {
  if (!s.resolved_running) {
    return s.resolved_error.empty() ? json::value(nullptr) : json::value(json::object{{"error", s.resolved_error}});
  }
  const host::ResolvedState& r = s.resolved;
  auto servers = [](const std::vector<host::ResolvedServer>& list) {
    json::array a;
    for (const host::ResolvedServer& x : list)
      a.push_back(json::object{{"ifindex", x.link}, {"address", x.address.to_string()}});
    return a;
  };
  json::array links;
  for (const host::ResolvedLink& l : r.links) {
    json::array domains, addresses;
    for (const host::ResolvedDomain& d : l.domains) {
      domains.push_back(json::object{{"domain", d.domain}, {"routing_only", d.routing_only}});
    }
    for (const net::IpAddress& a : l.servers) addresses.push_back(json::value(a.to_string()));
    const host::Link* link = s.link(l.index);
    links.push_back(json::object{{"ifindex", l.index},
                                 {"interface", link != nullptr ? link->name : std::string()},
                                 {"default_route", l.default_route},
                                 {"dns", std::move(addresses)},
                                 {"domains", std::move(domains)},
                                 {"llmnr", l.llmnr},
                                 {"mdns", l.mdns},
                                 {"dns_over_tls", l.dns_over_tls}});
  }
  json::object o{{"resolv_conf_mode", r.resolv_conf_mode},
                 {"dns_over_tls", r.dns_over_tls},
                 {"llmnr", r.llmnr},
                 {"mdns", r.mdns},
                 {"dns", servers(r.servers)},
                 {"fallback_dns", servers(r.fallback)},
                 {"links", std::move(links)}};
  o["current_dns"] =
      r.has_current ? json::value(json::object{{"ifindex", r.current.link}, {"address", r.current.address.to_string()}})
                    : json::value(nullptr);
  return o;
}

static json::array rules_json(const host::Snapshot& s) {
  json::array out;
  for (const host::RoutingRule& r : s.rules) {
    json::object o{{"family", r.family == 6 ? "ipv6" : "ipv4"},
                   {"priority", r.priority},
                   {"table", r.table},
                   {"action", r.action},
                   {"not", r.invert},
                   {"fwmark", r.fwmark},
                   {"fwmask", r.fwmask},
                   {"iif", r.input},
                   {"oif", r.output}};
    o["from"] = r.source ? json::value(r.source->to_string()) : json::value(nullptr);
    o["to"] = r.destination ? json::value(r.destination->to_string()) : json::value(nullptr);
    out.push_back(std::move(o));
  }
  return out;
}

static json::value network_manager_json(const host::Snapshot& s) {
  if (!s.network_manager_running) {
    return s.network_manager_error.empty() ? json::value(nullptr)
                                           : json::value(json::object{{"error", s.network_manager_error}});
  }
  json::array configuration;
  for (const host::NmDnsEntry& e : s.network_manager.configuration) {
    json::array servers;
    for (const net::IpAddress& a : e.nameservers) servers.push_back(json::value(a.to_string()));
    configuration.push_back(json::object{{"interface", e.interface},
                                         {"nameservers", std::move(servers)},
                                         {"domains", json::value_from(e.domains)},
                                         {"priority", e.priority},
                                         {"vpn", e.vpn}});
  }
  return json::object{{"mode", s.network_manager.mode},
                      {"rc_manager", s.network_manager.rc_manager},
                      {"configuration", std::move(configuration)}};
}

static json::object firewall_json(const host::Snapshot& s) {
  json::array checks;
  for (const host::Snapshot::FirewallCheck& c : s.firewall) {
    const char* outcome = c.answer.outcome == host::FirewallOutcome::passes    ? "passes"
                          : c.answer.outcome == host::FirewallOutcome::stopped ? "stopped"
                                                                               : "unknown";
    checks.push_back(json::object{{"interface", c.interface},
                                  {"transport", net::to_string(c.transport)},
                                  {"family", c.family == 6 ? "ipv6" : "ipv4"},
                                  {"outcome", outcome},
                                  {"where", c.answer.where},
                                  {"why", c.answer.why}});
  }
  return json::object{{"error", s.firewall_error.empty() ? json::value(nullptr) : json::value(s.firewall_error)},
                      {"checks", std::move(checks)}};
}

json::object inspect_json(const host::Snapshot& s, const std::vector<verdict::Finding>& findings) {
  json::array links, resolvers;
  for (const host::Link& l : s.links) {
    json::array addresses;
    for (const host::Address& a : s.addresses) {
      if (a.link == l.index)
        addresses.push_back(json::value(concat({a.address.to_string(), "/", std::to_string(a.prefix_length)})));
    }
    links.push_back(json::object{{"name", l.name},
                                 {"index", l.index},
                                 {"kind", l.kind},
                                 {"up", l.up()},
                                 {"tunnel", l.tunnel()},
                                 {"loopback", l.loopback()},
                                 {"addresses", std::move(addresses)}});
  }
  for (const host::ResolverRoute& r : s.resolvers) {
    json::object o{{"address", r.address.to_string()},
                   {"used", r.used},
                   {"stub_upstream", r.stub_upstream},
                   {"path", verdict::to_string(r.path)},
                   {"interface", r.interface}};
    o["gateway"] = r.gateway ? json::value(r.gateway->to_string()) : json::value(nullptr);
    o["source"] = r.source ? json::value(r.source->to_string()) : json::value(nullptr);
    if (!r.why_not.empty()) o["why_not"] = r.why_not;
    resolvers.push_back(std::move(o));
  }
  json::array tunnels;
  for (const host::Link* t : s.tunnels()) tunnels.push_back(json::value(t->name));
  json::array browsers;
  for (const host::BrowserDns& b : s.browsers) {
    browsers.push_back(json::object{{"browser", b.browser},
                                    {"profile", b.profile},
                                    {"mode", b.mode},
                                    {"resolver", b.resolver},
                                    {"bypasses_system", b.bypasses_system},
                                    {"settings", b.settings}});
  }
  bool leak = false;
  for (const verdict::Finding& f : findings) leak = leak || f.severity == verdict::Severity::leak;
  verdict::Verdict as_verdict{leak ? verdict::Outcome::leak : verdict::Outcome::no_leak, verdict::Certainty::likely,
                              findings};
  json::object v = verdict::verdict_json(as_verdict);
  return json::object{{"schema", 1},
                      {"tunnels", std::move(tunnels)},
                      {"links", std::move(links)},
                      {"resolvers", std::move(resolvers)},
                      {"search", json::value_from(s.resolv_conf.search)},
                      {"nsswitch_hosts", json::value_from(s.nsswitch.sources)},
                      {"browsers", std::move(browsers)},
                      {"rules", rules_json(s)},
                      {"firewall", firewall_json(s)},
                      {"resolved", resolved_json(s)},
                      {"network_manager", network_manager_json(s)},
                      {"findings", v["findings"]},
                      {"risk", leak},
                      {"exit_code", leak ? 1 : 0}};
}

std::string inspect_table(const host::Snapshot& s, const std::vector<verdict::Finding>& findings, bool colour) {
  std::ostringstream out;
  out << "Interfaces:\n";
  for (const host::Link& l : s.links) {
    out << "  " << l.name << "  " << kind_text(l) << (l.up() ? "" : ", down");
    for (const host::Address& a : s.addresses) {
      if (a.link == l.index) out << "  " << a.address.to_string() << "/" << static_cast<int>(a.prefix_length);
    }
    out << "\n";
  }
  out << "\nResolvers (/etc/resolv.conf" << (s.nsswitch.found ? ", hosts: " : "");
  for (size_t i = 0; i < s.nsswitch.sources.size(); ++i) out << (i ? " " : "") << s.nsswitch.sources[i];
  out << "):\n";
  if (s.resolvers.empty()) out << "  (none)\n";
  for (const host::ResolverRoute& r : s.resolvers) {
    out << "  " << r.address.to_string() << (r.stub_upstream ? " (behind the stub)" : "") << "  ";
    switch (r.path) {
      case verdict::ResolverPath::tunnel: out << "through the tunnel, " << r.interface; break;
      case verdict::ResolverPath::outside:
        out << "over " << r.interface;
        if (r.gateway) out << " via " << r.gateway->to_string();
        break;
      case verdict::ResolverPath::loopback: out << "on this machine"; break;
      case verdict::ResolverPath::unreachable: out << "unreachable: " << r.why_not; break;
      case verdict::ResolverPath::unknown: out << "unknown: " << r.why_not; break;
    }
    out << (r.used ? "" : "  (never asked: past the third)") << "\n";
  }
  out << "\nFindings:\n" << findings_text(findings, colour);
  return out.str();
}

std::string watch_line(const std::string& interface, const host::CapturedDns& p) {
  std::string line = interface + "  " + host::to_string(p.kind) + "/" + net::to_string(p.transport) + "  " +
                     endpoint(p.source, p.source_port) + " -> " + endpoint(p.destination, p.destination_port);
  if (p.kind == host::DnsKind::dot) return line + "  (encrypted: DNS over TLS)";
  std::array<char, 12> scratch{};
  line += p.response ? "  response " : "  ";
  line += std::string(dns::qtype_name(p.qtype, scratch)) + " " + p.name;
  return line;
}

json::object watch_json(const std::string& interface, const host::CapturedDns& p, long long time_ms) {
  std::array<char, 12> scratch{};
  json::object o{{"time_ms", time_ms},
                 {"interface", interface},
                 {"kind", host::to_string(p.kind)},
                 {"transport", net::to_string(p.transport)},
                 {"source", p.source.to_string()},
                 {"source_port", p.source_port},
                 {"destination", p.destination.to_string()},
                 {"destination_port", p.destination_port},
                 {"response", p.response}};
  if (p.decoded) {
    o["name"] = p.name;
    o["type"] = std::string(dns::qtype_name(p.qtype, scratch));
  }
  return o;
}

int run_inspect(const InspectAction& action) {
  std::unique_ptr<host::HostSource> source;
  if (!action.replay_from.empty()) {
    Result<std::unique_ptr<host::HostSource>> replay = host::replay_host(action.replay_from);
    if (!replay) {
      std::fprintf(stderr, "dnsleak: %s\n", replay.error().message.c_str());
      return kServerError;
    }
    source = std::move(*replay);
  } else {
    source = host::live_host();
  }
  if (!action.record_to.empty()) {
    Result<std::unique_ptr<host::HostSource>> recording = host::recording_host(std::move(source), action.record_to);
    if (!recording) {
      std::fprintf(stderr, "dnsleak: %s\n", recording.error().message.c_str());
      return kUsage;
    }
    source = std::move(*recording);
  }
  host::Snapshot snapshot = host::take_snapshot(*source, user_home());
  host::check_firewall(*source, snapshot);
  const std::vector<verdict::Finding> findings = host::inspect(snapshot);
  bool leak = false;
  for (const verdict::Finding& f : findings) leak = leak || f.severity == verdict::Severity::leak;
  if (action.output == OutputMode::json) {
    std::printf("%s\n", json::serialize(inspect_json(snapshot, findings)).c_str());
  } else if (action.output == OutputMode::table) {
    std::fputs(inspect_table(snapshot, findings, colour_on(stdout)).c_str(), stdout);
  }
  return leak ? kLeak : kNoLeak;
}

int run_watch(const WatchAction& action) {
  if (!action.read_from.empty()) {
    const Result<host::CaptureFileStats> stats =
        host::read_capture_file(action.read_from, [&](const host::CapturedDns& p) {
          if (action.output == OutputMode::json) {
            std::printf("%s\n", json::serialize(watch_json("file", p, 0)).c_str());
          } else {
            std::printf("%s\n", watch_line("file", p).c_str());
          }
        });
    if (!stats) {
      std::fprintf(stderr, "dnsleak: %s\n", stats.error().message.c_str());
      return kServerError;
    }
    std::fprintf(stderr, "dnsleak: %llu frame(s), %llu DNS packet(s), %llu malformed\n",
                 static_cast<unsigned long long>(stats->frames), static_cast<unsigned long long>(stats->dns),
                 static_cast<unsigned long long>(stats->undecodable));
    return stats->dns > 0 ? kLeak : kNoLeak;
  }
  const std::unique_ptr<host::HostSource> source = host::live_host();
  const host::Snapshot snapshot = host::take_snapshot(*source);
  std::vector<std::string> interfaces = action.interfaces.empty() ? non_tunnel_interfaces(snapshot) : action.interfaces;
  if (interfaces.empty()) {
    std::fprintf(stderr, "dnsleak: no interface outside a tunnel is up; name one with --interface\n");
    return kUsage;
  }
  Result<std::unique_ptr<host::LiveCapture>> opened = host::LiveCapture::open(interfaces);
  if (!opened) {
    std::fprintf(stderr, "dnsleak: %s\n", opened.error().message.c_str());
    if (opened.error().system_errno == EPERM) {
      std::fprintf(stderr,
                   "dnsleak: without it, `dnsleak inspect` still shows where each resolver is routed, and "
                   "`dnsleak test` judges by routes and the server\n");
      return kNoPrivilege;
    }
    return opened.error().system_errno == ENODEV ? kUsage : kServerError;
  }
  const std::unique_ptr<host::LiveCapture> capture = std::move(*opened);

  // The command runs with the privileges dnsleak was started with; dnsleak itself keeps none.
  pid_t child = -1;
  if (!action.command.empty()) {
    child = ::fork();
    if (child < 0) {
      std::fprintf(stderr, "dnsleak: cannot start %s: %s\n", action.command[0].c_str(), std::strerror(errno));
      return kServerError;
    }
    if (child == 0) {
      // Give the capture a moment to be live before the command's first lookup.
      ::usleep(100'000);
      std::vector<char*> argv;
      argv.reserve(action.command.size() + 1);
      for (const std::string& a : action.command) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "dnsleak: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
  }
  if (Result<void> dropped = net::clear_capabilities(); !dropped) {
    std::fprintf(stderr, "dnsleak: %s\n", dropped.error().message.c_str());
  }
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  if (action.output == OutputMode::table) {
    std::string names;
    for (const std::string& i : capture->interfaces()) names += (names.empty() ? "" : ", ") + i;
    std::fprintf(stderr, "dnsleak: watching DNS leaving on %s%s\n", names.c_str(),
                 action.command.empty() ? (action.duration_s > 0 ? "" : " (Ctrl-C stops)") : " while the command runs");
  }
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  std::optional<Clock::time_point> ends;
  if (action.duration_s > 0) ends = started + std::chrono::milliseconds(static_cast<long>(action.duration_s * 1000));
  uint64_t seen = 0;
  std::set<std::string> names;
  int command_status = -1;
  for (;;) {
    const Result<void> polled = capture->poll(100, [&](const std::string& interface, const host::CapturedDns& p) {
      ++seen;
      if (p.decoded) names.insert(p.name);
      if (action.output == OutputMode::json) {
        std::printf("%s\n", json::serialize(watch_json(interface, p, net::unix_now_ms())).c_str());
      } else if (action.output == OutputMode::table) {
        std::printf("%s\n", watch_line(interface, p).c_str());
      }
      std::fflush(stdout);
    });
    if (!polled) {
      std::fprintf(stderr, "dnsleak: %s\n", polled.error().message.c_str());
      return kServerError;
    }
    if (g_interrupted != 0) break;
    if (ends && Clock::now() >= *ends) break;
    if (child > 0 && command_status < 0) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) {
        command_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        // What the command sent last may still be on its way out: a short grace.
        ends = Clock::now() + std::chrono::milliseconds(300);
      }
    }
  }
  if (child > 0 && command_status < 0) {
    ::kill(child, SIGTERM);
    int status = 0;
    ::waitpid(child, &status, 0);
  }
  if (action.output != OutputMode::quiet) {
    std::fprintf(stderr, "dnsleak: %llu DNS packet(s) seen leaving, %zu name(s)%s%s\n",
                 static_cast<unsigned long long>(seen), names.size(),
                 capture->undecodable() > 0 ? ", some malformed" : "",
                 command_status > 0 ? concat({", the command exited ", std::to_string(command_status)}).c_str() : "");
  }
  return seen > 0 ? kLeak : kNoLeak;
}

}  // namespace dnsleak::cli
