// HTTP(S) for the client, through libcurl: one-shot requests and a Server-Sent Events reader.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

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

[[nodiscard]] HttpReply fetch(const HttpFetch& request);

// Reads a text/event-stream in a thread and calls `on_event(type, data)` per event until stop()
// (or the server ends the stream, or the timeout). Callbacks run on the reader's thread.
class EventStream {
 public:
  using Handler = std::function<void(const std::string& type, const std::string& data)>;
  EventStream(std::string url, long timeout_ms, Handler on_event);
  ~EventStream();
  void stop() noexcept;
  // The stream is over: refused (HTTP error), failed, or closed by the server.
  [[nodiscard]] bool ended() const noexcept { return ended_; }

 private:
  void run();
  size_t feed(const char* data, size_t size);

  std::string url_;
  long timeout_ms_;
  Handler on_event_;
  std::string pending_;
  std::string event_type_, event_data_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

}  // namespace dnsleak::probe
