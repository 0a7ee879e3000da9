// libFuzzer target: any bytes as one HTTP request through the API (routes, query strings, JSON
// bodies, the Host header that makes a probe). The input is "METHOD TARGET\nHOST\nBODY". Checks
// what a crash would not show: every answer has a status from the API's set, JSON answers parse,
// an error answer names its code, and a created test opens again by its id.
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "enrich/enricher.h"
#include "fuzz_check.h"
#include "http/api.h"
#include "store/store.h"

#ifndef DNSLEAK_SOURCE_DIR
#error "DNSLEAK_SOURCE_DIR: the lab's data files are the enrichment data here"
#endif

namespace {

using namespace dnsleak;
using fuzzing::check;
namespace json = boost::json;

constexpr int64_t kNowMs = 1'800'000'000'000;

struct Fixture {
  Fixture() : tokens("fuzzing secret, not for production", 3600) {
    (void)zone.from_text("leak.test");
    store::StoreOptions options;
    options.max_observations = 4096;
    options.zone = zone;
    store = store::make_store(options).value();
    const std::string data = std::string(DNSLEAK_SOURCE_DIR) + "/tests/lab/data/";
    enricher =
        enrich::Enricher::load({{data + "asn.csv"}, {data + "country.csv"}, {data + "resolver-operators.csv"}, false})
            .value();
    http::ApiConfig config;
    config.zone = zone;
    config.web_root = std::string(DNSLEAK_SOURCE_DIR) + "/web";
    config.create_rate = 0;  // every input may create a test
    api = std::make_unique<http::Api>(config, tokens, *store, *enricher, [] { return std::string("m 1\n"); });
  }
  dns::DnsName zone;
  testname::TokenAuthority tokens;
  std::unique_ptr<store::ObservationStore> store;
  std::unique_ptr<enrich::Enricher> enricher;
  std::unique_ptr<http::Api> api;
};

std::string_view line(std::string_view& rest) {
  const size_t end = rest.find('\n');
  const std::string_view first = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  return first;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view request_line = line(rest);
  const size_t space = request_line.find(' ');
  http::HttpRequest request;
  request.method = std::string(request_line.substr(0, space));
  request.target = space == std::string_view::npos ? "/" : std::string(request_line.substr(space + 1));
  request.host = std::string(line(rest));
  request.body = std::string(rest);
  request.remote = net::parse_ip("198.51.100.7").value();
  request.now_ms = kNowMs;

  const http::HttpResponse r = fixture.api->handle(request);
  static constexpr int kStatuses[] = {200, 201, 204, 304, 400, 404, 405, 413, 429, 503};
  bool known = false;
  for (int s : kStatuses) known = known || s == r.status;
  check(known);
  if (r.content_type == "application/json") {
    boost::system::error_code ec;
    const json::value body = json::parse(r.body, ec);
    check(!ec);
    if (r.status >= 400) check(body.is_object() && body.as_object().contains("error"));
    if (r.status == 201) {
      // A created test opens again by its id.
      const json::string& id = body.at("id").as_string();
      check(fixture.api->open_handle(std::string_view(id.data(), id.size()), kNowMs).has_value());
    }
  }
  return 0;
}
