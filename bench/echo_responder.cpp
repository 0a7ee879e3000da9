// dnsleak-echo: the ceiling reference for the UDP benchmark. It answers every datagram by sending
// it back with QR set, in recvmmsg/sendmmsg batches: the kernel's UDP path and nothing else.
// Runs until SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
volatile sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT   (listens on 127.0.0.1)\n", argv[0]);
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("dnsleak-echo: bind");
    return 1;
  }
  // The same 4 MiB receive buffer dnsleakd asks for, so the ceiling is not lowered by drops.
  const int buffer = 4 << 20;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  }
  timeval tick{0, 200'000};  // wake up to notice a signal
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  constexpr unsigned kBatch = 64;
  std::vector<char> buffers(kBatch * 4096);
  std::vector<sockaddr_storage> peers(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> messages(kBatch);
  while (!stop) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {buffers.data() + i * 4096, 4096};
      messages[i].msg_hdr = msghdr{};
      messages[i].msg_hdr.msg_name = &peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int got = ::recvmmsg(fd, messages.data(), kBatch, MSG_WAITFORONE, nullptr);
    if (got <= 0) continue;
    for (int i = 0; i < got; ++i) {
      iov[i].iov_len = messages[i].msg_len;
      if (messages[i].msg_len > 2) buffers[i * 4096 + 2] = static_cast<char>(buffers[i * 4096 + 2] | 0x80);
    }
    int sent = 0;
    while (sent < got) {
      const int s = ::sendmmsg(fd, messages.data() + sent, static_cast<unsigned>(got - sent), 0);
      if (s <= 0) break;
      sent += s;
    }
  }
  ::close(fd);
  return 0;
}
