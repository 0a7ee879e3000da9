#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "enrich/enricher.h"

namespace dnsleak::enrich {
namespace {

net::IpAddress ip(const char* text) {
  const Result<net::IpAddress> a = net::parse_ip(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(net::IpAddress{});
}

std::string write_file(const std::string& name, const std::string& text) {
  // Per process: ctest runs the tests side by side.
  const std::string path = ::testing::TempDir() + "/" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

const std::string kLabData = std::string(DNSLEAK_SOURCE_DIR) + "/tests/lab/data/";

TEST(SplitCsvLine, HandlesQuotesAndEscapedQuotes) {
  EXPECT_EQ(split_csv_line("a,b,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_csv_line("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\r"),
            (std::vector<std::string>{"1.0.0.0", "1.0.0.255", "13335", "Cloudflare, Inc."}));
  EXPECT_EQ(split_csv_line("x,\"say \"\"hi\"\"\","), (std::vector<std::string>{"x", "say \"hi\"", ""}));
}

TEST(AsnDatabase, LooksUpBothFamiliesAtRangeEdges) {
  AsnDatabase db;
  db.load_csv(write_file("asn.csv",
                         "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n"
                         "8.8.8.0,8.8.8.255,15169,Google LLC\n"
                         "2606:4700:4700::,2606:4700:4700:ffff:ffff:ffff:ffff:ffff,13335,\"Cloudflare, Inc.\"\n"));
  db.freeze();
  EXPECT_EQ(db.size(), 3u);
  ASSERT_TRUE(db.lookup(ip("1.0.0.0")));
  EXPECT_EQ(db.lookup(ip("1.0.0.255"))->asn, 13335u);
  EXPECT_EQ(db.lookup(ip("1.0.0.1"))->organisation, "Cloudflare, Inc.");
  EXPECT_FALSE(db.lookup(ip("1.0.1.0")));
  EXPECT_FALSE(db.lookup(ip("0.255.255.255")));
  EXPECT_EQ(db.lookup(ip("8.8.8.8"))->asn, 15169u);
  EXPECT_EQ(db.lookup(ip("2606:4700:4700::1111"))->asn, 13335u);
  EXPECT_FALSE(db.lookup(ip("2606:4700:4701::1")));
}

TEST(AsnDatabase, BadLinesNameFileAndLine) {
  AsnDatabase db;
  try {
    db.load_csv(write_file("bad.csv", "1.0.0.0,1.0.0.255,13335,x\n1.0.1.0,nonsense,1,y\n"));
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(db.load_csv("/nonexistent/asn.csv"), DataError);
}

TEST(Enricher, LabDataGivesTheLabNetworks) {
  const auto loaded =
      Enricher::load({{kLabData + "asn.csv"}, {kLabData + "country.csv"}, {kLabData + "resolver-operators.csv"}});
  ASSERT_TRUE(loaded) << loaded.error().message;
  const Enricher& e = **loaded;
  const verdict::Network isp = e.network_of(ip("10.77.10.53"));
  EXPECT_EQ(isp.asn, 64500u);
  EXPECT_EQ(isp.organisation, "Example ISP");
  EXPECT_EQ(isp.country, "XA");
  EXPECT_EQ(isp.public_operator, "");
  EXPECT_EQ(e.network_of(ip("fd77:0:0:10::53")).asn, 64500u);
  const verdict::Network pub = e.network_of(ip("10.77.30.53"));
  EXPECT_EQ(pub.public_operator, "Example Public DNS");
  EXPECT_EQ(pub.organisation, "Example Public DNS, Inc.");
  EXPECT_FALSE(e.network_of(ip("192.0.2.1")).asn);
  EXPECT_EQ(e.network_of(ip("10.77.10.53")).asn, 64500u);  // again, from the cache
}

TEST(Enricher, ReadsGeoLite2LayoutMaxMindFiles) {
  // Operators may point at MaxMind GeoLite2 ASN and Country files instead of the ip-location-db
  // sets; these small files are written in the same layouts at build time.
  const std::string dir = DNSLEAK_TEST_DATA_DIR;
  const auto loaded = Enricher::load({{dir + "/geolite2-asn.mmdb"}, {dir + "/geolite2-country.mmdb"}, {}});
  ASSERT_TRUE(loaded) << loaded.error().message;
  const Enricher& e = **loaded;
  const verdict::Network v4 = e.network_of(ip("198.51.100.7"));
  EXPECT_EQ(v4.asn, 64496u);
  EXPECT_EQ(v4.organisation, "Example MMDB Org");
  EXPECT_EQ(v4.country, "NZ");
  EXPECT_EQ(e.network_of(ip("2001:db8:1::5")).asn, 64497u);
  EXPECT_FALSE(e.network_of(ip("192.0.2.1")).asn);
  const auto missing = Enricher::load({{dir + "/missing.mmdb"}, {}, {}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing.mmdb"), std::string::npos) << missing.error().message;
}

TEST(Enricher, RealDataSetsLoadAndKnowThePublicResolvers) {
  // Fetched by scripts/setup (scripts/fetch-data) through the npm registry.
  const std::string dir = std::string(DNSLEAK_SOURCE_DIR) + "/data/ip-location-db/";
  ASSERT_TRUE(std::filesystem::exists(dir + "asn/asn-ipv4.csv")) << "run scripts/fetch-data";
  const auto loaded = Enricher::load({{dir + "asn/asn-ipv4.csv", dir + "asn/asn-ipv6.csv"},
                                      {dir + "geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"},
                                      {std::string(DNSLEAK_SOURCE_DIR) + "/data/resolver-operators.csv"}});
  ASSERT_TRUE(loaded) << loaded.error().message;
  const Enricher& e = **loaded;
  EXPECT_GT(e.asn_ranges(), 100000u);
  const verdict::Network cloudflare = e.network_of(ip("1.1.1.1"));
  EXPECT_EQ(cloudflare.asn, 13335u);
  EXPECT_EQ(cloudflare.public_operator, "Cloudflare");
  EXPECT_EQ(cloudflare.country.size(), 2u);
  EXPECT_EQ(e.network_of(ip("8.8.8.8")).public_operator, "Google Public DNS");
  EXPECT_EQ(e.network_of(ip("2620:fe::fe")).public_operator, "Quad9");
  EXPECT_EQ(e.network_of(ip("10.0.0.1")).asn, std::nullopt);
}

}  // namespace
}  // namespace dnsleak::enrich

namespace dnsleak::enrich {
namespace {

TEST(ReverseNames, ReverseZoneNames) {
  const net::IpAddress v4 = ip("192.0.2.1"), v6 = ip("2001:db8::1");
  EXPECT_EQ(ReverseNames::reverse_zone_name(v4), "1.2.0.192.in-addr.arpa");
  EXPECT_EQ(ReverseNames::reverse_zone_name(v6),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(ReverseNames, DisabledNeverAnswers) {
  ReverseNames names(false);
  const net::IpAddress a = ip("192.0.2.1");
  EXPECT_EQ(names.lookup(a), std::nullopt);
  EXPECT_EQ(names.lookup(a), std::nullopt);
}

TEST(ReverseNames, AnEnabledLookupIsQueuedThenAnswered) {
  // The query goes to a loopback port where nothing listens (tests send nothing elsewhere): it
  // fails at once, and the next read has the answer "no name" instead of "unknown".
  ReverseNames names(true, std::make_pair(std::string("127.0.0.1"), uint16_t{9}));
  const net::IpAddress a = ip("192.0.2.1");
  EXPECT_EQ(names.lookup(a), std::nullopt);
  std::optional<std::string> answer;
  for (int i = 0; i < 60 && !answer; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    answer = names.lookup(a);
  }
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, "");
}

}  // namespace
}  // namespace dnsleak::enrich
