#include "store/observation_log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace dnsleak::store {
namespace {

ResolverObservation sample() {
  const testname::TokenAuthority authority("log test secret!");
  ResolverObservation o;
  o.token = authority.issue(testname::TestId{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 1000);
  o.probe = *testname::ProbeLabel::parse({reinterpret_cast<const uint8_t*>("p1"), 2});
  o.sub_zone = SubZone::v6;
  o.time_ms = 1'700'000'000'123;
  o.resolver.family = 6;
  o.resolver.bytes = {0x20, 0x01, 0x0d, 0xb8};
  o.resolver.bytes[15] = 1;
  o.resolver_port = 5353;
  o.transport = net::Transport::tcp;
  o.qtype = 28;
  o.edns = true;
  o.edns_payload_size = 1232;
  o.cookie = true;
  o.has_client_subnet = true;
  o.client_subnet.family = 1;
  o.client_subnet.source_prefix = 24;
  o.client_subnet.address = {192, 0, 2};
  (void)o.qname.from_text("Ab\"c.v6.leak.test");
  return o;
}

TEST(ObservationJson, HasEveryField) {
  char buffer[2048];
  const size_t n = format_observation_json(sample(), "node-a", buffer);
  ASSERT_GT(n, 0u);
  const std::string line(buffer, n);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (const char* expected :
       {"\"time\":\"2023-11-14T22:13:20.123Z\"", "\"test_id\":\"0102030405060708090a0b0c\"", "\"probe\":\"p1\"",
        "\"sub_zone\":\"v6\"", "\"node\":\"node-a\"", "\"resolver\":\"2001:db8::1\"", "\"port\":5353",
        "\"family\":\"ipv6\"", "\"transport\":\"tcp\"", "\"qtype\":\"AAAA\"", "\"qname\":\"Ab\\\\\\\"c.v6.leak.test\"",
        "\"answer\":\"answer\"", "\"edns\":{\"payload\":1232,\"do\":false,\"cookie\":true}",
        "\"ecs\":\"192.0.2.0/24\""}) {
    EXPECT_NE(line.find(expected), std::string::npos) << expected << " not in " << line;
  }
}

TEST(ObservationJson, FailsCleanlyWhenTheBufferIsSmall) {
  char buffer[40];
  EXPECT_EQ(format_observation_json(sample(), "node-a", buffer), 0u);
}

TEST(ObservationLog, AppendsOneLinePerObservation) {
  const std::string path = ::testing::TempDir() + "/observations.jsonl";
  std::remove(path.c_str());
  {
    auto log = ObservationLog::open(path, "n1");
    ASSERT_TRUE(log) << log.error().message;
    const std::vector<ResolverObservation> batch{sample(), sample()};
    (*log)->record(batch);
    (*log)->record({batch.data(), 1});
    EXPECT_EQ((*log)->sink_stats().recorded, 3u);
    EXPECT_EQ((*log)->sink_stats().lost, 0u);
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    ++lines;
  }
  EXPECT_EQ(lines, 3);
}

TEST(ObservationLog, CountsWhatAFullDiskLoses) {
  // /dev/full takes the buffered lines, then fails the flush with ENOSPC.
  auto log = ObservationLog::open("/dev/full", "n1");
  ASSERT_TRUE(log) << log.error().message;
  const std::vector<ResolverObservation> batch{sample(), sample()};
  (*log)->record(batch);
  (*log)->record({batch.data(), 1});
  EXPECT_EQ((*log)->sink_stats().recorded, 0u);
  EXPECT_EQ((*log)->sink_stats().lost, 3u);
}

TEST(ObservationLog, UnwritablePathIsAClearError) {
  const auto log = ObservationLog::open("/nonexistent-dir/x.jsonl", "n1");
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("/nonexistent-dir/x.jsonl"), std::string::npos);
  EXPECT_NE(log.error().message.find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace dnsleak::store
