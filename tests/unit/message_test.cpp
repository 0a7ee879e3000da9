#include "dns/message.h"

#include <gtest/gtest.h>

#include "dns_test_support.h"

namespace dnsleak::dns {
namespace {

using testing::make_query;
using testing::QuerySpec;

TEST(ParseQuery, PlainQuery) {
  Query q;
  const auto wire = make_query({.name = "WhoAmI.leak.test", .qtype = 28});
  ASSERT_EQ(parse_query(wire, q), QueryParseStatus::ok);
  EXPECT_EQ(q.header.id, 0x1234);
  EXPECT_EQ(q.qname.to_text(), "WhoAmI.leak.test");
  EXPECT_EQ(q.qtype, 28);
  EXPECT_FALSE(q.edns.present);
}

TEST(ParseQuery, EdnsWithSubnetAndCookie) {
  QuerySpec spec{.name = "a.leak.test", .edns = true, .payload = 4096, .dnssec_ok = true};
  spec.options = testing::ecs_option(1, 24, {192, 0, 2});
  const auto cookie = testing::cookie_option(8);
  spec.options.insert(spec.options.end(), cookie.begin(), cookie.end());
  spec.options.insert(spec.options.end(), {0x12, 0x34, 0, 1, 0xAA});  // unknown option, skipped
  Query q;
  ASSERT_EQ(parse_query(make_query(spec), q), QueryParseStatus::ok);
  EXPECT_TRUE(q.edns.present);
  EXPECT_EQ(q.edns.udp_payload_size, 4096);
  EXPECT_TRUE(q.edns.dnssec_ok);
  ASSERT_TRUE(q.edns.has_client_subnet);
  EXPECT_EQ(q.edns.client_subnet.family, 1);
  EXPECT_EQ(q.edns.client_subnet.source_prefix, 24);
  EXPECT_EQ(q.edns.client_subnet.address[2], 2);
  EXPECT_TRUE(q.edns.has_cookie);
  EXPECT_FALSE(q.edns.has_server_cookie);
}

TEST(ParseQuery, DropsShortAndResponses) {
  Query q;
  const std::vector<std::byte> short_packet(11);
  EXPECT_EQ(parse_query(short_packet, q), QueryParseStatus::drop_too_short);
  const auto response = make_query({.name = "a.test", .flags = 0x8000});
  EXPECT_EQ(parse_query(response, q), QueryParseStatus::drop_is_response);
}

TEST(ParseQuery, NotImplementedOpcode) {
  Query q;
  const auto notify = make_query({.name = "a.test", .flags = 4 << 11});
  EXPECT_EQ(parse_query(notify, q), QueryParseStatus::not_implemented);
  EXPECT_TRUE(q.question_parsed);
}

TEST(ParseQuery, FormatErrors) {
  Query q;
  auto wire = make_query({.name = "a.test"});
  wire[5] = std::byte{2};  // qdcount 2
  EXPECT_EQ(parse_query(wire, q), QueryParseStatus::format_error);
  wire = make_query({.name = "a.test"});
  wire[5] = std::byte{0};  // qdcount 0
  EXPECT_EQ(parse_query(wire, q), QueryParseStatus::format_error);
  wire = make_query({.name = "a.test"});
  wire[11] = std::byte{3};  // arcount lies
  EXPECT_EQ(parse_query(wire, q), QueryParseStatus::format_error);
  wire = make_query({.name = "a.test"});
  wire.resize(wire.size() - 1);  // question cut short
  EXPECT_EQ(parse_query(wire, q), QueryParseStatus::format_error);
}

TEST(ParseQuery, RejectsMalformedEdns) {
  Query q;
  // ECS with a non-zero scope in a query.
  QuerySpec spec{.name = "a.test", .edns = true};
  spec.options = testing::ecs_option(1, 24, {192, 0, 2});
  spec.options[7] = 8;
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // ECS with bits set past the prefix.
  spec.options = testing::ecs_option(1, 20, {192, 0, 0x2F});
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // ECS address longer than the prefix needs.
  spec.options = testing::ecs_option(1, 8, {10, 0});
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // Unknown family.
  spec.options = testing::ecs_option(3, 0, {});
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // A cookie of a bad length.
  spec.options = testing::cookie_option(9);
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // An option longer than the OPT data.
  spec.options = {0, 8, 0, 20, 0, 1};
  EXPECT_EQ(parse_query(make_query(spec), q), QueryParseStatus::format_error);
  // Two OPT records.
  spec.options.clear();
  auto wire = make_query(spec);
  const std::vector<std::byte> opt(wire.end() - 11, wire.end());
  wire.insert(wire.end(), opt.begin(), opt.end());
  wire[11] = std::byte{2};
  EXPECT_EQ(parse_query(wire, q), QueryParseStatus::format_error);
}

TEST(ParseQuery, EdnsVersionIsReported) {
  Query q;
  ASSERT_EQ(parse_query(make_query({.name = "a.test", .edns = true, .edns_version = 1}), q), QueryParseStatus::ok);
  EXPECT_EQ(q.edns.version, 1);
}

}  // namespace
}  // namespace dnsleak::dns
