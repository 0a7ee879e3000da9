// The TCP half of DnsService (RFC 7766).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "auth/dns_service.h"
#include "net/clock.h"
#include "net/unique_fd.h"

namespace dnsleak::auth {
namespace {

constexpr size_t kMaxMessage = 65535;
constexpr size_t kInputCapacity = 2 + kMaxMessage;
// Stop reading from a client that does not read its answers once this much is queued for it.
constexpr size_t kMaxQueuedOutput = size_t{256} * 1024;

struct Connection {
  int fd = -1;
  net::IpAddress peer;
  uint16_t peer_port = 0;
  std::vector<std::byte> input = std::vector<std::byte>(kInputCapacity);
  size_t input_length = 0;
  std::vector<std::byte> output;
  size_t output_sent = 0;
  int64_t last_progress_ms = 0;  // connection start, last complete message or last bytes sent
  bool reading = true;
  bool peer_closed = false;  // FIN seen: answer what is queued, then close
  [[nodiscard]] size_t queued() const noexcept { return output.size() - output_sent; }
};

}  // namespace

void DnsService::run_tcp_server() noexcept {
  CounterSet& counters = counters_[udp_sockets_.size()];
  std::unordered_map<int, Connection> connections;
  std::vector<std::byte> answer(2 + kMaxMessage);
  store::ResolverObservation observation;
  const int epoll = epoll_.get();
  net::UniqueFd& spare = spare_fd_;  // see the accept loop
  auto add = [&](int fd, uint32_t events, uint64_t tag) {
    epoll_event e{};
    e.events = events;
    e.data.u64 = tag;
    return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &e) == 0;
  };
  // False when the kernel refused (no memory): the connection must then close, since it would
  // never be woken again.
  auto modify = [&](Connection& c) {
    epoll_event e{};
    e.events = (c.reading ? EPOLLIN : 0u) | (c.output_sent < c.output.size() ? EPOLLOUT : 0u);
    e.data.u64 = static_cast<uint64_t>(c.fd);
    return ::epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &e) == 0;
  };
  auto close_connection = [&](int fd, Event why) {
    counters.add(why);
    ::close(fd);  // also removes it from the epoll set
    connections.erase(fd);
  };

  // Sends what is queued; false when the connection failed.
  auto flush = [&](Connection& c) {
    const size_t before = c.output_sent;
    while (c.output_sent < c.output.size()) {
      const ssize_t n =
          ::send(c.fd, c.output.data() + c.output_sent, c.output.size() - c.output_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return false;
      }
      c.output_sent += static_cast<size_t>(n);
    }
    if (c.output_sent != before) c.last_progress_ms = net::unix_now_ms();  // a slow reader is not idle
    if (c.output_sent == c.output.size()) {
      c.output.clear();
      c.output_sent = 0;
    }
    return true;
  };

  // Answers every complete message in the input; false when the connection must close.
  auto process = [&](Connection& c, Event& why) {
    size_t at = 0;
    // Stop at the output cap: a client that does not read its answers gets no more of them
    // made, and the rest of its input waits until the queue drains.
    while (c.input_length - at >= 2 && c.queued() < kMaxQueuedOutput) {
      const size_t length = (static_cast<size_t>(c.input[at]) << 8) | static_cast<size_t>(c.input[at + 1]);
      if (length == 0) {
        why = Event::tcp_closed_bad_length;
        return false;
      }
      if (c.input_length - at < 2 + length) break;
      counters.add(Event::tcp_queries);
      QueryContext context;
      context.remote = c.peer;
      context.remote_port = c.peer_port;
      context.transport = net::Transport::tcp;
      context.now_ms = net::unix_now_ms();
      const ResponseResult r =
          responder_.respond({c.input.data() + at + 2, length}, context, {answer.data() + 2, kMaxMessage}, observation);
      counters.add(r.outcome);
      count_cookie(counters, r.cookie);
      if (r.observed && admit(observation, counters)) record({&observation, 1}, counters);
      if (r.length > 0) {
        answer[0] = static_cast<std::byte>(r.length >> 8);
        answer[1] = static_cast<std::byte>(r.length & 0xFF);
        c.output.insert(c.output.end(), answer.begin(), answer.begin() + static_cast<ptrdiff_t>(2 + r.length));
      }
      at += 2 + length;
      c.last_progress_ms = context.now_ms;
    }
    if (at > 0) {
      std::memmove(c.input.data(), c.input.data() + at, c.input_length - at);
      c.input_length -= at;
    }
    return true;
  };

  bool running = true;
  while (running) {
    epoll_event ready[64];
    const int n = ::epoll_wait(epoll, ready, 64, 250);
    if (n < 0 && errno != EINTR) {
      counters.add(Event::tcp_server_failed);  // cannot happen with a valid set: a bug, made visible
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = ready[i].data.u64;
      if (tag == kTcpStopTag) {
        running = false;
        break;
      }
      if (tag >= kTcpListenerTagBase) {
        const int listener = tcp_listeners_[tag - kTcpListenerTagBase].get();
        while (true) {
          sockaddr_storage peer{};
          socklen_t peer_length = sizeof peer;
          const int fd =
              ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && spare) {
              // Out of descriptors: the pending connection would keep the listener readable and
              // this loop spinning. Free the spare, take the connection and close it, re-arm.
              spare.reset();
              const int dropped = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
              if (dropped >= 0) ::close(dropped);
              spare.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
              counters.add(Event::tcp_refused_no_descriptors);
              continue;
            }
            break;
          }
          if (connections.size() >= options_.tcp_max_connections) {
            counters.add(Event::tcp_refused_over_cap);
            ::close(fd);
            continue;
          }
          counters.add(Event::tcp_accepted);
          const net::Peer from = net::peer_of(peer, peer_length);
          Connection& c = connections[fd];
          c.fd = fd;
          c.peer = from.ip;
          c.peer_port = from.port;
          c.last_progress_ms = net::unix_now_ms();
          if (!add(fd, EPOLLIN, static_cast<uint64_t>(fd))) close_connection(fd, Event::tcp_closed_error);
        }
        continue;
      }
      const int fd = static_cast<int>(tag);
      auto found = connections.find(fd);
      if (found == connections.end()) continue;
      Connection& c = found->second;
      if (ready[i].events & (EPOLLERR)) {
        close_connection(fd, Event::tcp_closed_error);
        continue;
      }
      if ((ready[i].events & (EPOLLIN | EPOLLHUP)) && c.reading) {
        const ssize_t got = ::recv(fd, c.input.data() + c.input_length, kInputCapacity - c.input_length, 0);
        if (got == 0) {
          c.peer_closed = true;  // a client may pipeline, then half-close: its answers still go out
        } else if (got < 0 && errno != EAGAIN && errno != EINTR) {
          close_connection(fd, Event::tcp_closed_error);
          continue;
        } else if (got > 0) {
          c.input_length += static_cast<size_t>(got);
        }
      }
      Event why = Event::tcp_closed_error;
      if (!process(c, why)) {
        (void)flush(c);  // answers already made still go out if they can
        close_connection(fd, why);
        continue;
      }
      if (!flush(c)) {
        close_connection(fd, Event::tcp_closed_error);
        continue;
      }
      if (c.peer_closed && c.queued() == 0) {
        close_connection(fd, Event::tcp_closed_by_peer);
        continue;
      }
      c.reading = !c.peer_closed && c.queued() < kMaxQueuedOutput && c.input_length < kInputCapacity;
      if (!modify(c)) close_connection(fd, Event::tcp_closed_error);
    }
    // Idle and stalled connections: no complete message for longer than the timeout.
    const int64_t now = net::unix_now_ms();
    for (auto it = connections.begin(); it != connections.end();) {
      if (now - it->second.last_progress_ms > options_.tcp_idle_timeout_ms) {
        counters.add(Event::tcp_closed_idle);
        ::close(it->first);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [fd, c] : connections) ::close(fd);
}

}  // namespace dnsleak::auth
