// dnsleakd's HTTP server: HTTP/1.1 with keep-alive (Boost.Beast) in front of the Api, plus the
// Server-Sent Events stream of live observations. Beast stays inside http_server.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/api.h"
#include "net/error.h"
#include "net/socket_address.h"

namespace dnsleak::http {

struct HttpServerOptions {
  std::vector<net::SocketAddress> listen;
  size_t max_connections = 4096;
  size_t max_connections_per_client = 32;  // an IPv4 address or IPv6 /64: slow clients get their share only
  int linger_ms = 2000;                    // after an early error, read (and drop) what the client still sends
  size_t max_streams = 64;                 // concurrent event streams
  int request_timeout_ms = 10'000;         // to read one request (slow clients) or write one answer
  int stream_max_ms = 120'000;             // an event stream ends after this long
  int stream_poll_ms = 200;                // how often a stream looks for new observations
  unsigned blocking_threads = 4;           // read results when the store's reads may block (see Impl)
  size_t max_blocking_backlog = 64;        // results requests waiting for such a store at most (then 503)
  size_t max_body = size_t{8} * 1024;
  size_t max_header = size_t{8} * 1024;
  size_t max_target = 2048;
};

struct HttpStats {
  std::atomic<uint64_t> responses_2xx{0}, responses_3xx{0}, responses_4xx{0}, responses_5xx{0};
  std::atomic<uint64_t> connections_refused{0}, streams_refused{0}, streams_opened{0};
  std::atomic<uint64_t> connections_refused_per_client{0};  // the client already had its share open
  std::atomic<uint64_t> rate_limited{0};                    // 429: too many tests created
  std::atomic<uint64_t> lingering_closes{0};                // early errors delivered before closing
  std::atomic<uint64_t> store_reads_refused{0};             // 503 at once: too many waiting for a slow store
  std::atomic<uint64_t> connections_open{0}, streams_open{0};
};

class HttpServer {
 public:
  // Binds every address, or fails naming the one that failed. Serves nothing before start(), so
  // that ports can be bound before privileges are dropped and before the API exists.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> create(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] const std::vector<net::SocketAddress>& bound() const noexcept;
  // Serves `api` (which must outlive the server) from the server's threads; fails if the system
  // gives no more threads.
  [[nodiscard]] Result<void> start(const Api& api);
  void stop() noexcept;
  [[nodiscard]] const HttpStats& stats() const noexcept;

  struct Impl;  // opaque: Beast stays in http_server.cpp

 private:
  explicit HttpServer(HttpServerOptions options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dnsleak::http
