// The only translation unit that includes Boost.Beast (it is heavy to compile).
#include "http/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "http/results.h"
#include "net/clock.h"

namespace dnsleak::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

net::IpAddress to_ip(const tcp::endpoint& e) {
  net::IpAddress a;
  const asio::ip::address address = e.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    const auto bytes = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_bytes();
    std::memcpy(a.bytes.data(), bytes.data(), 4);
  } else if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    std::memcpy(a.bytes.data(), bytes.data(), 4);
  } else {
    a.family = 6;
    const auto bytes = address.to_v6().to_bytes();
    std::memcpy(a.bytes.data(), bytes.data(), 16);
  }
  return a;
}

tcp::endpoint to_endpoint(const net::SocketAddress& s) {
  const net::IpAddress ip = s.ip();
  if (ip.family == 4) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), ip.bytes.data(), 4);
    return {asio::ip::address_v4(b), s.port()};
  }
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), ip.bytes.data(), 16);
  return {asio::ip::address_v6(b), s.port()};
}

}  // namespace

struct HttpServer::Impl {
  // Declaration order is destruction order reversed: pending handlers (sessions) die with `io`,
  // and they still touch `stats` and `options`, so those are declared first.
  HttpServerOptions options;
  const Api* api = nullptr;  // set by start()
  HttpStats stats;
  bool stopped = false;
  std::vector<net::SocketAddress> bound;
  std::thread thread;
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  // Where the store is read when its reads may wait on a network (a shared backend): threads of
  // their own, so a slow store delays the requests that read it, never the event loop, the probes
  // or the page. Results and event streams each have their own, so streams cannot starve results
  // (a stream has at most one read in flight). Destroyed before `io`: a task's last reference to a
  // session dies here.
  std::unique_ptr<asio::thread_pool> blocking;
  std::unique_ptr<asio::thread_pool> stream_reads;
  std::atomic<size_t> blocking_backlog{0};  // results requests waiting or running on `blocking`

  explicit Impl(HttpServerOptions o) : options(std::move(o)) {}

  // Open connections per client. The event loop adds to it; a session's last reference may die on
  // a store-read thread, so removals take the lock too.
  std::mutex per_client_mutex;
  std::unordered_map<std::string, size_t> per_client;
  static std::string client_key(const net::IpAddress& a) {
    const net::IpAddress p = net::prefix_of(a, a.family == 6 ? 64 : 32);
    return std::string(reinterpret_cast<const char*>(p.bytes.data()), p.octets());
  }

  void count(int status) {
    if (status == 429) ++stats.rate_limited;
    if (status < 300)
      ++stats.responses_2xx;
    else if (status < 400)
      ++stats.responses_3xx;
    else if (status < 500)
      ++stats.responses_4xx;
    else
      ++stats.responses_5xx;
  }

  void accept(tcp::acceptor& acceptor);
};

namespace {

// One connection: requests in turn (keep-alive), or one event stream.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server, net::IpAddress remote, std::string client)
      : stream_(std::move(socket)),
        server_(server),
        timer_(stream_.get_executor()),
        remote_(remote),
        client_(std::move(client)) {
    ++server_.stats.connections_open;
  }
  ~Session() {
    --server_.stats.connections_open;
    if (streaming_) --server_.stats.streams_open;
    const std::lock_guard lock(server_.per_client_mutex);
    if (auto it = server_.per_client.find(client_); it != server_.per_client.end() && --it->second == 0) {
      server_.per_client.erase(it);
    }
  }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.options.max_body);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header));
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::eof) {
      return close();
    }
    if (ec == bhttp::error::body_limit) return reply_error(413, "body_too_large", "the request body is too large");
    if (ec == bhttp::error::header_limit)
      return reply_error(431, "header_too_large", "the request header is too large");
    if (ec) return reply_error(400, "bad_request", "the request is not valid HTTP/1.1");
    if (!parser_) return close();  // never: on_read follows the read into the parser made above
    const auto& req = parser_->get();
    if (req.target().size() > server_.options.max_target)
      return reply_error(414, "uri_too_long", "the URL is too long");

    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.host = std::string(req[bhttp::field::host]);
    request.remote = remote_;
    request.body = req.body();
    request.now_ms = net::unix_now_ms();
    keep_alive_ = req.keep_alive();

    if (request.method == "GET") {
      if (const auto token = server_.api->events_token(request.target, request.now_ms)) {
        // A reconnecting EventSource sends the id of the last event it got: go on from there.
        const auto resume = store::Cursor::parse(std::string_view(req["Last-Event-ID"]));
        return start_stream(*token, resume.value_or(store::Cursor{}));
      }
    }
    const bool head = request.method == "HEAD";
    if (!server_.blocking || !server_.api->reads_store(request)) return write(server_.api->handle(request), head);
    // A stalled store fills the pool at most this deep; later readers get 503 at once.
    if (server_.blocking_backlog.load() >= server_.options.max_blocking_backlog) {
      ++server_.stats.store_reads_refused;
      return write(store_unavailable(Error{"too many results requests are waiting for the store", 0}), head);
    }
    ++server_.blocking_backlog;
    auto executor = stream_.get_executor();
    asio::post(*server_.blocking, [self = shared_from_this(), executor, request = std::move(request), head]() mutable {
      HttpResponse response = self->server_.api->handle(request);
      --self->server_.blocking_backlog;
      asio::post(executor,
                 [self, response = std::move(response), head]() mutable { self->write(std::move(response), head); });
    });
  }

  // An error found before the whole request was read (too large, malformed): the answer goes
  // out, then what the client still sends is read and dropped for a moment before closing, so
  // it reads the status instead of a reset (a close with unread data sends RST).
  void reply_error(int status, std::string_view code, std::string_view message) {
    keep_alive_ = false;
    linger_ = true;
    write(json_error(status, code, message), false);
  }

  void linger() {
    ++server_.stats.lingering_closes;
    beast::error_code ec;
    (void)stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // ENOTCONN: the peer went first
    stream_.expires_after(std::chrono::milliseconds(server_.options.linger_ms));
    drain();
  }
  void drain() {
    stream_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->lingered_ += n;
      // Up to 1 MiB or the linger time, whichever comes first; EOF ends it at once.
      if (ec || self->lingered_ > (size_t{1} << 20)) return self->close();
      self->drain();
    });
  }

  void write(HttpResponse r, bool head) {
    server_.count(r.status);
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "dnsleakd");
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive_);
    if (r.status == 204 || r.status == 304) {
      // No body and no Content-Length (RFC 9110 8.6).
    } else if (head) {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    bhttp::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (!ec && self->linger_) return self->linger();
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  // --- Server-Sent Events -----------------------------------------------------------------------

  void start_stream(const testname::TestToken& token, store::Cursor resume) {
    if (server_.stats.streams_open >= server_.options.max_streams) {
      ++server_.stats.streams_refused;
      keep_alive_ = false;
      HttpResponse busy = json_error(503, "too_many_streams", "too many live result streams; poll the results instead");
      busy.headers.emplace_back("Retry-After", "5");
      return write(std::move(busy), false);
    }
    streaming_ = true;
    ++server_.stats.streams_open;
    ++server_.stats.streams_opened;
    server_.count(200);
    test_id_ = token.test_id();
    cursor_ = resume;
    stream_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(server_.options.stream_max_ms);
    send(
        "HTTP/1.1 200 OK\r\nServer: dnsleakd\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 2000\n\n");
    watch_for_close();
    woken_ = true;  // the first read at once: what the test already has
    // A store that can say when something arrived wakes the stream; polling stays the fallback.
    std::weak_ptr<Session> weak = shared_from_this();
    auto executor = stream_.get_executor();
    watch_ = server_.api->store().watch(test_id_, cursor_, [weak, executor] {
      asio::post(executor, [weak] {
        if (auto self = weak.lock()) self->wake();
      });
    });
  }

  // New observations may have arrived: tick now rather than at the end of the poll interval.
  void wake() {
    if (closed_ || finished_) return;
    woken_ = true;
    timer_.cancel();  // a waiting tick runs at once; a read in flight sees woken_ when it is back
  }

  // A client sends nothing on an event stream; a read that completes means it went away, and its
  // place among the streams is freed at once rather than at the next write.
  void watch_for_close() {
    stream_.socket().async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) return self->watch_for_close();
      self->finished_ = true;
      self->close();
    });
  }

  // Queues text on the stream; one write at a time, the next tick waits for it.
  void send(std::string text) {
    out_ = std::move(text);
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    asio::async_write(stream_, asio::buffer(out_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || self->finished_) return self->close();
      self->schedule_tick();
    });
  }

  void schedule_tick() {
    if (closed_) return;
    if (woken_) {
      woken_ = false;
      return tick();
    }
    // Woken by the store, a stream polls only as a fallback (the store's notifier down).
    const int poll_ms = watch_ ? server_.options.stream_poll_ms * 5 : server_.options.stream_poll_ms;
    timer_.expires_after(std::chrono::milliseconds(poll_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec || (ec == asio::error::operation_aborted && self->woken_ && !self->closed_)) {
        self->woken_ = false;
        self->tick();
      }
    });
  }

  void tick() {
    // Only what arrived since the last tick, at most kPerTick of it: a flooded test costs a stream
    // a bounded amount per tick, and evictions cannot shift what was already sent.
    if (!server_.stream_reads) return on_page(server_.api->store().observations_since(test_id_, cursor_, kPerTick));
    auto executor = stream_.get_executor();
    asio::post(*server_.stream_reads, [self = shared_from_this(), executor, after = cursor_] {
      Result<store::ObservationPage> page =
          self->server_.api->store().observations_since(self->test_id_, after, kPerTick);
      asio::post(executor, [self, page = std::move(page)]() mutable { self->on_page(std::move(page)); });
    });
  }

  void on_page(Result<store::ObservationPage> page) {
    if (closed_) return;
    std::string text;
    if (page) {
      const auto& observations = page->observations;
      for (size_t i = 0; i < observations.size(); ++i) {
        text += "event: observation\n";
        // The last event of a batch carries the cursor: a client that reconnects resumes there.
        if (i + 1 == observations.size()) text += "id: " + page->next.text() + "\n";
        text += "data: " + boost::json::serialize(observation_json(observations[i])) + "\n\n";
        // A resolver seen live gets its PTR lookup started now, so the results read at the end of
        // the test already have the name.
        server_.api->prefetch_reverse_name(observations[i].resolver);
      }
      cursor_ = page->next;
      store_failing_ = false;
    } else if (!store_failing_) {
      // Said once per outage; the stream stays open and picks up where it was when the store is back.
      store_failing_ = true;
      text += "event: store_unavailable\ndata: " +
              boost::json::serialize(boost::json::object{{"message", page.error().message}}) + "\n\n";
    }
    if (std::chrono::steady_clock::now() >= stream_deadline_) {
      text += "event: end\ndata: {}\n\n";
      finished_ = true;
    } else if (text.empty() && std::chrono::steady_clock::now() - last_sent_ >= std::chrono::seconds(15)) {
      text = ": keep-alive\n\n";  // proxies close silent connections
    }
    if (text.empty()) return schedule_tick();
    last_sent_ = std::chrono::steady_clock::now();
    send(std::move(text));
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    watch_.reset();
    beast::error_code ec;
    timer_.cancel();
    // Fails with ENOTCONN when the peer reset the connection first: nothing to do then.
    (void)stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  net::IpAddress remote_;
  std::string client_;  // the per-client connection count's key
  bool keep_alive_ = true;
  bool linger_ = false;
  size_t lingered_ = 0;
  bool streaming_ = false;
  bool finished_ = false;
  bool closed_ = false;
  testname::TestId test_id_{};
  store::Cursor cursor_;  // the store's cursor after the last observation sent
  std::unique_ptr<store::ObservationStore::Watch> watch_;
  bool woken_ = false;
  bool store_failing_ = false;
  static constexpr size_t kPerTick = 256;
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
  std::string out_;
  std::array<char, 512> discard_{};
  std::chrono::steady_clock::time_point stream_deadline_;
};

}  // namespace

void HttpServer::Impl::accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([this, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (or another transient failure): accepting again at once would spin.
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(100));
      timer->async_wait([this, &acceptor, timer](beast::error_code) { accept(acceptor); });
      return;
    }
    {
      beast::error_code peer_error;
      const net::IpAddress remote = to_ip(socket.remote_endpoint(peer_error));
      std::string client = client_key(remote);
      bool per_client_full = false;
      if (stats.connections_open < options.max_connections && !peer_error) {
        const std::lock_guard lock(per_client_mutex);
        size_t& open = per_client[client];
        per_client_full = open >= options.max_connections_per_client;
        if (!per_client_full) ++open;
      }
      if (stats.connections_open >= options.max_connections || peer_error) {
        ++stats.connections_refused;
        beast::error_code ignored;
        (void)socket.close(ignored);  // refused and counted; a failed close leaves nothing to do
      } else if (per_client_full) {
        ++stats.connections_refused_per_client;
        beast::error_code ignored;
        (void)socket.close(ignored);
      } else {
        std::make_shared<Session>(std::move(socket), *this, remote, std::move(client))->start();
      }
    }
    accept(acceptor);
  });
}

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Result<std::unique_ptr<HttpServer>> HttpServer::create(HttpServerOptions options) {
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  Impl& impl = *server->impl_;
  for (const net::SocketAddress& address : impl.options.listen) {
    auto acceptor = std::make_unique<tcp::acceptor>(impl.io);
    const tcp::endpoint endpoint = to_endpoint(address);
    beast::error_code ec;
    // Each step reports into `ec`, checked below (the returned copy of it is not needed).
    (void)acceptor->open(endpoint.protocol(), ec);
    if (!ec) (void)acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) (void)acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) (void)acceptor->bind(endpoint, ec);
    if (!ec) (void)acceptor->listen(asio::socket_base::max_listen_connections, ec);
    asio::ip::tcp::endpoint local;
    if (!ec) local = acceptor->local_endpoint(ec);
    if (ec) return fail("cannot listen for HTTP on " + address.to_string() + ": " + ec.message());
    net::SocketAddress actual = address;
    actual.set_port(local.port());
    impl.bound.push_back(actual);
    impl.acceptors.push_back(std::move(acceptor));
  }
  return server;
}

HttpServer::~HttpServer() { stop(); }

const std::vector<net::SocketAddress>& HttpServer::bound() const noexcept { return impl_->bound; }
const HttpStats& HttpServer::stats() const noexcept { return impl_->stats; }

Result<void> HttpServer::start(const Api& api) {
  if (impl_->api != nullptr) return fail("the HTTP server was already started");
  impl_->api = &api;
  try {
    if (api.store().reads_may_block()) {
      impl_->blocking = std::make_unique<asio::thread_pool>(std::max(1u, impl_->options.blocking_threads));
      impl_->stream_reads = std::make_unique<asio::thread_pool>(2);
    }
  } catch (const std::system_error& e) {
    return fail(std::string("cannot start the HTTP store-read threads: ") + e.what());
  }
  for (auto& acceptor : impl_->acceptors) impl_->accept(*acceptor);
  try {
    impl_->thread = std::thread([this] { impl_->io.run(); });
  } catch (const std::system_error& e) {
    return fail(std::string("cannot start the HTTP thread: ") + e.what());
  }
  return {};
}

void HttpServer::stop() noexcept {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (asio::thread_pool* pool : {impl_->blocking.get(), impl_->stream_reads.get()}) {
    if (pool == nullptr) continue;
    pool->stop();
    pool->join();
  }
}

}  // namespace dnsleak::http
