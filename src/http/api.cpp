#include "http/api.h"

#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <sstream>

#include "http/results.h"

namespace dnsleak::http {
namespace json = boost::json;
namespace {

constexpr std::string_view kTestsPrefix = "/api/v1/tests/";
constexpr int64_t kMaxPlainNames = 100;  // "count" in a create request

HttpResponse json_response(int status, const json::value& value) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(value);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && testname::hex_value(s[i + 1]) >= 0 && testname::hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(testname::hex_value(s[i + 1]) * 16 + testname::hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

// Query parameters in order, names and values decoded.
std::vector<std::pair<std::string, std::string>> query_params(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    const size_t eq = part.find('=');
    out.emplace_back(url_decode(part.substr(0, eq)),
                     eq == std::string_view::npos ? "" : url_decode(part.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

HttpResponse json_error(int status, std::string_view code, std::string_view message) {
  return json_response(status, json::object{{"error", json::object{{"code", code}, {"message", message}}}});
}

Api::Api(ApiConfig config, const testname::TokenAuthority& tokens, store::ObservationStore& store,
         const enrich::Enricher& enricher, std::function<std::string()> metrics)
    : config_(std::move(config)),
      zone_text_(config_.zone.to_text()),
      tokens_(tokens),
      store_(store),
      enricher_(enricher),
      metrics_(std::move(metrics)) {}

std::string Api::test_handle(const testname::TestToken& token) const {
  const uint64_t key = tokens_.results_key(token);
  uint8_t key_bytes[8];
  for (size_t i = 0; i < 8; ++i) key_bytes[i] = static_cast<uint8_t>(key >> (56 - 8 * i));
  return testname::to_hex(token.raw) + testname::to_hex(key_bytes);
}

std::optional<testname::TestToken> Api::open_handle(std::string_view handle, int64_t now_ms) const {
  testname::TestToken token;
  uint8_t key_bytes[8];
  if (handle.size() != 2 * (testname::kTokenRawSize + 8) ||
      !testname::parse_hex(handle.substr(0, 2 * testname::kTokenRawSize), token.raw) ||
      !testname::parse_hex(handle.substr(2 * testname::kTokenRawSize), key_bytes)) {
    return std::nullopt;
  }
  uint64_t key = 0;
  for (uint8_t b : key_bytes) key = (key << 8) | b;
  if (key != tokens_.results_key(token)) return std::nullopt;
  if (tokens_.check(token, static_cast<uint32_t>(now_ms / 1000)) != testname::TokenCheck::valid) return std::nullopt;
  return token;
}

std::optional<testname::TestToken> Api::events_token(std::string_view target, int64_t now_ms) const {
  const std::string_view path = target.substr(0, target.find('?'));
  if (!path.starts_with(kTestsPrefix) || !path.ends_with("/events")) return std::nullopt;
  const std::string_view handle = path.substr(kTestsPrefix.size(), path.size() - kTestsPrefix.size() - 7);
  return open_handle(handle, now_ms);
}

std::optional<HttpResponse> Api::probe(const HttpRequest& request) const {
  // Host: <token>-<probe>[.v4|.v6|.tcp].<zone>[:port]
  std::string host =
      request.host.substr(0, request.host.rfind(':') == std::string::npos || request.host.find(']') != std::string::npos
                                 ? request.host.size()
                                 : request.host.rfind(':'));
  dns::DnsName name;
  if (host.empty() || !name.from_text(host) || !name.ends_with(config_.zone) ||
      name.label_count() <= config_.zone.label_count()) {
    return std::nullopt;
  }
  testname::TestToken token;
  testname::ProbeLabel probe;
  if (testname::parse_test_label(tokens_, name.label(0), static_cast<uint32_t>(request.now_ms / 1000), token, probe) !=
      testname::TokenCheck::valid) {
    return std::nullopt;
  }
  store_.record_egress(token.test_id(), request.remote, request.now_ms);
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  // The page on the zone's apex probes these other origins; it may read the status.
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::optional<HttpResponse> Api::creation_limited(const HttpRequest& request) const {
  if (config_.create_rate == 0) return std::nullopt;
  // One bucket per IPv4 address or IPv6 /64 (a household's prefix), hashed under a random key.
  const net::IpAddress client = net::prefix_of(request.remote, request.remote.family == 6 ? 64 : 32);
  uint8_t input[17];
  input[0] = client.family;
  std::memcpy(input + 1, client.bytes.data(), 16);
  const uint64_t hash = testname::siphash24(config_.client_seed, input);
  const uint32_t burst_seconds = std::max<uint32_t>(1, config_.create_burst / config_.create_rate);
  const net::TokenBuckets::Taken taken = create_buckets_.take(hash, request.now_ms, config_.create_rate, burst_seconds);
  if (taken.room) return std::nullopt;
  HttpResponse r =
      json_error(429, "too_many_tests", "too many tests created from this address lately; try again later");
  r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, (taken.retry_ms + 999) / 1000)));
  return r;
}

HttpResponse Api::create_test(const HttpRequest& request) const {
  if (auto limited = creation_limited(request)) return *limited;
  std::string type = "standard";
  std::optional<int64_t> count;
  if (!request.body.empty()) {
    boost::system::error_code ec;
    const json::value body = json::parse(request.body, ec);
    if (ec || !body.is_object()) return json_error(400, "bad_json", "the body must be a JSON object");
    if (const json::value* t = body.as_object().if_contains("type")) {
      if (!t->is_string()) return json_error(400, "bad_type", "'type' must be \"standard\" or \"extended\"");
      type = std::string(t->as_string());
    }
    if (const json::value* c = body.as_object().if_contains("count")) {
      if (!c->is_int64() || c->as_int64() < 1 || c->as_int64() > kMaxPlainNames) {
        return json_error(400, "bad_count",
                          "'count' must be a whole number from 1 to " + std::to_string(kMaxPlainNames));
      }
      count = c->as_int64();
    }
    for (const auto& [key, value] : body.as_object()) {
      if (key != "type" && key != "count") {
        return json_error(400, "unknown_field", "unknown field '" + std::string(key) + "'");
      }
    }
  }
  if (type != "standard" && type != "extended") {
    return json_error(400, "bad_type", "'type' must be \"standard\" or \"extended\"");
  }
  const Result<testname::TestToken> issued = tokens_.issue(static_cast<uint32_t>(request.now_ms / 1000));
  if (!issued) return json_error(503, "cannot_issue", issued.error().message);
  const testname::TestToken& token = *issued;
  const std::string t = token.text();
  json::array names;
  const unsigned plain = count                ? static_cast<unsigned>(*count)
                         : type == "extended" ? config_.extended_names
                                              : config_.standard_names;
  for (unsigned i = 0; i < plain; ++i) {
    names.push_back(json::object{{"name", t + "-p" + std::to_string(i) + "." + zone_text_}, {"kind", "plain"}});
  }
  for (const char* sub : {"v6", "v4", "tcp"}) {
    names.push_back(json::object{{"name", t + "-" + sub + "." + sub + "." + zone_text_}, {"kind", sub}});
  }
  json::object out;
  out["id"] = test_handle(token);
  out["type"] = type;
  out["zone"] = zone_text_;
  out["names"] = std::move(names);
  // Names with one address family each: an HTTP request to them shows the IPv4 / IPv6 exit.
  out["probe_hosts"] = json::object{{"ipv4", t + "-4." + zone_text_}, {"ipv6", t + "-6." + zone_text_}};
  out["expires_at"] = rfc3339_ms((int64_t{token.issued_at()} + tokens_.max_age_seconds()) * 1000);
  HttpResponse r = json_response(201, out);
  r.headers.emplace_back("Location", std::string(kTestsPrefix) + test_handle(token));
  return r;
}

HttpResponse store_unavailable(const Error& e) {
  HttpResponse r = json_error(503, "store_unavailable", "the results store cannot be read now: " + e.message);
  r.headers.emplace_back("Retry-After", "2");
  return r;
}

HttpResponse Api::test_results(const testname::TestToken& token, std::string_view query, int64_t now_ms) const {
  verdict::Expectations expected;
  for (const auto& [key, value] : query_params(query)) {
    if (key == "expect_resolver") {
      const Result<net::IpAddress> a = net::parse_ip(value);
      if (!a) return json_error(400, "bad_expect_resolver", a.error().message);
      expected.resolvers.push_back(*a);
    } else if (key == "expect_asn") {
      char* end = nullptr;
      const unsigned long asn = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || asn > UINT32_MAX)
        return json_error(400, "bad_expect_asn", "'" + value + "' is not an AS number");
      expected.asns.push_back(static_cast<uint32_t>(asn));
    }
  }
  const Result<std::vector<store::ResolverObservation>> observations = store_.observations_of(token.test_id());
  if (!observations) return store_unavailable(observations.error());
  const Result<std::vector<store::EgressSighting>> egress = store_.egress_of(token.test_id(), now_ms);
  if (!egress) return store_unavailable(egress.error());
  json::object out = results_json(*observations, *egress, enricher_, expected);
  out["id"] = test_handle(token);
  out["expires_at"] = rfc3339_ms((int64_t{token.issued_at()} + tokens_.max_age_seconds()) * 1000);
  return json_response(200, out);
}

HttpResponse Api::whoami(const HttpRequest& request) const {
  return json_response(200, json::object{{"address", request.remote.to_string()},
                                         {"family", request.remote.family == 6 ? "ipv6" : "ipv4"},
                                         {"network", network_json(enricher_.network_of(request.remote))}});
}

HttpResponse Api::static_file(std::string_view path) const {
  static const std::pair<std::string_view, std::string_view> kFiles[] = {
      {"/", "index.html"}, {"/index.html", "index.html"}, {"/app.js", "app.js"}, {"/style.css", "style.css"}};
  for (const auto& [route, file] : kFiles) {
    if (path != route || config_.web_root.empty()) continue;
    std::ifstream in(config_.web_root + "/" + std::string(file), std::ios::binary);
    if (!in) return json_error(404, "not_found", "the page is not installed");
    std::stringstream text;
    text << in.rdbuf();
    HttpResponse r;
    r.body = text.str();
    r.content_type = file.ends_with(".html") ? "text/html; charset=utf-8"
                     : file.ends_with(".js") ? "text/javascript; charset=utf-8"
                                             : "text/css; charset=utf-8";
    r.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'self'; connect-src *; img-src 'self' data:; base-uri 'none'; form-action 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }
  return json_error(404, "not_found", "no such resource");
}

bool Api::reads_store(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return std::string_view(request.target).starts_with(kTestsPrefix);  // a probe there is answered as fast on the pool
}

HttpResponse Api::handle(const HttpRequest& request) const {
  if (auto r = probe(request)) return *r;
  const std::string_view target = request.target;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
  const bool get = request.method == "GET" || request.method == "HEAD";

  if (path == "/api/v1/tests") {
    if (request.method != "POST") return json_error(405, "method_not_allowed", "use POST to create a test");
    return create_test(request);
  }
  if (path.starts_with(kTestsPrefix)) {
    if (!get) return json_error(405, "method_not_allowed", "use GET");
    std::string_view handle = path.substr(kTestsPrefix.size());
    if (handle.ends_with("/events")) handle.remove_suffix(7);  // reached here only if not streamed
    const auto token = open_handle(handle, request.now_ms);
    if (!token) return json_error(404, "unknown_test", "no such test, or it has expired");
    return test_results(*token, query, request.now_ms);
  }
  if (!get) return json_error(405, "method_not_allowed", "use GET");
  if (path == "/api/v1/whoami") return whoami(request);
  if (path == "/healthz") return json_response(200, json::object{{"status", "ok"}});
  if (path == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_ ? metrics_() : "";
    return r;
  }
  return static_file(path);
}

}  // namespace dnsleak::http
