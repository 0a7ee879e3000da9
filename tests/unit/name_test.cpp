#include "dns/name.h"

#include <gtest/gtest.h>

#include <vector>

namespace dnsleak::dns {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(DnsName, FromTextAndBack) {
  DnsName n;
  ASSERT_TRUE(n.from_text("Leak.Example.org."));
  EXPECT_EQ(n.label_count(), 3u);
  EXPECT_EQ(n.length(), 18u);
  EXPECT_EQ(n.to_text(), "Leak.Example.org");
  EXPECT_EQ(n.lowercased().to_text(), "leak.example.org");
}

TEST(DnsName, RejectsBadText) {
  DnsName n;
  EXPECT_FALSE(n.from_text("a..b"));
  EXPECT_FALSE(n.from_text(std::string(64, 'a') + ".org"));
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  EXPECT_FALSE(n.from_text(long_name));
  EXPECT_TRUE(n.from_text(std::string(63, 'a') + ".org"));
}

TEST(DnsName, TellsHostNames) {
  const auto host = [](const char* text) {
    DnsName n;
    EXPECT_TRUE(n.from_text(text)) << text;
    return n.is_host_name();
  };
  EXPECT_TRUE(host("leak.example.org"));
  EXPECT_TRUE(host("xn--bcher-kva.example"));
  EXPECT_TRUE(host("0-9.A-Z.test."));
  EXPECT_FALSE(host("."));
  EXPECT_FALSE(host("bad zone.test"));
  EXPECT_FALSE(host("under_score.test"));
  EXPECT_FALSE(host("-lead.test"));
  EXPECT_FALSE(host("trail-.test"));
  EXPECT_FALSE(host("dot\\.inside.test"));
}

TEST(DnsName, EscapesInPresentation) {
  DnsName n;
  ASSERT_TRUE(n.from_text("a\\.b.c"));
  EXPECT_EQ(n.label_count(), 2u);
  EXPECT_EQ(n.to_text(), "a\\.b.c");
  ASSERT_TRUE(n.from_text("x\\000y.c"));
  EXPECT_EQ(n.label(0).size(), 3u);
  EXPECT_EQ(n.to_text(), "x\\000y.c");
}

TEST(DnsName, FinalDotAfterAnEscapedBackslashEndsTheName) {
  DnsName n;
  ASSERT_TRUE(n.from_text("a\\\\."));  // a\\. : label "a\\", then the root
  EXPECT_EQ(n.label_count(), 1u);
  EXPECT_EQ(n.label(0).size(), 2u);
  ASSERT_TRUE(n.from_text("a\\.b"));  // a\.b: one label "a.b"
  EXPECT_EQ(n.label_count(), 1u);
}

TEST(DnsName, EndsWithIgnoresCaseAndRespectsLabels) {
  DnsName name, zone, other;
  ASSERT_TRUE(name.from_text("abc.LEAK.example.ORG"));
  ASSERT_TRUE(zone.from_text("leak.example.org"));
  ASSERT_TRUE(other.from_text("eak.example.org"));
  EXPECT_TRUE(name.ends_with(zone));
  EXPECT_FALSE(name.ends_with(other));
  EXPECT_FALSE(zone.ends_with(name));
  EXPECT_TRUE(zone.equals(zone.lowercased()));
}

TEST(ReadName, FollowsBackwardPointerAndKeepsCase) {
  // "Ab.org" at 0, then at 8: "X" + pointer to 0.
  auto data = bytes({2, 'A', 'b', 3, 'o', 'r', 'g', 0, 1, 'X', 0xC0, 0x00, 0xEE});
  WireReader r(data, 8);
  DnsName n;
  ASSERT_TRUE(read_name(r, n));
  EXPECT_EQ(n.to_text(), "X.Ab.org");
  EXPECT_EQ(r.offset(), 12u);  // after the pointer, not after the target
}

TEST(ReadName, RejectsPointerLoopsAndForwardPointers) {
  auto self = bytes({0xC0, 0x00});
  WireReader r1(self);
  DnsName n;
  EXPECT_FALSE(read_name(r1, n));
  auto forward = bytes({0xC0, 0x02, 0});
  WireReader r2(forward);
  EXPECT_FALSE(read_name(r2, n));
  // Two pointers chasing each other: 0 -> 2 is forward, but start at 2: 2 -> 0 -> 2.
  auto loop = bytes({0xC0, 0x02, 0xC0, 0x00});
  WireReader r3(loop, 2);
  EXPECT_FALSE(read_name(r3, n));
}

TEST(ReadName, RejectsOverlongAndTruncatedNames) {
  std::vector<std::byte> data;
  for (int i = 0; i < 5; ++i) {
    data.push_back(std::byte{60});
    for (int k = 0; k < 60; ++k) data.push_back(std::byte{'a'});
  }
  data.push_back(std::byte{0});
  WireReader r(data);
  DnsName n;
  EXPECT_FALSE(read_name(r, n));
  auto truncated = bytes({3, 'a', 'b'});
  WireReader r2(truncated);
  EXPECT_FALSE(read_name(r2, n));
  auto bad_type = bytes({0x41, 0});
  WireReader r3(bad_type);
  EXPECT_FALSE(read_name(r3, n));
}

TEST(ReadName, AcceptsMaximumLengthName) {
  // 3 labels of 63 + 1 of 61 = 4 + 189 + 61 + root = 255 octets.
  std::vector<std::byte> data;
  for (int len : {63, 63, 63, 61}) {
    data.push_back(static_cast<std::byte>(len));
    for (int k = 0; k < len; ++k) data.push_back(std::byte{'z'});
  }
  data.push_back(std::byte{0});
  ASSERT_EQ(data.size(), 255u);
  WireReader r(data);
  DnsName n;
  ASSERT_TRUE(read_name(r, n));
  EXPECT_EQ(n.length(), 255u);
}

}  // namespace
}  // namespace dnsleak::dns
