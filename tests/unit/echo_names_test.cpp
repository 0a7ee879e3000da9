#include "probe/echo_names.h"

#include <gtest/gtest.h>

namespace dnsleak::probe {
namespace {

// The answers' shapes as the services send them (strings of each TXT record).
TEST(ParseEchoTxt, Akamai) {
  const EchoAnswer a = parse_echo_txt({{"ns", "192.0.2.53"}, {"ecs", "198.51.100.0/24/24"}});
  EXPECT_EQ(a.resolvers, std::vector<std::string>{"192.0.2.53"});
  EXPECT_EQ(a.subnet, "198.51.100.0/24");
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(parse_echo_txt({{"ns", "2001:db8::53"}}).resolvers, std::vector<std::string>{"2001:db8::53"});
}

TEST(ParseEchoTxt, Google) {
  const EchoAnswer a = parse_echo_txt({{"172.253.1.7"}, {"edns0-client-subnet 198.51.100.0/24"}});
  EXPECT_EQ(a.resolvers, std::vector<std::string>{"172.253.1.7"});
  EXPECT_EQ(a.subnet, "198.51.100.0/24");
}

TEST(ParseEchoTxt, Dnsleakd) {
  const EchoAnswer a = parse_echo_txt({{"resolver=10.77.20.53 port=40000 transport=udp", "ecs=203.0.113.0/24"}});
  EXPECT_EQ(a.resolvers, std::vector<std::string>{"10.77.20.53"});
  EXPECT_EQ(a.subnet, "203.0.113.0/24");
}

TEST(ParseEchoTxt, NothingUsable) {
  EXPECT_EQ(parse_echo_txt({}).error, "the answer names no resolver");
  EXPECT_TRUE(parse_echo_txt({{"hello", "world"}, {"ns", "not-an-address"}}).resolvers.empty());
}

TEST(PublicEchoNames, AreTheDocumentedOnes) {
  const auto names = public_echo_names();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0].name, "whoami.ds.akahelp.net");
  EXPECT_EQ(names[1].name, "o-o.myaddr.l.google.com");
  EXPECT_FALSE(names[2].txt);  // whoami.akamai.net: the A record is the resolver
}

}  // namespace
}  // namespace dnsleak::probe
