// dns::parse_response: the client's reader of answers (echo names' TXT, resolvers' PTR).
#include "dns/response.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace dnsleak::dns {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> octets) {
  std::vector<std::byte> out;
  for (const int o : octets) out.push_back(static_cast<std::byte>(o));
  return out;
}
void append(std::vector<std::byte>& out, std::initializer_list<int> octets) {
  for (const int o : octets) out.push_back(static_cast<std::byte>(o));
}
void append_text(std::vector<std::byte>& out, const std::string& s) {
  for (const char c : s) out.push_back(static_cast<std::byte>(c));
}

// A response to "whoami.leak.test TXT" with one TXT answer of two strings, its owner a pointer
// to the question (offset 12).
std::vector<std::byte> txt_response() {
  std::vector<std::byte> p = bytes({0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0});
  append(p, {6});
  append_text(p, "whoami");
  append(p, {4});
  append_text(p, "leak");
  append(p, {4});
  append_text(p, "test");
  append(p, {0, 0, 16, 0, 1});                               // QTYPE TXT, QCLASS IN
  append(p, {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 14, 5});  // owner, TXT IN, TTL 0, RDLENGTH 14
  append_text(p, "hello");
  append(p, {7});
  append_text(p, "world!!");
  return p;
}

TEST(ParseResponse, ReadsTheQuestionAndTxtStrings) {
  const std::vector<std::byte> p = txt_response();
  const Result<Response> r = parse_response(p);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header().id, 0x1234);
  EXPECT_EQ(r->rcode(), 0);
  EXPECT_EQ(r->qname().to_text(), "whoami.leak.test");
  EXPECT_EQ(r->qtype(), rr_type::TXT);
  ASSERT_EQ(r->records().size(), 1u);
  const ResourceRecord& rr = r->records()[0];
  EXPECT_EQ(rr.section, Section::answer);
  EXPECT_EQ(rr.owner.to_text(), "whoami.leak.test");
  EXPECT_EQ(rr.type, rr_type::TXT);
  const Result<std::vector<std::string>> strings = r->txt_strings(rr);
  ASSERT_TRUE(strings);
  EXPECT_EQ(*strings, (std::vector<std::string>{"hello", "world!!"}));
}

TEST(ParseResponse, FollowsPointersInPtrTargets) {
  // 1.2.0.192.in-addr.arpa PTR resolver.<pointer to "leak.test" in the question>
  std::vector<std::byte> p = bytes({0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0});
  append(p, {4});
  append_text(p, "host");
  append(p, {4});
  append_text(p, "leak");
  append(p, {4});
  append_text(p, "test");
  append(p, {0, 0, 12, 0, 1});
  append(p, {0xC0, 12, 0, 12, 0, 1, 0, 0, 0x0E, 0x10, 0, 11, 8});
  append_text(p, "resolver");
  append(p, {0xC0, 17});  // "leak.test"
  const Result<Response> r = parse_response(p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->records().size(), 1u);
  EXPECT_EQ(r->records()[0].ttl, 3600u);
  const Result<DnsName> target = r->rdata_name(r->records()[0]);
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_EQ(target->to_text(), "resolver.leak.test");
  // TXT strings of the same record: "resolver" then a string that runs past the RDATA.
  EXPECT_FALSE(r->txt_strings(r->records()[0]));
}

TEST(ParseResponse, RefusesWhatIsNotAWholeResponse) {
  const std::vector<std::byte> good = txt_response();
  EXPECT_EQ(parse_response(std::span(good).first(11)).error().message, "a DNS message shorter than its header");
  std::vector<std::byte> query = good;
  query[2] = std::byte{0x01};  // QR clear
  EXPECT_FALSE(parse_response(query));
  for (size_t cut = 12; cut < good.size(); ++cut) {
    EXPECT_FALSE(parse_response(std::span(good).first(cut))) << "cut at " << cut;
  }
  std::vector<std::byte> more = good;
  more[7] = std::byte{2};  // two answers promised, one present
  EXPECT_FALSE(parse_response(more));
  std::vector<std::byte> loop = good;
  loop[35] = std::byte{34};  // the answer's owner points at itself
  EXPECT_FALSE(parse_response(loop));
  std::vector<std::byte> padded = good;
  append(padded, {0, 0, 0});
  EXPECT_TRUE(parse_response(padded));  // trailing octets are ignored
}

TEST(ParseResponse, ANameMustFillItsRecord) {
  std::vector<std::byte> p = bytes({0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0});
  append(p, {0, 0, 12, 0, 1, 0, 0, 0, 0, 0, 4, 1});  // root owner, PTR, RDLENGTH 4: "a" + root + 1 extra
  append_text(p, "a");
  append(p, {0, 9});
  const Result<Response> r = parse_response(p);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->rdata_name(r->records()[0]).error().message, "a name that does not fill its record");
}

}  // namespace
}  // namespace dnsleak::dns
