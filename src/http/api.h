// The HTTP API and the page, as a function from a request to a response: the transport (Beast)
// lives in http_server; everything here is testable without sockets.
//
//   POST /api/v1/tests                 create a test {"type": "standard"|"extended"}
//   GET  /api/v1/tests/{id}            its results: resolvers, egress, verdict
//   GET  /api/v1/tests/{id}/events     live observations (Server-Sent Events; in http_server)
//   GET  /api/v1/whoami                the caller's address and network
//   GET  /healthz, /metrics            liveness; Prometheus text
//   GET  /, /app.js, /style.css        the page
//   any  Host: <token>-<probe>.<zone>  HTTP probe: records the caller's address as the test's egress
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dns/name.h"
#include "enrich/enricher.h"
#include "net/token_buckets.h"
#include "store/store.h"
#include "testname/test_token.h"

namespace dnsleak::http {

struct HttpRequest {
  std::string method;
  std::string target;  // path and query
  std::string host;    // Host header, port included if sent
  net::IpAddress remote;
  std::string body;
  int64_t now_ms = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiConfig {
  dns::DnsName zone;     // lowercase
  std::string web_root;  // directory of index.html, app.js, style.css; empty: no page
  unsigned standard_names = 6;
  unsigned extended_names = 36;
  // Test creation per client (IPv4 address, IPv6 /64): `create_rate` a second, `create_burst`
  // at once; past it 429 with Retry-After. 0: unlimited.
  uint32_t create_rate = 2;
  uint32_t create_burst = 30;
  testname::SipKey client_seed{};  // keys the client hash (random in dnsleakd)
};

class Api {
 public:
  Api(ApiConfig config, const testname::TokenAuthority& tokens, store::ObservationStore& store,
      const enrich::Enricher& enricher, std::function<std::string()> metrics);

  [[nodiscard]] HttpResponse handle(const HttpRequest& request) const;
  // Whether handle() reads the store for this request (a test's results): with a store whose reads
  // may block, the server runs only those off its event loop.
  [[nodiscard]] bool reads_store(const HttpRequest& request) const;

  // The token behind GET /api/v1/tests/{id}/events, if the id opens a live test.
  [[nodiscard]] std::optional<testname::TestToken> events_token(std::string_view target, int64_t now_ms) const;
  // A test's id for the API: the token and its results key, hex.
  [[nodiscard]] std::string test_handle(const testname::TestToken& token) const;
  [[nodiscard]] std::optional<testname::TestToken> open_handle(std::string_view handle, int64_t now_ms) const;

  [[nodiscard]] const store::ObservationStore& store() const noexcept { return store_; }
  // Starts the background PTR lookup of an address (see enrich::ReverseNames).
  void prefetch_reverse_name(const net::IpAddress& address) const { (void)enricher_.reverse_name(address); }

 private:
  HttpResponse create_test(const HttpRequest& request) const;
  // 429 when the client has created too many tests lately.
  std::optional<HttpResponse> creation_limited(const HttpRequest& request) const;
  HttpResponse test_results(const testname::TestToken& token, std::string_view query, int64_t now_ms) const;
  HttpResponse whoami(const HttpRequest& request) const;
  HttpResponse static_file(std::string_view path) const;
  std::optional<HttpResponse> probe(const HttpRequest& request) const;

  ApiConfig config_;
  std::string zone_text_;
  const testname::TokenAuthority& tokens_;
  store::ObservationStore& store_;
  const enrich::Enricher& enricher_;
  std::function<std::string()> metrics_;
  mutable net::TokenBuckets create_buckets_{16384};
};

[[nodiscard]] HttpResponse json_error(int status, std::string_view code, std::string_view message);
// 503 with Retry-After: the store could not be read (a shared backend down or slow).
[[nodiscard]] HttpResponse store_unavailable(const Error& e);

}  // namespace dnsleak::http
