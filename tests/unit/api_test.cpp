// The HTTP API as a function from a request to a response: every route and every error status,
// without sockets (the Beast transport is covered end to end in tests/e2e/test_http_api.py).
#include "http/api.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>

#include "store/store.h"
#include "test_clock.h"

namespace dnsleak::http {
namespace {
namespace json = boost::json;

const std::string kLabData = std::string(DNSLEAK_SOURCE_DIR) + "/tests/lab/data/";
constexpr int64_t kNowMs = 1'800'000'000'000;

net::IpAddress ip(const char* text) { return net::parse_ip(text).value(); }

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : tokens_("api test secret, long enough", 3600), clock_(kNowMs) {
    (void)zone_.from_text("leak.test");
    store::StoreOptions options;
    options.max_observations = 1024;
    options.zone = zone_;
    options.clock = &clock_;
    store_ = store::make_store(options).value();
    enricher_ = enrich::Enricher::load(
                    {{kLabData + "asn.csv"}, {kLabData + "country.csv"}, {kLabData + "resolver-operators.csv"}})
                    .value();
    api_ = make_api(std::string(DNSLEAK_SOURCE_DIR) + "/web");
  }

  std::unique_ptr<Api> make_api(std::string web_root) {
    ApiConfig config;
    config.zone = zone_;
    config.web_root = std::move(web_root);
    return std::make_unique<Api>(config, tokens_, *store_, *enricher_, [] { return std::string("metric 1\n"); });
  }

  HttpResponse request(std::string method, std::string target, std::string body = "", std::string host = "leak.test",
                       const char* remote = "10.77.0.3") const {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.host = std::move(host);
    r.remote = ip(remote);
    r.now_ms = clock_.now_ms;
    return api_->handle(r);
  }

  static json::value body_of(const HttpResponse& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v;
  }
  static std::string error_code_of(const HttpResponse& r) {
    const json::value v = body_of(r);
    if (!v.is_object() || !v.as_object().contains("error")) return "(no error object) " + r.body;
    return std::string(v.at("error").at("code").as_string());
  }

  // A created test: its id and its token (read back from the first name).
  std::pair<std::string, testname::TestToken> create() {
    const HttpResponse r = request("POST", "/api/v1/tests", R"({"type":"standard"})");
    EXPECT_EQ(r.status, 201) << r.body;
    const json::value v = body_of(r);
    const std::string id(v.at("id").as_string());
    const std::string name(v.at("names").at(0).at("name").as_string());
    const auto token =
        testname::decode_token_text(std::span(reinterpret_cast<const uint8_t*>(name.data()), testname::kTokenTextSize));
    EXPECT_TRUE(token);
    return {id, token.value_or(testname::TestToken{})};
  }

  void observe(const testname::TestToken& token, const char* resolver) {
    store::ResolverObservation o;
    o.token = token;
    o.probe = *testname::ProbeLabel::parse({reinterpret_cast<const uint8_t*>("p0"), 2});
    o.time_ms = clock_.now_ms;
    o.resolver = ip(resolver);
    o.resolver_port = 5353;
    o.qtype = 1;
    (void)o.qname.from_text(token.text() + "-p0.leak.test");
    store_->record({&o, 1});
  }

  dns::DnsName zone_;
  testname::TokenAuthority tokens_;
  testing::TestClock clock_;
  std::unique_ptr<store::ObservationStore> store_;
  std::unique_ptr<enrich::Enricher> enricher_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, CreatesStandardExtendedAndCountedTests) {
  for (const auto& [body, plain] : std::vector<std::pair<std::string, size_t>>{
           {"", 6}, {R"({"type":"standard"})", 6}, {R"({"type":"extended"})", 36}, {R"({"count":10})", 10}}) {
    const HttpResponse r = request("POST", "/api/v1/tests", body);
    ASSERT_EQ(r.status, 201) << body << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    const json::value v = body_of(r);
    const json::array& names = v.at("names").as_array();
    ASSERT_EQ(names.size(), plain + 3) << body;
    size_t plain_seen = 0;
    for (const json::value& n : names) {
      const std::string name(n.at("name").as_string());
      EXPECT_TRUE(name.ends_with(".leak.test")) << name;
      if (n.at("kind").as_string() == "plain") ++plain_seen;
    }
    EXPECT_EQ(plain_seen, plain);
    EXPECT_EQ(v.at("zone").as_string(), "leak.test");
    EXPECT_TRUE(std::string(v.at("probe_hosts").at("ipv4").as_string()).ends_with("-4.leak.test"));
    EXPECT_TRUE(std::string(v.at("probe_hosts").at("ipv6").as_string()).ends_with("-6.leak.test"));
    EXPECT_EQ(v.at("id").as_string().size(), 2 * (testname::kTokenRawSize + 8));
    EXPECT_EQ(v.at("expires_at").as_string(), "2027-01-15T09:00:00.000Z");  // issued now, + 1 hour
  }
}

TEST_F(ApiTest, RefusesBadCreateRequests) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{", "bad_json"},
      {"[1]", "bad_json"},
      {R"({"type":5})", "bad_type"},
      {R"({"type":"huge"})", "bad_type"},
      {R"({"count":0})", "bad_count"},
      {R"({"count":101})", "bad_count"},
      {R"({"count":"3"})", "bad_count"},
      {R"({"count":2.5})", "bad_count"},
      {R"({"type":"standard","colour":"red"})", "unknown_field"},
  };
  for (const auto& [body, code] : cases) {
    const HttpResponse r = request("POST", "/api/v1/tests", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(error_code_of(r), code) << body;
  }
}

TEST_F(ApiTest, MethodsOtherThanTheRoutesAllowAre405) {
  EXPECT_EQ(request("GET", "/api/v1/tests").status, 405);
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests")), "method_not_allowed");
  const auto [id, token] = create();
  EXPECT_EQ(request("DELETE", "/api/v1/tests/" + id).status, 405);
  EXPECT_EQ(request("POST", "/healthz").status, 405);
  EXPECT_EQ(request("PUT", "/").status, 405);
}

TEST_F(ApiTest, UnknownForgedAndExpiredTestsAre404) {
  const auto [id, token] = create();
  EXPECT_EQ(request("GET", "/api/v1/tests/" + id).status, 200);
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests/nonsense")), "unknown_test");
  std::string forged = id;
  forged.back() = forged.back() == '0' ? '1' : '0';  // the results key no longer matches
  EXPECT_EQ(request("GET", "/api/v1/tests/" + forged).status, 404);
  EXPECT_EQ(request("GET", "/api/v1/tests/" + id.substr(0, id.size() - 2)).status, 404);
  clock_.now_ms += 3601 * 1000;  // past the token's age
  EXPECT_EQ(request("GET", "/api/v1/tests/" + id).status, 404);
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests/" + id)), "unknown_test");
}

TEST_F(ApiTest, ResultsHoldTheResolversAndTheExitsOfOneTestOnly) {
  const auto [id, token] = create();
  const auto [other_id, other] = create();
  observe(token, "10.77.20.53");
  observe(other, "10.77.10.53");
  // The HTTP probe: any request whose Host is a probe name records the caller as the exit.
  const HttpResponse probed = request("GET", "/probe", "", token.text() + "-4.leak.test:80", "10.77.0.3");
  EXPECT_EQ(probed.status, 204);
  EXPECT_TRUE(probed.body.empty());
  EXPECT_NE(std::find(probed.headers.begin(), probed.headers.end(),
                      std::pair<std::string, std::string>("Access-Control-Allow-Origin", "*")),
            probed.headers.end());

  const HttpResponse r = request("GET", "/api/v1/tests/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value v = body_of(r);
  ASSERT_EQ(v.at("resolvers").as_array().size(), 1u) << r.body;
  const json::value& resolver = v.at("resolvers").at(0);
  EXPECT_EQ(resolver.at("address").as_string(), "10.77.20.53");
  EXPECT_EQ(resolver.at("network").at("asn").as_int64(), 64501);
  ASSERT_EQ(v.at("egress").as_array().size(), 1u) << r.body;
  EXPECT_EQ(v.at("egress").at(0).at("address").as_string(), "10.77.0.3");
  EXPECT_EQ(v.at("verdict").at("outcome").as_string(), "no_leak") << r.body;
  EXPECT_EQ(v.at("id").as_string(), id);

  // The other test saw only its own resolver and no exit.
  const json::value o = body_of(request("GET", "/api/v1/tests/" + other_id));
  ASSERT_EQ(o.at("resolvers").as_array().size(), 1u);
  EXPECT_EQ(o.at("resolvers").at(0).at("address").as_string(), "10.77.10.53");
  EXPECT_TRUE(o.at("egress").as_array().empty());
}

TEST_F(ApiTest, ExpectationsDecideAndBadOnesAre400) {
  const auto [id, token] = create();
  observe(token, "10.77.20.53");
  (void)request("GET", "/probe", "", token.text() + "-4.leak.test", "10.77.0.3");
  const auto outcome = [&](const std::string& query) {
    const HttpResponse r = request("GET", "/api/v1/tests/" + id + "?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return std::string(body_of(r).at("verdict").at("outcome").as_string());
  };
  EXPECT_EQ(outcome("expect_resolver=10.77.20.53"), "no_leak");
  EXPECT_EQ(outcome("expect_resolver=10.77.30.53"), "leak");
  EXPECT_EQ(outcome("expect_asn=64501"), "no_leak");
  EXPECT_EQ(outcome("expect_asn=64502"), "leak");
  EXPECT_EQ(outcome("expect_resolver=%31%30.77.20.53"), "no_leak");  // decoded
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests/" + id + "?expect_resolver=banana")), "bad_expect_resolver");
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests/" + id + "?expect_asn=AS1")), "bad_expect_asn");
  EXPECT_EQ(error_code_of(request("GET", "/api/v1/tests/" + id + "?expect_asn=99999999999")), "bad_expect_asn");
}

TEST_F(ApiTest, ProbesNeedAValidTokenInTheZone) {
  const auto [id, token] = create();
  // A forged token or another zone is no probe: the request goes on to the routes (404 here).
  std::string forged = token.text();
  forged[3] = forged[3] == 'a' ? 'b' : 'a';
  EXPECT_EQ(request("GET", "/probe", "", forged + "-4.leak.test").status, 404);
  EXPECT_EQ(request("GET", "/probe", "", token.text() + "-4.other.test").status, 404);
  EXPECT_EQ(request("GET", "/probe", "", "leak.test").status, 404);
  EXPECT_TRUE(body_of(request("GET", "/api/v1/tests/" + id)).at("egress").as_array().empty());
}

TEST_F(ApiTest, WhoamiHealthAndMetrics) {
  const HttpResponse who = request("GET", "/api/v1/whoami", "", "leak.test", "10.77.0.2");
  ASSERT_EQ(who.status, 200);
  const json::value w = body_of(who);
  EXPECT_EQ(w.at("address").as_string(), "10.77.0.2");
  EXPECT_EQ(w.at("family").as_string(), "ipv4");
  EXPECT_EQ(w.at("network").at("asn").as_int64(), 64500);
  EXPECT_EQ(request("GET", "/api/v1/whoami", "", "leak.test", "fd77::2").status, 200);
  EXPECT_EQ(body_of(request("GET", "/api/v1/whoami", "", "leak.test", "fd77::2")).at("family").as_string(), "ipv6");

  const HttpResponse health = request("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(body_of(health).at("status").as_string(), "ok");
  const HttpResponse metrics = request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_EQ(metrics.body, "metric 1\n");
}

TEST_F(ApiTest, ServesThePageAndNothingElse) {
  for (const auto& [path, type] :
       std::vector<std::pair<std::string, std::string>>{{"/", "text/html; charset=utf-8"},
                                                        {"/index.html", "text/html; charset=utf-8"},
                                                        {"/app.js", "text/javascript; charset=utf-8"},
                                                        {"/style.css", "text/css; charset=utf-8"}}) {
    const HttpResponse r = request("GET", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, type) << path;
    EXPECT_FALSE(r.body.empty()) << path;
    bool csp = false;
    for (const auto& [name, value] : r.headers) csp |= name == "Content-Security-Policy";
    EXPECT_TRUE(csp) << path;
  }
  EXPECT_EQ(request("HEAD", "/").status, 200);
  EXPECT_EQ(error_code_of(request("GET", "/../etc/passwd")), "not_found");
  EXPECT_EQ(request("GET", "/secret").status, 404);
  // Without a web root there is no page.
  api_ = make_api("");
  EXPECT_EQ(request("GET", "/").status, 404);
  // A web root without the files: "not installed", still 404.
  api_ = make_api("/nonexistent");
  EXPECT_EQ(request("GET", "/").status, 404);
}

TEST_F(ApiTest, EventStreamsOpenOnlyForLiveTests) {
  const auto [id, token] = create();
  const auto opened = api_->events_token("/api/v1/tests/" + id + "/events", clock_.now_ms);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->raw, token.raw);
  EXPECT_FALSE(api_->events_token("/api/v1/tests/" + id, clock_.now_ms));
  EXPECT_FALSE(api_->events_token("/api/v1/tests/nonsense/events", clock_.now_ms));
  EXPECT_FALSE(api_->events_token("/api/v1/tests/" + id + "/events", clock_.now_ms + 3601 * 1000));
  // Asked without streaming (no event-stream Accept), the events path gives the results.
  EXPECT_EQ(request("GET", "/api/v1/tests/" + id + "/events").status, 200);
}

TEST_F(ApiTest, TestCreationIsLimitedPerClientWithRetryAfter) {
  // The default: 2 a second, 30 at once, per IPv4 address or IPv6 /64.
  for (int i = 0; i < 30; ++i) ASSERT_EQ(request("POST", "/api/v1/tests").status, 201) << i;
  const HttpResponse limited = request("POST", "/api/v1/tests");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(body_of(limited).at("error").at("code"), "too_many_tests");
  EXPECT_NE(std::find(limited.headers.begin(), limited.headers.end(),
                      std::pair<std::string, std::string>{"Retry-After", "1"}),
            limited.headers.end());
  // Another address, and the same /64 from another host, are told apart as they should be.
  EXPECT_EQ(request("POST", "/api/v1/tests", "", "leak.test", "10.77.0.4").status, 201);
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(request("POST", "/api/v1/tests", "", "leak.test", "2001:db8:1:2::1").status, 201);
  EXPECT_EQ(request("POST", "/api/v1/tests", "", "leak.test", "2001:db8:1:2::ffff").status, 429);
  EXPECT_EQ(request("POST", "/api/v1/tests", "", "leak.test", "2001:db8:1:3::1").status, 201);
  // Time refills the bucket: two a second.
  clock_.now_ms += 1000;
  EXPECT_EQ(request("POST", "/api/v1/tests").status, 201);
  EXPECT_EQ(request("POST", "/api/v1/tests").status, 201);
  EXPECT_EQ(request("POST", "/api/v1/tests").status, 429);
}

}  // namespace
}  // namespace dnsleak::http
