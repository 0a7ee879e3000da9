#include "probe/http_client.h"

#include <curl/curl.h>

#include <atomic>
#include <thread>

namespace dnsleak::probe {
namespace {

struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlInit() { curl_global_cleanup(); }
};

void ensure_init() {
  static CurlInit init;  // thread-safe static initialisation
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// One event stream read by libcurl on its own thread.
class CurlEventStream final : public EventSubscription {
 public:
  CurlEventStream(std::string url, long timeout_ms, EventHandler on_event)
      : url_(std::move(url)), timeout_ms_(timeout_ms), parser_(std::move(on_event)) {
    thread_ = std::thread([this] { run(); });
  }
  ~CurlEventStream() override {
    stop();
    if (thread_.joinable()) thread_.join();
  }
  CurlEventStream(const CurlEventStream&) = delete;
  CurlEventStream& operator=(const CurlEventStream&) = delete;
  void stop() noexcept override { stop_ = true; }
  [[nodiscard]] bool ended() const noexcept override { return ended_; }

 private:
  void run();

  std::string url_;
  long timeout_ms_;
  EventStreamParser parser_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

}  // namespace

HttpReply CurlHttpClient::fetch(const HttpFetch& request) {
  ensure_init();
  HttpReply reply;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    reply.error = "cannot start libcurl";
    return reply;
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "dnsleak/0.1");
  if (request.family == 4) curl_easy_setopt(curl, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
  if (request.family == 6) curl_easy_setopt(curl, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V6);
  if (!request.interface.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, request.interface.c_str());
  if (!request.body.empty()) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    char* ip = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != nullptr) reply.remote = ip;
  } else {
    reply.error = error[0] != '\0' ? error : curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

std::unique_ptr<EventSubscription> CurlHttpClient::subscribe(std::string url, long timeout_ms, EventHandler on_event) {
  ensure_init();
  return std::make_unique<CurlEventStream>(std::move(url), timeout_ms, std::move(on_event));
}

void EventStreamParser::feed(std::string_view octets) {
  pending_.append(octets);
  size_t line_end;
  while ((line_end = pending_.find('\n')) != std::string::npos) {
    std::string line = pending_.substr(0, line_end);
    pending_.erase(0, line_end + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {  // end of an event (text/event-stream, WHATWG HTML 9.2)
      if (!event_data_.empty() || !event_type_.empty())
        on_event_(event_type_.empty() ? "message" : event_type_, event_data_);
      event_type_.clear();
      event_data_.clear();
    } else if (line.rfind("event:", 0) == 0) {
      event_type_ = line.substr(line.size() > 6 && line[6] == ' ' ? 7 : 6);
    } else if (line.rfind("data:", 0) == 0) {
      if (!event_data_.empty()) event_data_ += '\n';
      event_data_ += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
    }
  }
}

void CurlEventStream::run() {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    ended_ = true;
    return;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);  // a refused stream (503) is an end, not data
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* user) -> size_t {
        static_cast<EventStreamParser*>(user)->feed({data, size * count});
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &parser_);
  // The multi interface, polled in 50 ms steps, so stop() ends the stream promptly (libcurl's
  // progress callback comes only about once a second on an idle transfer).
  CURLM* multi = curl_multi_init();
  curl_multi_add_handle(multi, curl);
  int running = 1;
  while (running != 0 && !stop_) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    if (running != 0) curl_multi_poll(multi, nullptr, 0, 50, nullptr);
  }
  curl_multi_remove_handle(multi, curl);
  curl_multi_cleanup(multi);
  ended_ = true;
  curl_easy_cleanup(curl);
}

}  // namespace dnsleak::probe
