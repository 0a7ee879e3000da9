// dnsleak-flood: a bounded abuse load for the rate limiter, on loopback only.
//
// Sends, open loop, a mix (or one) of the floods a public authoritative server gets, each from
// --sources sockets bound to their own 127.X.Y.1 (every one a /24 of its own, as spoofed sources
// spread over many victims look to the server):
//   random   random labels under the zone (NXDOMAIN, a random-subdomain attack)
//   forged   labels shaped like test tokens whose MAC fails
//   garbage  random octets after a header (FORMERR, or dropped)
//   amplify  the zone's NS set with glue, EDNS 4096 and a cookie: the largest answer there is
//   token    one valid test token, every name under it (needs --secret-file)
// and counts, per kind, what was sent and what came back (octets, TC answers): the amplification
// factor is received octets over sent ones. Stops after --seconds; prints one JSON line per kind.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testname/test_token.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::array<const char*, 5> kKinds{"random", "forged", "garbage", "amplify", "token"};

struct Tally {
  uint64_t sent = 0, sent_octets = 0, received = 0, received_octets = 0, truncated = 0;
};

void put_name(std::vector<uint8_t>& out, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  out.push_back(0);
}

std::vector<uint8_t> query(uint16_t id, const std::string& name, uint16_t type, bool edns) {
  std::vector<uint8_t> q{static_cast<uint8_t>(id >> 8),     static_cast<uint8_t>(id), 0, 0, 0, 1, 0, 0, 0, 0, 0,
                         static_cast<uint8_t>(edns ? 1 : 0)};
  put_name(q, name);
  q.insert(q.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
  if (edns) {
    // OPT, payload 4096, a client cookie (option 10, 8 octets).
    q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  }
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dnsleak-flood: bounded abuse floods against a DNS server on loopback"};
  std::string server = "127.0.0.1:53", zone = "leak.test", secret_file, kinds_text = "random,forged,garbage,amplify";
  unsigned sources = 64, batch = 32;
  double seconds = 10, rate = 0;
  app.add_option("--server", server, "ADDR:PORT on loopback")->required();
  app.add_option("--zone", zone, "the zone");
  app.add_option("--secret-file", secret_file, "the token secret (for the token kind)");
  app.add_option("--kinds", kinds_text, "comma-separated: random,forged,garbage,amplify,token");
  app.add_option("--sources", sources, "source addresses, each its own /24 under 127/8")->check(CLI::Range(1, 4000));
  app.add_option("--seconds", seconds, "how long (bounded)")->check(CLI::Range(0.1, 300.0));
  app.add_option("--rate", rate, "queries per second in all (0: as fast as this core sends)");
  app.add_option("--batch", batch, "queries per sendmmsg")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const size_t colon = server.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(server.substr(colon + 1))));
  if (colon == std::string::npos || inet_pton(AF_INET, server.substr(0, colon).c_str(), &to.sin_addr) != 1 ||
      (ntohl(to.sin_addr.s_addr) >> 24) != 127) {
    std::fprintf(stderr, "dnsleak-flood: --server must be an IPv4 loopback ADDR:PORT\n");
    return 2;
  }
  std::vector<size_t> kinds;
  {
    std::stringstream list(kinds_text);
    std::string k;
    while (std::getline(list, k, ',')) {
      size_t i = 0;
      while (i < kKinds.size() && k != kKinds[i]) ++i;
      if (i == kKinds.size()) {
        std::fprintf(stderr, "dnsleak-flood: unknown kind '%s'\n", k.c_str());
        return 2;
      }
      if (std::find(kinds.begin(), kinds.end(), i) == kinds.end()) kinds.push_back(i);
    }
  }
  std::string token;
  if (std::find(kinds.begin(), kinds.end(), 4) != kinds.end()) {
    std::ifstream f(secret_file);
    std::stringstream text;
    text << f.rdbuf();
    std::string secret = text.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == ' ')) secret.pop_back();
    if (secret.empty()) {
      std::fprintf(stderr, "dnsleak-flood: the token kind needs --secret-file\n");
      return 2;
    }
    token = dnsleak::testname::TokenAuthority(secret).issue(static_cast<uint32_t>(std::time(nullptr)))->text();
  }

  // Sockets, each bound to 127.X.Y.1: X, Y from the source's index.
  std::vector<int> fds;
  for (unsigned i = 0; i < sources; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl((127u << 24) | ((1 + i / 250) << 16) | ((i % 250) << 8) | 1);
    const int size = 1 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      std::fprintf(stderr, "dnsleak-flood: cannot bind a source socket: %s\n", std::strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }

  std::mt19937_64 random(7);
  const std::string base32 = "abcdefghijklmnopqrstuvwxyz234567";
  auto make = [&](size_t kind, uint16_t id) {
    std::string label;
    switch (kind) {
      case 0:
        for (int c = 0; c < 12; ++c) label += base32[random() % 26];
        return query(id, label + "." + zone, 1, false);
      case 1:
        for (int c = 0; c < 32; ++c) label += base32[random() % 32];
        return query(id, label + "-p1." + zone, 1, false);
      case 2: {
        std::vector<uint8_t> g{static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
        const size_t n = 10 + random() % 60;
        for (size_t b = 0; b < n; ++b) g.push_back(static_cast<uint8_t>(random()));
        g[2] &= 0x7f;  // not a response: those are dropped unanswered
        return g;
      }
      case 3: return query(id, zone, 2, true);
      default: return query(id, token + "-f" + std::to_string(random() % 100000) + "." + zone, 1, false);
    }
  };

  std::vector<Tally> tally(kKinds.size());
  std::vector<std::vector<uint8_t>> packets(batch);
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  std::vector<std::array<uint8_t, 4096>> in(batch);
  std::vector<iovec> in_iov(batch);
  std::vector<mmsghdr> in_msgs(batch);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  uint64_t sent_total = 0, round = 0;
  auto drain = [&](int fd) {
    while (true) {
      for (unsigned i = 0; i < batch; ++i) {
        in_iov[i] = {in[i].data(), in[i].size()};
        in_msgs[i] = {};
        in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
        in_msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int got = ::recvmmsg(fd, in_msgs.data(), batch, MSG_DONTWAIT, nullptr);
      if (got <= 0) return;
      for (int i = 0; i < got; ++i) {
        const size_t kind = in[i][0] >> 5;
        if (kind >= kKinds.size()) continue;
        ++tally[kind].received;
        tally[kind].received_octets += in_msgs[i].msg_len;
        if (in_msgs[i].msg_len >= 4 && (in[i][2] & 0x02) != 0) ++tally[kind].truncated;
      }
    }
  };
  while (Clock::now() < end) {
    if (rate > 0) {
      const double due = rate * std::chrono::duration<double>(Clock::now() - start).count();
      if (static_cast<double>(sent_total) >= due) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        for (int fd : fds) drain(fd);
        continue;
      }
    }
    const int fd = fds[round % fds.size()];
    const size_t kind = kinds[round % kinds.size()];
    ++round;
    for (unsigned i = 0; i < batch; ++i) {
      // The kind in the ID's top three bits, so that answers are told apart.
      const uint16_t id = static_cast<uint16_t>((kind << 13) | (random() & 0x1fff));
      packets[i] = make(kind, id);
      iov[i] = {packets[i].data(), packets[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &to;
      msgs[i].msg_hdr.msg_namelen = sizeof to;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::sendmmsg(fd, msgs.data(), batch, MSG_DONTWAIT);
    for (int i = 0; i < n; ++i) {
      ++tally[kind].sent;
      tally[kind].sent_octets += packets[i].size();
    }
    sent_total += n > 0 ? static_cast<uint64_t>(n) : 0;
    drain(fd);
  }
  // Late answers.
  const auto linger = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < linger) {
    for (int fd : fds) drain(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count() - 0.5;
  for (size_t kind : kinds) {
    const Tally& t = tally[kind];
    std::printf(
        "{\"kind\":\"%s\",\"sources\":%u,\"seconds\":%.1f,\"sent\":%llu,\"sent_per_second\":%.0f,\"sent_octets\":%llu,"
        "\"received\":%llu,\"received_octets\":%llu,\"truncated\":%llu,\"amplification\":%.3f}\n",
        kKinds[kind], sources, elapsed, static_cast<unsigned long long>(t.sent), static_cast<double>(t.sent) / elapsed,
        static_cast<unsigned long long>(t.sent_octets), static_cast<unsigned long long>(t.received),
        static_cast<unsigned long long>(t.received_octets), static_cast<unsigned long long>(t.truncated),
        t.sent_octets == 0 ? 0.0 : static_cast<double>(t.received_octets) / static_cast<double>(t.sent_octets));
  }
  for (int fd : fds) ::close(fd);
  return 0;
}
