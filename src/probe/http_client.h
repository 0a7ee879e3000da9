// HTTP(S) for the client, through libcurl: one-shot requests and a Server-Sent Events reader.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace dnsleak::probe {

struct HttpFetch {
  std::string method = "GET";
  std::string url;
  std::string body;        // sent as application/json when not empty
  long timeout_ms = 5000;  // the whole exchange
  int family = 0;          // 0: any; 4 or 6: that address family only
  std::string interface;   // bind to this interface or address (empty: the routing table decides)
};

struct HttpReply {
  long status = 0;  // 0: no HTTP answer (see error)
  std::string body;
  std::string error;   // what went wrong before an HTTP status, in words
  std::string remote;  // the address connected to
};

// A live text/event-stream: events arrive on another thread until stop(), the server ends it, or
// its timeout.
class EventSubscription {
 public:
  virtual ~EventSubscription() = default;
  virtual void stop() noexcept = 0;
  // The stream is over: refused (HTTP error), failed, or closed by the server.
  [[nodiscard]] virtual bool ended() const noexcept = 0;
};
using EventHandler = std::function<void(const std::string& type, const std::string& data)>;

// What the leak test needs of HTTP, behind an interface so it runs in unit tests against a fake
// server (timeouts, partial results, garbage).
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  [[nodiscard]] virtual HttpReply fetch(const HttpFetch& request) = 0;
  // Calls `on_event(type, data)` per event, on the subscription's thread.
  [[nodiscard]] virtual std::unique_ptr<EventSubscription> subscribe(std::string url, long timeout_ms,
                                                                     EventHandler on_event) = 0;
};

// libcurl: HTTP and HTTPS (the system's CA store), event streams read in a thread of their own.
class CurlHttpClient final : public HttpClient {
 public:
  [[nodiscard]] HttpReply fetch(const HttpFetch& request) override;
  [[nodiscard]] std::unique_ptr<EventSubscription> subscribe(std::string url, long timeout_ms,
                                                             EventHandler on_event) override;
};

// Feeds text/event-stream octets in and calls the handler once per complete event (WHATWG HTML
// 9.2: "event:" and "data:" lines, a blank line ends an event). Exposed for tests.
class EventStreamParser {
 public:
  explicit EventStreamParser(EventHandler on_event) : on_event_(std::move(on_event)) {}
  void feed(std::string_view octets);

 private:
  EventHandler on_event_;
  std::string pending_;
  std::string event_type_, event_data_;
};

}  // namespace dnsleak::probe
