// The Redis store's parts that need no Redis: the URL, the entry each observation becomes, the
// cursor text a stream resumes from, and the settings that choose the store. The store against a
// real redis-server is tests/e2e/test_redis_store.py.
#include "store/redis_store.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>

#include "store/redis_client.h"

namespace dnsleak::store {
namespace {

TEST(RedisUrl, ParsesHostPortDatabaseAndCredentials) {
  RedisEndpoint e = parse_redis_url("redis://127.0.0.1:6380/2").value();
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 2u);
  EXPECT_TRUE(e.user.empty());
  EXPECT_TRUE(e.password.empty());
  e = parse_redis_url("redis://redis.internal").value();
  EXPECT_EQ(e.host, "redis.internal");
  EXPECT_EQ(e.port, 6379);
  EXPECT_EQ(e.db, 0u);
  e = parse_redis_url("redis://dnsleak:s%40cr%3At@[2001:db8::6]:7000/").value();
  EXPECT_EQ(e.host, "2001:db8::6");
  EXPECT_EQ(e.port, 7000);
  EXPECT_EQ(e.user, "dnsleak");
  EXPECT_EQ(e.password, "s@cr:t");
  // Shown without the password.
  EXPECT_EQ(e.display(), "redis://dnsleak@[2001:db8::6]:7000");
  e = parse_redis_url("redis://dnsleak@h:1").value();  // the password from a file
  EXPECT_EQ(e.user, "dnsleak");
  EXPECT_TRUE(e.password.empty());
  e = parse_redis_url("redis://:only-a-password@h:1").value();
  EXPECT_TRUE(e.user.empty());
  EXPECT_EQ(e.password, "only-a-password");
}

TEST(RedisUrl, RefusesWhatIsNotARedisUrlSayingWhy) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "redis://"},
      {"http://h:1", "redis://"},
      {"rediss://h:1", "TLS"},
      {"redis://", "no host"},
      {"redis://:6379", "no host"},
      {"redis://h:0", "port"},
      {"redis://h:65536", "port"},
      {"redis://h:12x", "port"},
      {"redis://h:1/1000001", "database"},
      {"redis://h:1/-1", "database"},
      {"redis://h:1/x", "database"},
      {"redis://[::1:1", "closing ]"},
      {"redis://[::1]x", "junk"},
      {"redis://@h:1", "empty user name"},
      {"redis://user:@h:1", "password is empty"},
      {"redis://u:p%zz@h:1", "%-escape"},
      {"redis://u:p%4@h:1", "%-escape"},
      {"redis://h h:1", "characters"},
  };
  for (const auto& [url, why] : bad) {
    const Result<RedisEndpoint> e = parse_redis_url(url);
    ASSERT_FALSE(e) << url;
    EXPECT_NE(e.error().message.find(why), std::string::npos) << url << ": " << e.error().message;
  }
}

class RedisEntry : public ::testing::Test {
 protected:
  RedisEntry() { (void)zone_.from_text("leak.test"); }
  ResolverObservation observation() {
    ResolverObservation o;
    o.token = authority_.issue(1'800'000'000).value();
    const char* probe = "p3";
    o.probe = *testname::ProbeLabel::parse({reinterpret_cast<const uint8_t*>(probe), std::strlen(probe)});
    o.time_ms = 1'800'000'000'123;
    o.resolver = net::parse_ip("10.77.20.53").value();
    o.resolver_port = 40000;
    o.qtype = 28;
    std::string name = o.token.text() + "-p3.LEAK.test";
    name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
    (void)o.qname.from_text(name);
    return o;
  }
  testname::TokenAuthority authority_{"redis entry test secret"};
  dns::DnsName zone_;
};

TEST_F(RedisEntry, RoundTripsEveryField) {
  ResolverObservation o = observation();
  o.qname.clear();
  std::string name = o.token.text() + "-p3.V6.leak.TEST";
  (void)o.qname.from_text(name);
  o.sub_zone = SubZone::v6;
  o.resolver = net::parse_ip("fd77:0:0:10::53").value();
  o.transport = net::Transport::tcp;
  o.answer = AnswerKind::referral;
  o.edns = true;
  o.edns_payload_size = 1232;
  o.dnssec_ok = true;
  o.cookie = true;
  o.has_client_subnet = true;
  o.client_subnet.family = 1;
  o.client_subnet.source_prefix = 24;
  o.client_subnet.scope_prefix = 0;
  o.client_subnet.address = {203, 0, 113, 0};
  const std::string entry = encode_observation(o, "fra-1", "00c0ffee-17");
  ASSERT_EQ(decode_entry(entry, zone_).value().tag, "00c0ffee-17");
  const std::optional<ResolverObservation> back = decode_observation(entry, zone_);
  ASSERT_TRUE(back) << entry;
  EXPECT_EQ(back->token.text(), o.token.text());
  EXPECT_EQ(back->probe.view(), "p3");
  EXPECT_EQ(back->sub_zone, SubZone::v6);
  EXPECT_EQ(back->time_ms, o.time_ms);
  EXPECT_EQ(back->resolver, o.resolver);
  EXPECT_EQ(back->resolver_port, 40000);
  EXPECT_EQ(back->transport, net::Transport::tcp);
  EXPECT_EQ(back->qtype, 28);
  EXPECT_EQ(back->answer, AnswerKind::referral);
  EXPECT_TRUE(back->edns);
  EXPECT_EQ(back->edns_payload_size, 1232);
  EXPECT_TRUE(back->dnssec_ok);
  EXPECT_TRUE(back->cookie);
  ASSERT_TRUE(back->has_client_subnet);
  EXPECT_EQ(back->client_subnet.source_prefix, 24);
  EXPECT_EQ(back->client_subnet.address[2], 113);
  EXPECT_EQ(back->qname.to_text(), o.qname.to_text());  // the case as received
  EXPECT_EQ(back->node.view(), "fra-1");
}

TEST_F(RedisEntry, PlainObservationRoundTripsWithItsCase) {
  const ResolverObservation o = observation();
  const std::optional<ResolverObservation> back = decode_observation(encode_observation(o, ""), zone_);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->qname.to_text(), o.qname.to_text());
  EXPECT_FALSE(back->edns);
  EXPECT_FALSE(back->has_client_subnet);
  EXPECT_EQ(back->node.length, 0);
}

TEST_F(RedisEntry, EntriesItCannotReadAreRefusedNotGuessed) {
  const std::string good = encode_observation(observation(), "n");
  ASSERT_TRUE(decode_observation(good, zone_));
  std::vector<std::string> bad = {"", "1", "2" + good.substr(1), good.substr(0, good.size() / 2)};
  // Each field in turn replaced by garbage.
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t i = 0; i <= good.size(); ++i) {
    if (i == good.size() || good[i] == ' ') {
      fields.push_back(good.substr(start, i - start));
      start = i + 1;
    }
  }
  ASSERT_EQ(fields.size(), 16u);
  for (size_t f = 1; f + 1 < fields.size(); ++f) {
    if (f == 11 || f == 14) continue;  // the flags take any letters, the tag any text
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i != 0) line += ' ';
      line += i == f ? std::string_view("x!") : std::string_view(fields[i]);
    }
    bad.push_back(line);
  }
  for (const std::string& entry : bad) EXPECT_FALSE(decode_observation(entry, zone_)) << entry;
}

TEST(RedisKeys, OneFamilyPerTestWithTheTestIdAsHashTag) {
  testname::TestId id{};
  id[0] = 0xab;
  id[11] = 0x01;
  EXPECT_EQ(redis_key(id, "obs"), "dnsleak:{ab0000000000000000000001}:obs");
  EXPECT_EQ(redis_key(id, "egress"), "dnsleak:{ab0000000000000000000001}:egress");
}

TEST(StoreCursor, TextRoundTripsAndGarbageIsRefused) {
  const Cursor c = Cursor::at(1796126069446, 1);
  EXPECT_EQ(c.text(), "1796126069446-1");
  EXPECT_EQ(Cursor::parse(c.text()), c);
  EXPECT_EQ(Cursor::parse("0-0"), Cursor{});
  for (const char* bad : {"", "-", "1-", "-1", "1", "1-2-3", "a-1", "1-b", " 1-2", "99999999999999999999-1"})
    EXPECT_FALSE(Cursor::parse(bad)) << bad;
}

TEST(MakeStore, UnknownBackendsAndBadUrlsFail) {
  StoreOptions o;
  o.backend = "postgres";
  EXPECT_FALSE(make_store(o));
  o.backend = "redis://";
  const auto r = make_store(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no host"), std::string::npos);
}

}  // namespace
}  // namespace dnsleak::store
