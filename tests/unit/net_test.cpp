// The ground floor: addresses, prefixes, socket addresses and the error type.
#include <gtest/gtest.h>

#include <cerrno>

#include "net/error.h"
#include "net/ip_address.h"
#include "net/socket_address.h"

namespace dnsleak::net {
namespace {

TEST(ParseIp, ReadsBothFamiliesAndSaysWhatIsWrong) {
  const Result<IpAddress> v4 = parse_ip("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family, 4);
  EXPECT_EQ(v4->octets(), 4u);
  EXPECT_EQ(v4->to_string(), "192.0.2.1");
  const Result<IpAddress> v6 = parse_ip("2001:DB8::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, 6);
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
  for (const char* bad : {"", "192.0.2", "192.0.2.256", "2001:db8:::1", "host.example", " 192.0.2.1"}) {
    const Result<IpAddress> r = parse_ip(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, std::string("'") + bad + "' is not an IP address");
  }
  EXPECT_FALSE(parse_ip(std::string(100, '1')));  // longer than any address: no overrun
}

TEST(Prefix, ParsesMasksAndContains) {
  const Result<Prefix> p = parse_prefix("10.77.0.0/16");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->length, 16);
  EXPECT_TRUE(p->contains(parse_ip("10.77.200.1").value()));
  EXPECT_FALSE(p->contains(parse_ip("10.78.0.1").value()));
  EXPECT_FALSE(p->contains(parse_ip("::ffff:10.77.0.1").value()));  // another family
  EXPECT_EQ(p->to_string(), "10.77.0.0/16");

  const Result<Prefix> v6 = parse_prefix("fd77::/61");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(parse_ip("fd77:0:0:7::1").value()));
  EXPECT_FALSE(v6->contains(parse_ip("fd77:0:0:8::1").value()));

  const Result<Prefix> host = parse_prefix("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->length, 32);
  EXPECT_TRUE(parse_prefix("0.0.0.0/0").value().contains(parse_ip("203.0.113.9").value()));

  EXPECT_EQ(parse_prefix("10.0.0.1/8").error().message,
            "'10.0.0.1/8' has bits set past its prefix length (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(parse_prefix("10.0.0.1/8", HostBits::clear).value().to_string(), "10.0.0.0/8");
  EXPECT_EQ(parse_prefix("10.0.0.0/33").error().message, "'10.0.0.0/33': the prefix length must be 0 to 32");
  EXPECT_FALSE(parse_prefix("10.0.0.0/"));
  EXPECT_FALSE(parse_prefix("10.0.0.0/8x"));
  EXPECT_FALSE(parse_prefix("fd77::/129"));
  EXPECT_FALSE(parse_prefix("banana/8"));
}

TEST(Prefix, PrefixOfClearsBitsWithinAnOctet) {
  const IpAddress a = parse_ip("203.0.113.255").value();
  EXPECT_EQ(prefix_of(a, 25).to_string(), "203.0.113.128");
  EXPECT_EQ(prefix_of(a, 20).to_string(), "203.0.112.0");
  EXPECT_EQ(prefix_of(a, 0).to_string(), "0.0.0.0");
  EXPECT_EQ(prefix_of(a, 99).to_string(), "203.0.113.255");  // capped at the family's bits
  EXPECT_EQ(prefix_of(parse_ip("2001:db8:ffff::1").value(), 36).to_string(), "2001:db8:f000::");
}

TEST(SocketAddress, ParsesFormatsAndRefuses) {
  const Result<SocketAddress> v4 = parse_socket_address("127.0.0.1:5353");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 5353);
  EXPECT_FALSE(v4->is_wildcard());
  EXPECT_EQ(v4->to_string(), "127.0.0.1:5353");
  const Result<SocketAddress> v6 = parse_socket_address("[::]:53");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_wildcard());
  EXPECT_EQ(v6->to_string(), "[::]:53");
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:53", "[::1]53", "[::1", "host:53"}) {
    const Result<SocketAddress> r = parse_socket_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("is not ADDRESS:PORT"), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(local_address(-1));
  EXPECT_EQ(local_address(-1).error().system_errno, EBADF);
}

TEST(Error, CarriesContextAndErrno) {
  errno = ENOENT;
  const Error e = system_error("cannot open x");
  EXPECT_EQ(e.message, "cannot open x: No such file or directory");
  EXPECT_EQ(e.system_errno, ENOENT);
  Error inner{"disk full", 28};
  const Error outer = std::move(inner).within("observation log");
  EXPECT_EQ(outer.message, "observation log: disk full");
  EXPECT_EQ(outer.system_errno, 28);
  EXPECT_EQ(concat({"a", "", "bc", std::string("d")}), "abcd");
}

}  // namespace
}  // namespace dnsleak::net
