// dnsleak-loadgen: a bounded, batching DNS load generator for the benchmark.
//
// dnsperf saturates (~80-95k qps on 2 cores) below what NSD and Knot serve, so this generator keeps
// a window of outstanding queries over a few UDP sockets with sendmmsg/recvmmsg (or pipelines them
// over a few TCP connections) and measures queries per second, latency percentiles and lost
// queries. Every query name is unique: `<token>-<probe>.<zone>`, with tokens valid for the given
// secret, 10% AAAA by default. Loopback only; stops after --queries or --max-seconds.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "testname/test_token.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string server = "127.0.0.1:53";
  std::string zone = "leak.test";
  std::string secret_file;
  std::string label = "server";
  uint64_t queries = 1'000'000;
  unsigned aaaa_percent = 10;
  unsigned window = 256;
  unsigned sockets = 4;
  unsigned batch = 32;
  bool tcp = false;
  double max_seconds = 120;
  double timeout_ms = 1000;
  double rate = 0;              // queries per second, open loop; 0: as fast as the window allows
  unsigned names_per_test = 1;  // consecutive names sharing one test id (a standard test has 9)
  std::string write_names;      // write "name type" lines (dnsperf's input) and exit
};

struct QuerySet {
  std::vector<uint8_t> bytes;     // all queries back to back, ID fields zero
  std::vector<uint32_t> offsets;  // query i is bytes[offsets[i] .. offsets[i+1])
  size_t size() const { return offsets.size() - 1; }
  const uint8_t* data(size_t i) const { return bytes.data() + offsets[i]; }
  size_t length(size_t i) const { return offsets[i + 1] - offsets[i]; }
};

QuerySet build_queries(const Options& o) {
  std::string secret = "benchmark secret, random tokens";
  if (!o.secret_file.empty()) {
    std::ifstream f(o.secret_file);
    std::stringstream s;
    s << f.rdbuf();
    secret = s.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == ' ' || secret.back() == '\r'))
      secret.pop_back();
  }
  const dnsleak::testname::TokenAuthority authority(secret);
  const uint32_t now = static_cast<uint32_t>(std::time(nullptr));
  std::mt19937_64 random(12345);
  QuerySet set;
  dnsleak::testname::TestId id{};
  std::string token;
  set.bytes.reserve(o.queries * 80);
  set.offsets.reserve(o.queries + 1);
  for (uint64_t i = 0; i < o.queries; ++i) {
    set.offsets.push_back(static_cast<uint32_t>(set.bytes.size()));
    if (i % o.names_per_test == 0) {
      for (auto& b : id) b = static_cast<uint8_t>(random());
      token = authority.issue(id, now).text();
    }
    const std::string first = token + "-b" + std::to_string(o.names_per_test == 1 ? i % 10 : i % o.names_per_test);
    const uint8_t header[12] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};  // ID set at send, QDCOUNT 1, no RD
    set.bytes.insert(set.bytes.end(), header, header + 12);
    set.bytes.push_back(static_cast<uint8_t>(first.size()));
    set.bytes.insert(set.bytes.end(), first.begin(), first.end());
    std::stringstream zone(o.zone);
    std::string label;
    while (std::getline(zone, label, '.')) {
      set.bytes.push_back(static_cast<uint8_t>(label.size()));
      set.bytes.insert(set.bytes.end(), label.begin(), label.end());
    }
    set.bytes.push_back(0);
    const uint16_t qtype = (i % 100) < o.aaaa_percent ? 28 : 1;
    const uint8_t tail[4] = {0, static_cast<uint8_t>(qtype), 0, 1};
    set.bytes.insert(set.bytes.end(), tail, tail + 4);
  }
  set.offsets.push_back(static_cast<uint32_t>(set.bytes.size()));
  return set;
}

sockaddr_storage parse_address(const std::string& text, socklen_t& length) {
  sockaddr_storage s{};
  const size_t colon = text.rfind(':');
  std::string host = text.substr(0, colon);
  const int port = std::stoi(text.substr(colon + 1));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("--server: '" + text + "' is not ADDR:PORT");
  }
  return s;
}

// Outstanding queries of one socket or connection, by DNS ID.
struct Lane {
  int fd = -1;
  std::vector<int64_t> sent_ns = std::vector<int64_t>(65536, -1);  // -1: free
  std::vector<uint16_t> order;                                     // IDs in send order (for timeouts)
  size_t order_head = 0;
  uint16_t next_id = 0;
  unsigned outstanding = 0;
  std::vector<uint8_t> input;  // TCP: bytes received, not yet a whole message
};

struct Results {
  uint64_t sent = 0, answered = 0, lost = 0, noerror = 0, other_rcode = 0;
  std::vector<uint32_t> latency_us;
  int64_t first_send_ns = 0, last_receive_ns = 0;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void on_answer(Lane& lane, const uint8_t* msg, size_t length, Results& r) {
  if (length < 12) return;
  const uint16_t id = static_cast<uint16_t>((msg[0] << 8) | msg[1]);
  if (lane.sent_ns[id] < 0) return;  // late answer to a query already counted lost
  const int64_t t = now_ns();
  r.latency_us.push_back(static_cast<uint32_t>((t - lane.sent_ns[id]) / 1000));
  lane.sent_ns[id] = -1;
  --lane.outstanding;
  ++r.answered;
  if ((msg[3] & 0x0F) == 0)
    ++r.noerror;
  else
    ++r.other_rcode;
  r.last_receive_ns = t;
}

void expire(Lane& lane, int64_t now, int64_t timeout_ns, Results& r) {
  while (lane.order_head < lane.order.size()) {
    const uint16_t id = lane.order[lane.order_head];
    if (lane.sent_ns[id] >= 0) {
      if (now - lane.sent_ns[id] < timeout_ns) break;
      lane.sent_ns[id] = -1;
      --lane.outstanding;
      ++r.lost;
    }
    ++lane.order_head;
  }
  if (lane.order_head > 65536) {
    lane.order.erase(lane.order.begin(), lane.order.begin() + static_cast<ptrdiff_t>(lane.order_head));
    lane.order_head = 0;
  }
}

Results run(const Options& o, const QuerySet& queries) {
  socklen_t address_length = 0;
  const sockaddr_storage address = parse_address(o.server, address_length);
  std::vector<Lane> lanes(std::max(1u, o.sockets));
  for (Lane& lane : lanes) {
    lane.fd = ::socket(address.ss_family, (o.tcp ? SOCK_STREAM : SOCK_DGRAM), 0);
    if (lane.fd < 0 || ::connect(lane.fd, reinterpret_cast<const sockaddr*>(&address), address_length) != 0) {
      throw std::runtime_error("cannot connect to " + o.server + ": " + std::strerror(errno));
    }
    const int size = 4 << 20;
    // FORCE passes rmem_max/wmem_max as root; the plain call is the fallback.
    if (::setsockopt(lane.fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      ::setsockopt(lane.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    if (::setsockopt(lane.fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
      ::setsockopt(lane.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
  }
  const unsigned per_lane = std::max(1u, o.window / static_cast<unsigned>(lanes.size()));
  const int64_t timeout_ns = static_cast<int64_t>(o.timeout_ms * 1e6);
  const int64_t deadline = now_ns() + static_cast<int64_t>(o.max_seconds * 1e9);
  Results r;
  r.latency_us.reserve(queries.size());
  size_t next = 0;
  std::vector<uint8_t> send_buffer(o.batch * 600);
  std::vector<mmsghdr> messages(o.batch);
  std::vector<iovec> iov(o.batch);
  std::vector<uint8_t> receive_buffer(o.batch * 4096);
  r.first_send_ns = now_ns();
  while (true) {
    const int64_t now = now_ns();
    if (now > deadline) break;
    uint64_t outstanding = 0;
    for (Lane& lane : lanes) outstanding += lane.outstanding;
    if (next >= queries.size() && outstanding == 0) break;
    // Send: fill each lane's window in batches.
    for (Lane& lane : lanes) {
      expire(lane, now, timeout_ns, r);
      unsigned n = 0;
      size_t used = 0;
      // Open loop: no more than the rate allows by now, however fast the answers come.
      const size_t allowed =
          o.rate > 0 ? std::min(queries.size(),
                                static_cast<size_t>(static_cast<double>(now - r.first_send_ns) * o.rate / 1e9) + 1)
                     : queries.size();
      while (next < allowed && lane.outstanding + n < per_lane && n < o.batch) {
        uint16_t id = lane.next_id++;
        while (lane.sent_ns[id] >= 0) id = lane.next_id++;
        const size_t len = queries.length(next);
        uint8_t* out = send_buffer.data() + used;
        size_t prefix = 0;
        if (o.tcp) {
          out[0] = static_cast<uint8_t>(len >> 8);
          out[1] = static_cast<uint8_t>(len);
          prefix = 2;
        }
        std::memcpy(out + prefix, queries.data(next), len);
        out[prefix] = static_cast<uint8_t>(id >> 8);
        out[prefix + 1] = static_cast<uint8_t>(id);
        iov[n] = {out, len + prefix};
        messages[n].msg_hdr = msghdr{};
        messages[n].msg_hdr.msg_iov = &iov[n];
        messages[n].msg_hdr.msg_iovlen = 1;
        lane.sent_ns[id] = now;
        lane.order.push_back(id);
        used += len + prefix;
        ++n;
        ++next;
      }
      if (n == 0) continue;
      lane.outstanding += n;
      r.sent += n;
      if (o.tcp) {
        size_t off = 0;
        while (off < used) {
          const ssize_t w = ::send(lane.fd, send_buffer.data() + off, used - off, MSG_NOSIGNAL);
          if (w <= 0) throw std::runtime_error(std::string("tcp send: ") + std::strerror(errno));
          off += static_cast<size_t>(w);
        }
      } else {
        unsigned done = 0;
        while (done < n) {
          const int s = ::sendmmsg(lane.fd, messages.data() + done, n - done, 0);
          if (s <= 0) break;  // unsent ones time out and count as lost
          done += static_cast<unsigned>(s);
        }
      }
    }
    // Receive whatever is there; wait briefly only when nothing came.
    bool got_any = false;
    for (Lane& lane : lanes) {
      if (o.tcp) {
        uint8_t chunk[65536];
        const ssize_t got = ::recv(lane.fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (got <= 0) continue;
        got_any = true;
        lane.input.insert(lane.input.end(), chunk, chunk + got);
        size_t at = 0;
        while (lane.input.size() - at >= 2) {
          const size_t len = (lane.input[at] << 8) | lane.input[at + 1];
          if (lane.input.size() - at < 2 + len) break;
          on_answer(lane, lane.input.data() + at + 2, len, r);
          at += 2 + len;
        }
        lane.input.erase(lane.input.begin(), lane.input.begin() + static_cast<ptrdiff_t>(at));
        continue;
      }
      for (unsigned i = 0; i < o.batch; ++i) {
        iov[i] = {receive_buffer.data() + i * 4096, 4096};
        messages[i].msg_hdr = msghdr{};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      const int got = ::recvmmsg(lane.fd, messages.data(), o.batch, MSG_DONTWAIT, nullptr);
      if (got <= 0) continue;
      got_any = true;
      for (int i = 0; i < got; ++i) on_answer(lane, receive_buffer.data() + i * 4096, messages[i].msg_len, r);
    }
    if (!got_any) {
      std::vector<pollfd> fds;
      for (Lane& lane : lanes) fds.push_back({lane.fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 1);
    }
  }
  for (Lane& lane : lanes) {
    r.lost += lane.outstanding;
    ::close(lane.fd);
  }
  return r;
}

uint32_t percentile(std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"dnsleak-loadgen: a bounded batching DNS load generator (loopback benchmarks only)"};
  app.add_option("--server", o.server, "ADDR:PORT of the server under test")->required();
  app.add_option("--zone", o.zone, "zone the query names are under");
  app.add_option("--secret-file", o.secret_file, "token secret, so names are valid dnsleakd test names");
  app.add_option("--label", o.label, "name printed with the results");
  app.add_option("--queries", o.queries, "unique queries to send")->check(CLI::Range(1ull, 100'000'000ull));
  app.add_option("--aaaa-percent", o.aaaa_percent, "share of AAAA queries")->check(CLI::Range(0, 100));
  app.add_option("--window", o.window, "outstanding queries at most")->check(CLI::Range(1, 60000));
  app.add_option("--sockets", o.sockets, "UDP sockets or TCP connections")->check(CLI::Range(1, 64));
  app.add_option("--batch", o.batch, "queries per sendmmsg/recvmmsg")->check(CLI::Range(1, 256));
  app.add_flag("--tcp", o.tcp, "pipeline queries over TCP connections");
  app.add_option("--max-seconds", o.max_seconds, "stop after this long whatever is left")
      ->check(CLI::Range(1.0, 600.0));
  app.add_option("--timeout-ms", o.timeout_ms, "an answer later than this counts as lost");
  app.add_option("--rate", o.rate, "send at this many queries per second (open loop; 0: closed loop)")
      ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_option("--names-per-test", o.names_per_test, "consecutive names under one test id [default: 1]")
      ->check(CLI::Range(1, 100));
  app.add_option("--write-names", o.write_names, "write the query names as a dnsperf data file and exit");
  CLI11_PARSE(app, argc, argv);
  try {
    const QuerySet queries = build_queries(o);
    if (!o.write_names.empty()) {
      std::ofstream out(o.write_names);
      for (size_t i = 0; i < queries.size(); ++i) {
        const uint8_t* q = queries.data(i) + 12;
        std::string name;
        while (*q != 0) {
          if (!name.empty()) name += '.';
          name.append(reinterpret_cast<const char*>(q + 1), *q);
          q += 1 + *q;
        }
        out << name << (q[2] == 28 ? " AAAA\n" : " A\n");
      }
      return out ? 0 : 1;
    }
    Results r = run(o, queries);
    std::sort(r.latency_us.begin(), r.latency_us.end());
    const double seconds = static_cast<double>(r.last_receive_ns - r.first_send_ns) / 1e9;
    std::printf(
        "{\"label\":\"%s\",\"transport\":\"%s\",\"sent\":%llu,\"answered\":%llu,\"lost\":%llu,\"noerror\":%llu,"
        "\"other_rcode\":%llu,\"seconds\":%.3f,\"qps\":%.0f,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,"
        "\"rate\":%.0f}\n",
        o.label.c_str(), o.tcp ? "tcp" : "udp", static_cast<unsigned long long>(r.sent),
        static_cast<unsigned long long>(r.answered), static_cast<unsigned long long>(r.lost),
        static_cast<unsigned long long>(r.noerror), static_cast<unsigned long long>(r.other_rcode), seconds,
        seconds > 0 ? static_cast<double>(r.answered) / seconds : 0.0, percentile(r.latency_us, 0.5),
        percentile(r.latency_us, 0.99), percentile(r.latency_us, 0.999), o.rate);
    return r.lost == 0 ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnsleak-loadgen: %s\n", e.what());
    return 1;
  }
}
