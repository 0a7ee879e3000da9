// DnsService on loopback with real sockets: UDP batches, TCP framing, the connection cap.
#include "auth/dns_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "dns_test_support.h"

namespace dnsleak::auth {
namespace {

class CollectingSink : public store::ObservationSink {
 public:
  void record(std::span<const store::ResolverObservation> batch) noexcept override {
    std::lock_guard lock(mutex);
    for (const auto& o : batch) seen.push_back(o);
  }
  Stats sink_stats() const noexcept override { return {}; }
  const char* sink_name() const noexcept override { return "test"; }
  std::mutex mutex;
  std::vector<store::ResolverObservation> seen;
};

class DnsServiceTest : public ::testing::Test {
 protected:
  DnsServiceTest() : tokens_("service test secret") {
    (void)zone_.apex.from_text("leak.test");
    NameServer ns;
    (void)ns.name.from_text("ns1.leak.test");
    ns.ipv4.push_back({127, 0, 0, 1});
    zone_.nameservers.push_back(ns);
    zone_.web_ipv4.push_back({127, 0, 0, 80});
    (void)zone_.soa_rname.from_text("hostmaster.leak.test");
    responder_ = std::make_unique<Responder>(zone_, tokens_);
    DnsServiceOptions options;
    options.listen.push_back(*net::parse_socket_address("127.0.0.1:0"));
    options.udp_workers = 2;
    options.tcp_max_connections = 2;
    options.tcp_idle_timeout_ms = 300;
    auto made = DnsService::create(options, *responder_);
    if (!made) throw std::runtime_error(made.error().message);
    service_ = std::move(*made);
    if (auto started = service_->start({&sink_}); !started) throw std::runtime_error(started.error().message);
    address_ = service_->bound().at(0);
  }

  std::string test_name() {
    return tokens_.issue(static_cast<uint32_t>(net::unix_now_ms() / 1000))->text() + "-s.leak.test";
  }

  int connect_tcp() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address_.storage), address_.length), 0);
    return fd;
  }
  // Reads one length-prefixed message, or nothing within the timeout / on close.
  static std::optional<std::vector<std::byte>> read_tcp_message(int fd, int timeout_ms = 2000) {
    std::vector<std::byte> buffer;
    size_t want = 2;
    while (buffer.size() < want) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      std::byte chunk[4096];
      const ssize_t n = ::recv(fd, chunk, std::min(sizeof chunk, want - buffer.size()), 0);
      if (n <= 0) return std::nullopt;
      buffer.insert(buffer.end(), chunk, chunk + n);
      if (buffer.size() == 2) want = 2 + ((static_cast<size_t>(buffer[0]) << 8) | static_cast<size_t>(buffer[1]));
    }
    return std::vector<std::byte>(buffer.begin() + 2, buffer.end());
  }
  static std::vector<std::byte> framed(const std::vector<std::byte>& query) {
    std::vector<std::byte> out(2 + query.size());
    out[0] = static_cast<std::byte>(query.size() >> 8);
    out[1] = static_cast<std::byte>(query.size() & 0xFF);
    std::copy(query.begin(), query.end(), out.begin() + 2);
    return out;
  }

  ZoneConfig zone_;
  testname::TokenAuthority tokens_;
  std::unique_ptr<Responder> responder_;
  CollectingSink sink_;
  std::unique_ptr<DnsService> service_;
  net::SocketAddress address_;
};

TEST_F(DnsServiceTest, AnswersUdpAndRecordsObservations) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const std::string name = test_name();
  const auto query = testing::make_query({.name = name, .id = 77});
  ASSERT_EQ(::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&address_.storage),
                     address_.length),
            static_cast<ssize_t>(query.size()));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  std::byte answer[1500];
  const ssize_t n = ::recv(fd, answer, sizeof answer, 0);
  ::close(fd);
  ASSERT_GT(n, 0);
  const auto r = testing::parse_response({answer, static_cast<size_t>(n)});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 77);
  EXPECT_EQ(r->answer.size(), 1u);
  service_->stop();
  ASSERT_EQ(sink_.seen.size(), 1u);
  EXPECT_EQ(sink_.seen[0].qname.to_text(), name);
  EXPECT_EQ(sink_.seen[0].resolver.to_string(), "127.0.0.1");
  const CounterTotals totals = service_->counters();
  EXPECT_EQ(totals[Event::udp_queries], 1u);
  EXPECT_EQ(totals[Outcome::answer], 1u);
  EXPECT_EQ(totals[Event::observations], 1u);
}

TEST_F(DnsServiceTest, TcpAnswersPipelinedQueriesInOrder) {
  const int fd = connect_tcp();
  std::vector<std::byte> both = framed(testing::make_query({.name = test_name(), .id = 1}));
  const auto second = framed(testing::make_query({.name = "example.com", .id = 2}));
  both.insert(both.end(), second.begin(), second.end());
  // Send byte by byte: framing must not depend on segment boundaries.
  for (std::byte b : both) ASSERT_EQ(::send(fd, &b, 1, 0), 1);
  const auto first = read_tcp_message(fd);
  const auto next = read_tcp_message(fd);
  ::close(fd);
  ASSERT_TRUE(first && next);
  EXPECT_EQ(testing::parse_response(*first)->id, 1);
  EXPECT_EQ(testing::parse_response(*next)->rcode, 5);
}

TEST_F(DnsServiceTest, TcpHalfCloseStillGetsEveryAnswer) {
  const int fd = connect_tcp();
  std::vector<std::byte> all;
  for (uint16_t id = 1; id <= 3; ++id) {
    const auto q = framed(testing::make_query({.name = test_name(), .id = id}));
    all.insert(all.end(), q.begin(), q.end());
  }
  ASSERT_EQ(::send(fd, all.data(), all.size(), 0), static_cast<ssize_t>(all.size()));
  ::shutdown(fd, SHUT_WR);  // pipelined, then done sending
  for (uint16_t id = 1; id <= 3; ++id) {
    const auto answer = read_tcp_message(fd);
    ASSERT_TRUE(answer) << "answer " << id;
    EXPECT_EQ(testing::parse_response(*answer)->id, id);
  }
  EXPECT_FALSE(read_tcp_message(fd, 1000));  // then the server closes
  ::close(fd);
}

TEST_F(DnsServiceTest, TcpStalledAndZeroLengthConnectionsAreClosed) {
  const int stalled = connect_tcp();
  const std::byte partial[3] = {std::byte{0}, std::byte{200}, std::byte{1}};  // promises 200, sends 1
  ASSERT_EQ(::send(stalled, partial, 3, 0), 3);
  EXPECT_FALSE(read_tcp_message(stalled, 3000));  // closed by the idle timeout, no answer
  ::close(stalled);
  const int zero = connect_tcp();
  const std::byte empty[2] = {};
  ASSERT_EQ(::send(zero, empty, 2, 0), 2);
  EXPECT_FALSE(read_tcp_message(zero, 3000));
  ::close(zero);
  const CounterTotals totals = service_->counters();
  EXPECT_EQ(totals[Event::tcp_closed_idle], 1u);
  EXPECT_EQ(totals[Event::tcp_closed_bad_length], 1u);
}

TEST_F(DnsServiceTest, TcpConnectionCapRefusesExtraConnections) {
  const int a = connect_tcp(), b = connect_tcp();
  usleep(100'000);
  const int c = connect_tcp();
  // The third is accepted by the kernel, then closed by the server at once.
  EXPECT_FALSE(read_tcp_message(c, 1000));
  // The first two still work.
  ASSERT_EQ(::send(a, framed(testing::make_query({.name = "leak.test", .qtype = 6})).data(), 29, 0), 29);
  EXPECT_TRUE(read_tcp_message(a));
  ::close(a);
  ::close(b);
  ::close(c);
  EXPECT_GE(service_->counters()[Event::tcp_refused_over_cap], 1u);
}

TEST_F(DnsServiceTest, StopWakesTheBlockedUdpThreadsAtOnce) {
  // The UDP threads block in recvmmsg with nothing to read; stop() must not wait for their
  // 1 s receive timeout (the fallback), let alone hang.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto start = std::chrono::steady_clock::now();
  service_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  service_->stop();  // idempotent
}

TEST(PeerOf, GivesTheAddressAndPortObservationsRecord) {
  sockaddr_storage s{};
  auto& v4 = reinterpret_cast<sockaddr_in&>(s);
  v4.sin_family = AF_INET;
  v4.sin_port = htons(5353);
  inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
  net::Peer p = net::peer_of(s, sizeof(sockaddr_in));
  EXPECT_EQ(p.ip.to_string(), "192.0.2.7");
  EXPECT_EQ(p.ip.family, 4);
  EXPECT_EQ(p.port, 5353);

  s = {};
  auto& v6 = reinterpret_cast<sockaddr_in6&>(s);
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(40000);
  inet_pton(AF_INET6, "2001:db8::53", &v6.sin6_addr);
  p = net::peer_of(s, sizeof(sockaddr_in6));
  EXPECT_EQ(p.ip.to_string(), "2001:db8::53");
  EXPECT_EQ(p.ip.family, 6);
  EXPECT_EQ(p.port, 40000);

  inet_pton(AF_INET6, "::ffff:198.51.100.9", &v6.sin6_addr);  // a dual-stack socket's IPv4 peer
  p = net::peer_of(s, sizeof(sockaddr_in6));
  EXPECT_EQ(p.ip.to_string(), "198.51.100.9");
  EXPECT_EQ(p.ip.family, 4);

  p = net::peer_of(s, sizeof(sockaddr_in));  // too short for its family: nothing is read
  EXPECT_EQ(p.port, 0);
  EXPECT_EQ(p.ip.to_string(), "0.0.0.0");
}

}  // namespace
}  // namespace dnsleak::auth
