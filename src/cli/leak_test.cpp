#include "cli/leak_test.h"

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "dns/name.h"
#include "testname/test_token.h"

namespace dnsleak::cli {
namespace json = boost::json;
namespace {

using Clock = std::chrono::steady_clock;

// scheme://host[:port] of the server, for building probe URLs on the same scheme and port.
struct BaseUrl {
  std::string scheme, port;
};

BaseUrl split_base(const std::string& url) {
  BaseUrl b;
  const size_t colon = url.find("://");
  b.scheme = colon == std::string::npos ? "http" : url.substr(0, colon);
  const std::string rest = colon == std::string::npos ? url : url.substr(colon + 3);
  const std::string authority = rest.substr(0, rest.find('/'));
  const size_t bracket = authority.rfind(']');
  const size_t port = authority.rfind(':');
  if (port != std::string::npos && (bracket == std::string::npos || port > bracket)) b.port = authority.substr(port);
  return b;
}

long since_ms(Clock::time_point start) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

verdict::Network network_from(const json::value& v) {
  verdict::Network n;
  if (!v.is_object()) return n;
  const json::object& o = v.as_object();
  if (const auto* asn = o.if_contains("asn"); asn && asn->is_int64()) n.asn = static_cast<uint32_t>(asn->as_int64());
  if (const auto* asn = o.if_contains("asn"); asn && asn->is_uint64()) n.asn = static_cast<uint32_t>(asn->as_uint64());
  auto text = [&](const char* key) {
    const auto* s = o.if_contains(key);
    return s && s->is_string() ? std::string(s->as_string()) : std::string();
  };
  n.organisation = text("organisation");
  n.country = text("country");
  n.public_operator = text("public_operator");
  return n;
}

// The shape of a created test, checked whole before any field is used (the server is not trusted).
bool is_test(const json::value& test) {
  if (!test.is_object()) return false;
  const json::object& o = test.as_object();
  const auto* id = o.if_contains("id");
  const auto* names = o.if_contains("names");
  const auto* hosts = o.if_contains("probe_hosts");
  if (!id || !id->is_string() || !names || !names->is_array() || !hosts || !hosts->is_object()) return false;
  for (const char* family : {"ipv4", "ipv6"}) {
    const auto* host = hosts->as_object().if_contains(family);
    if (!host || !host->is_string()) return false;
  }
  for (const json::value& n : names->as_array()) {
    if (!n.is_object() || !n.as_object().if_contains("name") || !n.at("name").is_string()) return false;
  }
  return true;
}

std::string create_body(const LeakTestOptions& options) {
  json::object body{{"type", options.extended ? "extended" : "standard"}};
  if (options.count > 0) body["count"] = options.count;
  return json::serialize(body);
}

}  // namespace

int LeakTestReport::exit_code() const noexcept { return error.empty() ? exit_code_for(verdict.outcome) : kServerError; }

verdict::Evidence evidence_from_results(const json::value& results) {
  verdict::Evidence e;
  if (!results.is_object()) return e;
  const json::object& o = results.as_object();
  // Each entry of "resolvers" and "egress": {"address": ..., "network": {...}, ...}.
  auto each_entry = [&](const char* key, auto use) {
    const auto* list = o.if_contains(key);
    if (list == nullptr || !list->is_array()) return;
    for (const json::value& entry : list->as_array()) {
      if (!entry.is_object() || !entry.as_object().if_contains("address") || !entry.at("address").is_string()) continue;
      const Result<net::IpAddress> address = net::parse_ip(entry.at("address").as_string());
      if (!address) continue;
      const auto* network = entry.as_object().if_contains("network");
      use(entry.as_object(), *address, network_from(network ? *network : json::value()));
    }
  };
  each_entry("resolvers", [&](const json::object& entry, const net::IpAddress& address, verdict::Network network) {
    verdict::ResolverEvidence evidence{address, std::move(network), {}};
    if (const auto* ecs = entry.if_contains("ecs"); ecs && ecs->is_string()) {
      const std::string text(ecs->as_string());
      const Result<net::Prefix> prefix = net::parse_prefix(text, net::HostBits::clear);
      if (prefix && text.find('/') != std::string::npos) {
        dns::ClientSubnet subnet;
        subnet.family = prefix->address.family == 6 ? 2 : 1;
        subnet.source_prefix = prefix->length;
        subnet.address = prefix->address.bytes;
        evidence.client_subnet = subnet;
        if (const auto* n = entry.if_contains("ecs_network"); n && n->is_object()) {
          evidence.client_subnet_network = network_from(*n);
        }
      }
    }
    e.resolvers.push_back(std::move(evidence));
  });
  each_entry("egress", [&](const json::object&, const net::IpAddress& address, verdict::Network network) {
    e.egress.push_back({address, std::move(network)});
  });
  return e;
}

LeakTestReport run_leak_test(const LeakTestOptions& options, probe::HttpClient& http, probe::NameResolver& resolver,
                             LocalObserver* local) {
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::milliseconds(options.timeout_ms);
  auto left_ms = [&] {
    return std::max<long>(
        1, static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  LeakTestReport report;
  std::string base = options.server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  report.server = base;
  auto progress = [&](const char* what) {
    if (options.progress) std::fprintf(stderr, "\r\033[K%s", what);
  };
  // The test cannot go on: say why, in the words the user sees.
  auto fail = [&](std::string why) {
    report.error = std::move(why);
    report.duration_ms = since_ms(started);
    return report;
  };
  // What a failed request was: unreachable (no HTTP status) or refused (an HTTP error).
  auto http_failure = [&](const probe::HttpReply& r, const std::string& unreachable, const std::string& refused) {
    return r.status == 0 ? unreachable + ": " + r.error : refused + " (HTTP " + std::to_string(r.status) + ")";
  };

  progress("creating a test…");
  const probe::HttpReply created =
      http.fetch({"POST", base + "/api/v1/tests", create_body(options), std::min<long>(left_ms(), 5000), 0, ""});
  if (created.status != 201) {
    return fail(
        http_failure(created, "cannot reach dnsleakd at " + base, "dnsleakd at " + base + " refused to create a test"));
  }
  boost::system::error_code ec;
  const json::value test = json::parse(created.body, ec);
  if (ec || !is_test(test)) return fail("dnsleakd at " + base + " answered with something that is not a test");
  report.test_id = std::string(test.at("id").as_string());

  // Listen before looking anything up, so no observation is missed.
  std::mutex mutex;
  std::condition_variable changed;
  std::set<std::string> probes_seen;
  Clock::time_point last_event = Clock::now();
  const std::unique_ptr<probe::EventSubscription> events =
      http.subscribe(base + "/api/v1/tests/" + report.test_id + "/events", options.timeout_ms,
                     [&](const std::string& type, const std::string& data) {
                       if (type != "observation") return;
                       boost::system::error_code parse_error;
                       const json::value o = json::parse(data, parse_error);
                       if (parse_error || !o.is_object()) return;
                       const auto* probe = o.as_object().if_contains("probe");
                       if (probe == nullptr || !probe->is_string()) return;
                       std::lock_guard lock(mutex);
                       probes_seen.insert(std::string(probe->as_string()));
                       last_event = Clock::now();
                       changed.notify_all();
                     });

  std::vector<std::string> names;
  std::map<std::string, std::string> probe_of;  // name -> probe label
  for (const json::value& n : test.at("names").as_array()) {
    const std::string name(n.at("name").as_string());
    names.push_back(name);
    // The event stream names each query's probe: a name is seen when its probe is.
    dns::DnsName parsed;
    if (!parsed.from_text(name) || parsed.label_count() == 0) continue;
    if (const auto label = testname::split_test_label(parsed.label(0))) probe_of[name] = label->probe.view();
  }
  // The ISP's network, from each interface outside the tunnel that has a default route: the
  // server's whoami, asked over a socket bound to that interface (SO_BINDTODEVICE, open to every
  // user since Linux 5.7). It runs beside the lookups.
  std::vector<LocalObserver::UnderlayTarget> underlay_targets;
  std::vector<verdict::UnderlayProbe> underlay;
  std::vector<std::thread> underlay_threads;
  if (local != nullptr) {
    progress("reading this machine's routes…");
    local->start();
    underlay_targets = local->underlay_targets();
    underlay.resize(underlay_targets.size());
    for (size_t i = 0; i < underlay_targets.size(); ++i) {
      underlay[i].interface = underlay_targets[i].interface;
      underlay[i].family = underlay_targets[i].family;
      const std::string bind = "if!" + underlay_targets[i].interface;
      underlay_threads.emplace_back([&, i, bind] {
        const probe::HttpReply r =
            http.fetch({"GET", base + "/api/v1/whoami", "", std::min<long>(left_ms(), 2500), underlay[i].family, bind});
        boost::system::error_code parse_error;
        const json::value v = r.status == 200 ? json::parse(r.body, parse_error) : json::value();
        const json::value* address = v.is_object() ? v.as_object().if_contains("address") : nullptr;
        if (r.status != 200 || parse_error || address == nullptr || !address->is_string()) {
          underlay[i].error = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
          return;
        }
        const Result<net::IpAddress> parsed = net::parse_ip(address->as_string());
        if (!parsed) {
          underlay[i].error = "the server named no address";
          return;
        }
        underlay[i].address = *parsed;
        const json::value* network = v.as_object().if_contains("network");
        underlay[i].network = network_from(network ? *network : json::value());
      });
    }
  }
  progress("looking up the test names…");
  report.lookups = resolver.resolve_all(names, options.family, std::min<long>(left_ms(), options.timeout_ms));

  // The HTTP probes: the same scheme and port as the server, one family each.
  progress("probing your exits…");
  const BaseUrl b = split_base(base);
  auto probe_url = [&](const char* family) {
    return b.scheme + "://" + std::string(test.at("probe_hosts").at(family).as_string()) + b.port + "/probe";
  };
  // Both built here, before the IPv6 probe's thread starts.
  const std::string probe4_url = probe_url("ipv4");
  const std::string probe6_url = probe_url("ipv6");
  std::thread probe6_thread;
  if (options.family != 4) {
    probe6_thread = std::thread([&] {
      const probe::HttpReply r =
          http.fetch({"GET", probe6_url, "", std::min<long>(left_ms(), 3000), 6, options.interface});
      report.probe6 = {r.status, r.error};
    });
  }
  if (options.family != 6) {
    const probe::HttpReply r =
        http.fetch({"GET", probe4_url, "", std::min<long>(left_ms(), 3000), 4, options.interface});
    report.probe4 = {r.status, r.error};
  }
  if (probe6_thread.joinable()) probe6_thread.join();

  // Wait for every resolved name's observation, then for stragglers (parallel resolvers) until
  // the stream has been quiet a moment; never past the deadline.
  progress("waiting for the resolvers' queries…");
  std::set<std::string> expected;
  for (const probe::LookupResult& l : report.lookups) {
    if (!l.addresses.empty() && probe_of.contains(l.name)) expected.insert(probe_of[l.name]);
  }
  {
    std::unique_lock lock(mutex);
    constexpr auto kQuiet = std::chrono::milliseconds(300);
    while (Clock::now() < deadline) {
      const bool all_seen = std::includes(probes_seen.begin(), probes_seen.end(), expected.begin(), expected.end());
      if (all_seen && Clock::now() - last_event >= kQuiet) break;
      if (events->ended()) {
        // No live stream (refused at the server's cap, or cut): give the resolvers a second,
        // then take whatever the results hold.
        changed.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::seconds(1)));
        break;
      }
      changed.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  events->stop();
  for (std::thread& t : underlay_threads) t.join();
  if (local != nullptr) {
    report.local = local->finish(names);
    report.local.underlay = underlay;
    for (const verdict::UnderlayProbe& u : underlay) {
      if (u.address) continue;
      report.local.unchecked.push_back(
          concat({"your ISP's network could not be learnt from ", u.interface, " (IPv", std::to_string(u.family),
                  "): ", u.error, "; a firewall, or `dnsleak guard`, may stop traffic outside the tunnel"}));
    }
    if (underlay.empty() && !report.local.tunnels.empty()) {
      report.local.unchecked.emplace_back(
          "your ISP's network could not be learnt: no interface outside the tunnel has a default route");
    }
  }

  progress("reading the results…");
  const probe::HttpReply results =
      http.fetch({"GET", base + "/api/v1/tests/" + report.test_id, "", std::max<long>(left_ms(), 2000), 0, ""});
  progress("");
  if (results.status != 200) {
    return fail(http_failure(results, "cannot read the results from " + base,
                             "dnsleakd at " + base + " did not give the results"));
  }
  report.results = json::parse(results.body, ec);
  if (ec) return fail("dnsleakd at " + base + " sent results that are not JSON");
  verdict::Evidence evidence = evidence_from_results(report.results);
  evidence.expected = options.expected;
  evidence.baseline = options.baseline;
  evidence.local = report.local;
  report.verdict = verdict::judge(evidence);
  report.duration_ms = since_ms(started);
  return report;
}

}  // namespace dnsleak::cli
