// `dnsleak test` against a fake dnsleakd and a fake system resolver: the whole flow from creating
// the test to the verdict, the failures it must name, and its deadlines (the lab runs it for real).
#include "cli/leak_test.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <mutex>
#include <set>

#include "cli/public_test.h"
#include "dns/name.h"
#include "testname/test_token.h"

namespace dnsleak::cli {
namespace {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class FakeSubscription final : public probe::EventSubscription {
 public:
  explicit FakeSubscription(bool ended) : ended_(ended) {}
  void stop() noexcept override {}
  [[nodiscard]] bool ended() const noexcept override { return ended_; }

 private:
  bool ended_;
};

// A dnsleakd as the client sees it over HTTP: replies set per test, every request kept.
class FakeServer final : public probe::HttpClient {
 public:
  FakeServer() {
    const testname::TokenAuthority tokens("fake server secret");
    token = tokens.issue(1'800'000'000).value().text();
    json::array names;
    for (const char* probe : {"p0", "p1", "p2", "v6", "v4", "tcp"}) {
      names.push_back(json::object{{"name", token + "-" + probe + ".leak.test"}, {"kind", "plain"}});
    }
    create_reply = {201,
                    json::serialize(json::object{{"id", "the-id"},
                                                 {"names", names},
                                                 {"probe_hosts", json::object{{"ipv4", token + "-4.leak.test"},
                                                                              {"ipv6", token + "-6.leak.test"}}}}),
                    "", ""};
    results_reply = {200, results_json("10.77.20.53", 64501), "", ""};
  }

  static std::string results_json(const char* resolver, int asn) {
    return json::serialize(json::object{
        {"resolvers", json::array{json::object{{"address", resolver}, {"network", json::object{{"asn", asn}}}}}},
        {"egress", json::array{json::object{{"address", "10.77.0.3"}, {"network", json::object{{"asn", 64501}}}}}}});
  }

  probe::HttpReply fetch(const probe::HttpFetch& request) override {
    std::lock_guard lock(mutex);
    requests.push_back(request);
    if (request.method == "POST") return create_reply;
    if (request.url.ends_with("/probe")) return {204, "", "", ""};
    return results_reply;
  }
  std::unique_ptr<probe::EventSubscription> subscribe(std::string url, long /*timeout_ms*/,
                                                      probe::EventHandler on_event) override {
    std::lock_guard lock(mutex);
    subscribed = std::move(url);
    handler = std::move(on_event);
    return std::make_unique<FakeSubscription>(stream_ended);
  }
  // A resolver asked for `name`: the server's live stream says so.
  void observe(const std::string& name) {
    probe::EventHandler h;
    {
      std::lock_guard lock(mutex);
      h = handler;
    }
    const std::string probe = name.substr(name.find('-') + 1, name.find('.') - name.find('-') - 1);
    if (h) h("observation", json::serialize(json::object{{"probe", probe}}));
  }
  std::vector<probe::HttpFetch> requests_made() {
    std::lock_guard lock(mutex);
    return requests;
  }

  std::string token;
  probe::HttpReply create_reply, results_reply;
  bool stream_ended = false;
  std::mutex mutex;
  std::vector<probe::HttpFetch> requests;
  std::string subscribed;
  probe::EventHandler handler;
};

// The system resolver: names answer (and reach the fake server) unless listed as failing; with
// `silent`, they answer without the server hearing of it (a cached or foreign answer).
class FakeResolver final : public probe::NameResolver {
 public:
  explicit FakeResolver(FakeServer* server) : server_(server) {}
  std::vector<probe::LookupResult> resolve_all(const std::vector<std::string>& names, int family,
                                               long /*timeout_ms*/) override {
    family_asked = family;
    std::vector<probe::LookupResult> out;
    for (const std::string& name : names) {
      const bool fails = failing.contains(name.substr(name.find('-') + 1, name.find('.') - name.find('-') - 1));
      out.push_back({name, fails ? std::vector<std::string>{} : std::vector<std::string>{"10.77.0.80"},
                     fails ? "Name or service not known" : "", 3});
      if (!fails && !silent && server_ != nullptr) server_->observe(name);
    }
    return out;
  }
  probe::EchoAnswer ask_echo(const probe::EchoName& echo) override {
    const auto it = echo_answers.find(echo.name);
    return it != echo_answers.end() ? it->second : probe::EchoAnswer{{}, "", "no answer"};
  }

  std::set<std::string> failing;  // probe labels whose names fail
  bool silent = false;
  int family_asked = -1;
  std::map<std::string, probe::EchoAnswer> echo_answers;

 private:
  FakeServer* server_;
};

long elapsed_ms(Clock::time_point since) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

LeakTestOptions options_for(const std::string& server, long timeout_ms = 5000) {
  LeakTestOptions o;
  o.server = server;
  o.timeout_ms = timeout_ms;
  return o;
}

TEST(LeakTest, RunsTheWholeTestAndJudgesLocally) {
  FakeServer server;
  FakeResolver resolver(&server);
  const auto started = Clock::now();
  const LeakTestReport r = run_leak_test(options_for("http://leak.test:8080/"), server, resolver);
  const long took = elapsed_ms(started);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.server, "http://leak.test:8080");
  EXPECT_EQ(r.test_id, "the-id");
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::no_leak);
  EXPECT_EQ(r.exit_code(), kNoLeak);
  EXPECT_EQ(r.lookups.size(), 6u);
  EXPECT_EQ(r.probe4.status, 204);
  EXPECT_EQ(r.probe6.status, 204);
  EXPECT_EQ(resolver.family_asked, 0);
  // Every name seen at once, then the 300 ms quiet window for late parallel resolvers: not the
  // whole 5 s timeout.
  EXPECT_GE(took, 300);
  EXPECT_LT(took, 3000);

  EXPECT_EQ(server.subscribed, "http://leak.test:8080/api/v1/tests/the-id/events");
  std::set<std::string> urls;
  for (const probe::HttpFetch& f : server.requests_made()) {
    urls.insert(f.method + " " + f.url);
    if (f.method == "POST") {
      EXPECT_EQ(f.body, R"({"type":"standard"})");
    }
    if (f.url.ends_with("/probe")) {
      EXPECT_EQ(f.family, f.url.find("-4.") != std::string::npos ? 4 : 6);
    }
  }
  EXPECT_EQ(urls, (std::set<std::string>{"POST http://leak.test:8080/api/v1/tests",
                                         "GET http://" + server.token + "-4.leak.test:8080/probe",
                                         "GET http://" + server.token + "-6.leak.test:8080/probe",
                                         "GET http://leak.test:8080/api/v1/tests/the-id"}));
}

TEST(LeakTest, AskedForOneFamilyProbesOnlyThat) {
  FakeServer server;
  FakeResolver resolver(&server);
  LeakTestOptions o = options_for("https://leak.test");
  o.family = 4;
  o.extended = true;
  const LeakTestReport r = run_leak_test(o, server, resolver);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(resolver.family_asked, 4);
  EXPECT_EQ(r.probe6.status, 0);  // not probed
  size_t probes = 0;
  for (const probe::HttpFetch& f : server.requests_made()) {
    if (f.url.ends_with("/probe")) {
      ++probes;
      EXPECT_EQ(f.url, "https://" + server.token + "-4.leak.test/probe");
    }
    if (f.method == "POST") {
      EXPECT_EQ(f.body, R"({"type":"extended"})");
    }
  }
  EXPECT_EQ(probes, 1u);
}

TEST(LeakTest, NamesWhatFailedWithTheServer) {
  struct Case {
    probe::HttpReply create;
    probe::HttpReply results;
    std::string error;
  };
  const std::string ok_results = FakeServer::results_json("10.77.20.53", 64501);
  const std::vector<Case> cases{
      {{0, "", "Could not resolve host: leak.test", ""},
       {},
       "cannot reach dnsleakd at http://leak.test: Could not resolve host: leak.test"},
      {{500, "oops", "", ""}, {}, "dnsleakd at http://leak.test refused to create a test (HTTP 500)"},
      {{201, "not json", "", ""}, {}, "dnsleakd at http://leak.test answered with something that is not a test"},
      {{201, R"({"id":"x","names":[{"name":5}],"probe_hosts":{"ipv4":"a","ipv6":"b"}})", "", ""},
       {},
       "dnsleakd at http://leak.test answered with something that is not a test"},
      {{}, {404, "{}", "", ""}, "dnsleakd at http://leak.test did not give the results (HTTP 404)"},
      {{}, {0, "", "Operation timed out", ""}, "cannot read the results from http://leak.test: Operation timed out"},
      {{}, {200, "<html>", "", ""}, "dnsleakd at http://leak.test sent results that are not JSON"},
  };
  for (const Case& c : cases) {
    FakeServer server;
    if (c.create.status != 0 || !c.create.error.empty()) server.create_reply = c.create;
    if (c.results.status != 0 || !c.results.error.empty()) server.results_reply = c.results;
    FakeResolver resolver(&server);
    const LeakTestReport r = run_leak_test(options_for("http://leak.test"), server, resolver);
    EXPECT_EQ(r.error, c.error);
    EXPECT_EQ(r.exit_code(), kServerError) << c.error;
  }
}

TEST(LeakTest, WaitsOnlyForTheNamesThatResolved) {
  FakeServer server;
  FakeResolver resolver(&server);
  resolver.failing = {"p1", "v6"};
  const auto started = Clock::now();
  const LeakTestReport r = run_leak_test(options_for("http://leak.test", 8000), server, resolver);
  EXPECT_LT(elapsed_ms(started), 3000);  // not the 8 s deadline
  ASSERT_EQ(r.error, "");
  size_t failed = 0;
  for (const probe::LookupResult& l : r.lookups) failed += l.addresses.empty();
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::no_leak);
}

TEST(LeakTest, AServerThatNeverHearsStillEndsAtTheDeadline) {
  FakeServer server;
  server.results_reply = {200, R"({"resolvers":[],"egress":[]})", "", ""};
  FakeResolver resolver(&server);
  resolver.silent = true;
  const auto started = Clock::now();
  const LeakTestReport r = run_leak_test(options_for("http://leak.test", 1000), server, resolver);
  const long took = elapsed_ms(started);
  EXPECT_GE(took, 950);
  EXPECT_LT(took, 2500);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::inconclusive);
  EXPECT_EQ(r.exit_code(), kInconclusive);
  ASSERT_FALSE(r.verdict.findings.empty());
  EXPECT_EQ(r.verdict.findings.front().code, "no_resolver_seen");
}

TEST(LeakTest, WithoutALiveStreamItGivesTheResolversASecond) {
  FakeServer server;
  server.stream_ended = true;  // refused at the server's cap
  FakeResolver resolver(&server);
  resolver.silent = true;
  const auto started = Clock::now();
  const LeakTestReport r = run_leak_test(options_for("http://leak.test", 10'000), server, resolver);
  const long took = elapsed_ms(started);
  EXPECT_GE(took, 900);
  EXPECT_LT(took, 3000);                                    // not the 10 s deadline
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::no_leak);  // the results still hold the resolver
}

TEST(LeakTest, ExpectationsAndTheBaselineDecide) {
  FakeServer server;
  FakeResolver resolver(&server);
  LeakTestOptions o = options_for("http://leak.test");
  o.expected.asns = {64500};
  EXPECT_EQ(run_leak_test(o, server, resolver).verdict.outcome, verdict::Outcome::leak);

  FakeServer isp;
  isp.results_reply = {200, FakeServer::results_json("10.77.10.53", 64501), "", ""};
  FakeResolver isp_resolver(&isp);
  LeakTestOptions b = options_for("http://leak.test");
  b.baseline.resolvers = {net::parse_ip("10.77.10.53").value()};
  const LeakTestReport r = run_leak_test(b, isp, isp_resolver);
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::leak);
  bool flagged = false;
  for (const verdict::Finding& f : r.verdict.findings) flagged |= f.code == "baseline_resolver_seen";
  EXPECT_TRUE(flagged);
}

TEST(EvidenceFromResults, ReadsOnlyWellFormedEntries) {
  const json::value results = json::parse(R"({
    "resolvers": [{"address": "10.77.20.53", "network": {"asn": 64501, "organisation": "VPN"},
                   "ecs": "198.51.100.7/24"},
                  {"address": "not an address"}, {"network": {}}, 7],
    "egress": [{"address": "fd77::2", "network": {"asn": 64500}}]})");
  const verdict::Evidence e = evidence_from_results(results);
  ASSERT_EQ(e.resolvers.size(), 1u);
  EXPECT_EQ(e.resolvers[0].network.asn, 64501u);
  EXPECT_EQ(e.resolvers[0].network.organisation, "VPN");
  ASSERT_TRUE(e.resolvers[0].client_subnet);
  EXPECT_EQ(e.resolvers[0].client_subnet->source_prefix, 24);
  EXPECT_EQ(e.resolvers[0].client_subnet->address[3], 0);  // host bits cleared
  ASSERT_EQ(e.egress.size(), 1u);
  EXPECT_EQ(e.egress[0].address.family, 6);
  EXPECT_TRUE(evidence_from_results(json::parse("[]")).resolvers.empty());
}

TEST(PublicTest, JudgesTheEchoedResolversWithTheSharedVerdict) {
  auto resolver = std::make_shared<FakeResolver>(nullptr);
  resolver->echo_answers["a.example"] = {{"10.77.20.53"}, "", ""};
  resolver->echo_answers["b.example"] = {{"10.77.20.53", "10.77.10.53"}, "198.51.100.0/24", ""};
  const std::vector<probe::EchoName> names{{"a.example", true}, {"b.example", true}, {"c.example", true}};

  const PublicTestReport plain = run_public_test(names, {}, 2000, resolver);
  ASSERT_EQ(plain.answers.size(), 3u);
  EXPECT_EQ(plain.answers[2].error, "no answer");
  EXPECT_EQ(plain.verdict.outcome, verdict::Outcome::inconclusive);  // nothing to compare with
  ASSERT_EQ(plain.verdict.findings.size(), 1u);                      // no network to compare, so no heuristic either
  EXPECT_EQ(plain.verdict.findings.front().code, "public_mode_limits");
  EXPECT_EQ(plain.exit_code(), kInconclusive);

  verdict::Expectations vpn;
  vpn.resolvers = {net::parse_ip("10.77.20.53").value()};
  const PublicTestReport judged = run_public_test(names, vpn, 2000, resolver);
  EXPECT_EQ(judged.verdict.outcome, verdict::Outcome::leak);  // 10.77.10.53 is not expected
  EXPECT_EQ(judged.exit_code(), kLeak);
  size_t unexpected = 0;
  for (const verdict::Finding& f : judged.verdict.findings) unexpected += f.code == "unexpected_resolver";
  EXPECT_EQ(unexpected, 1u);  // each resolver judged once, though two names showed 10.77.20.53

  const PublicTestReport none = run_public_test(names, vpn, 2000, std::make_shared<FakeResolver>(nullptr));
  EXPECT_EQ(none.verdict.outcome, verdict::Outcome::inconclusive);
}

TEST(EventStreamParser, SplitsEventsAcrossChunks) {
  std::vector<std::pair<std::string, std::string>> events;
  probe::EventStreamParser parser(
      [&](const std::string& type, const std::string& data) { events.emplace_back(type, data); });
  parser.feed("event: observation\r\ndata: {\"probe\"");
  parser.feed(":\"p0\"}\r\n\r\n: a comment\n\ndata: one\ndata: two\n\nevent:end\ndata:\n");
  EXPECT_EQ(events.size(), 2u);
  parser.feed("\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], std::make_pair(std::string("observation"), std::string(R"({"probe":"p0"})")));
  EXPECT_EQ(events[1], std::make_pair(std::string("message"), std::string("one\ntwo")));
  EXPECT_EQ(events[2].first, "end");
}

}  // namespace
}  // namespace dnsleak::cli

namespace dnsleak::cli {
namespace {

// Stands in for the machine: records when it was started and with which names it was finished.
class FakeObserver final : public LocalObserver {
 public:
  explicit FakeObserver(FakeResolver* resolver) : resolver_(resolver) {}
  void start() override {
    started_before_lookups = resolver_->family_asked == -1;
    started = true;
  }
  verdict::LocalEvidence finish(const std::vector<std::string>& test_names) override {
    names = test_names;
    verdict::LocalEvidence e;
    e.gathered = true;
    e.tunnels = {"tun0"};
    e.captured = true;
    e.capture_interfaces = {"eth0"};
    e.leaks.push_back({test_names.front(), "eth0", *net::parse_ip("10.77.10.53")});
    return e;
  }
  bool started = false, started_before_lookups = false;
  std::vector<std::string> names;

 private:
  FakeResolver* resolver_;
};

TEST(LeakTest, LocalEvidenceIsGatheredAroundTheLookupsAndDecides) {
  FakeServer server;
  FakeResolver resolver(&server);
  resolver.family_asked = -1;  // set by the first lookup
  FakeObserver local(&resolver);
  const LeakTestReport r = run_leak_test(options_for("http://leak.test"), server, resolver, &local);
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(local.started);
  EXPECT_TRUE(local.started_before_lookups);
  EXPECT_EQ(local.names.size(), 6u);
  EXPECT_TRUE(r.local.gathered);
  // The server's evidence alone says no leak; the test's own name seen leaving on eth0 proves one.
  EXPECT_EQ(r.verdict.outcome, verdict::Outcome::leak);
  EXPECT_EQ(r.verdict.certainty, verdict::Certainty::proven);
  EXPECT_EQ(r.exit_code(), kLeak);
}

}  // namespace
}  // namespace dnsleak::cli
