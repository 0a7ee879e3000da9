#include "testname/test_token.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_clock.h"
#include "testname/siphash.h"

namespace dnsleak::testname {
namespace {

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(SipHash24, MatchesReferenceVectors) {
  // Key 00..0f; vectors from the SipHash paper's reference implementation (vectors.h).
  SipKey key;
  for (size_t i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(siphash24(key, {}), 0x726fdb47dd0e0e31ULL);
  std::vector<uint8_t> message;
  for (uint8_t i = 0; i < 15; ++i) message.push_back(i);
  EXPECT_EQ(siphash24(key, message), 0xa129ca6149be45e5ULL);
}

TEST(TestToken, RoundTripsThroughText) {
  const TokenAuthority authority("a secret of enough length");
  const TestToken token = authority.issue(1'800'000'000).value();
  const std::string text = token.text();
  EXPECT_EQ(text.size(), kTokenTextSize);
  for (char c : text) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << text;
  const auto decoded = decode_token_text(as_bytes(text));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->raw, token.raw);
  EXPECT_EQ(decoded->issued_at(), 1'800'000'000u);
  EXPECT_EQ(authority.check(*decoded, 1'800'000'010), TokenCheck::valid);
}

TEST(TestToken, IdsAreRandom) {
  const TokenAuthority authority("a secret of enough length");
  EXPECT_NE(authority.issue(1000)->test_id(), authority.issue(1000)->test_id());
}

TEST(TestToken, IdsComeFromTheRandomSourceAndItsFailureIsAnError) {
  const TokenAuthority authority("a secret of enough length");
  testing::CountingRandom random;
  const Result<TestToken> token = authority.issue(1000, random);
  ASSERT_TRUE(token);
  for (size_t i = 0; i < kTestIdSize; ++i) EXPECT_EQ(token->test_id()[i], i);
  random.fails = true;
  const Result<TestToken> failed = authority.issue(1000, random);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "cannot issue a test token: getrandom: no entropy (test)");
}

TEST(TestToken, RejectsForgeriesOtherSecretsAndAge) {
  const TokenAuthority authority("a secret of enough length", 3600);
  const TokenAuthority other("another secret of enough length", 3600);
  TestToken token = authority.issue(1'000'000).value();
  EXPECT_EQ(other.check(token, 1'000'000), TokenCheck::bad_mac);
  EXPECT_EQ(authority.check(token, 1'000'000 + 3601), TokenCheck::expired);
  EXPECT_EQ(authority.check(token, 1'000'000 - 301), TokenCheck::from_future);
  EXPECT_EQ(authority.check(token, 1'000'000 - 299), TokenCheck::valid);
  for (size_t i = 0; i < kTokenRawSize; ++i) {
    TestToken flipped = token;
    flipped.raw[i] ^= 1;
    EXPECT_NE(authority.check(flipped, 1'000'000), TokenCheck::valid) << "octet " << i;
  }
}

TEST(ParseTestLabel, AcceptsAnyCaseAndChecksProbe) {
  const TokenAuthority authority("a secret of enough length");
  const TestToken token = authority.issue(5000).value();
  std::string label = token.text() + "-P1";
  for (size_t i = 0; i < label.size(); i += 2) label[i] = static_cast<char>(std::toupper(label[i]));
  TestToken parsed;
  ProbeLabel probe;
  ASSERT_EQ(parse_test_label(authority, as_bytes(label), 5000, parsed, probe), TokenCheck::valid);
  EXPECT_EQ(parsed.raw, token.raw);
  EXPECT_EQ(probe.view(), "p1");
  EXPECT_EQ(parse_test_label(authority, as_bytes(token.text() + "-"), 5000, parsed, probe), TokenCheck::malformed);
  EXPECT_EQ(parse_test_label(authority, as_bytes(token.text() + "-abcdefghi"), 5000, parsed, probe),
            TokenCheck::malformed);
  EXPECT_EQ(parse_test_label(authority, as_bytes(token.text() + "_p"), 5000, parsed, probe), TokenCheck::malformed);
  EXPECT_EQ(parse_test_label(authority, as_bytes("www"), 5000, parsed, probe), TokenCheck::malformed);
}

TEST(SplitTestLabel, KnowsTheGrammarWithoutTheSecret) {
  const TokenAuthority authority("a secret of enough length");
  const TestToken token = authority.issue(5000).value();
  const auto split = split_test_label(as_bytes(token.text() + "-v6x"));
  ASSERT_TRUE(split);
  EXPECT_EQ(split->token.raw, token.raw);
  EXPECT_EQ(split->probe.view(), "v6x");
  // A forged token still splits (the grammar holds); only the MAC check can tell.
  std::string forged = token.text();
  forged[0] = forged[0] == 'a' ? 'b' : 'a';
  EXPECT_TRUE(split_test_label(as_bytes(forged + "-p1")));
  EXPECT_FALSE(split_test_label(as_bytes(token.text())));
  EXPECT_FALSE(split_test_label(as_bytes(token.text() + "-")));
  EXPECT_FALSE(split_test_label(as_bytes(token.text() + "-toolongprobe")));
  EXPECT_FALSE(split_test_label(as_bytes("www-p1")));
}

TEST(TestIdHex, RoundTrips) {
  TestId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i * 17);
  const std::string hex = test_id_hex(id);
  EXPECT_EQ(hex.size(), 24u);
  EXPECT_EQ(test_id_from_hex(hex), id);
  EXPECT_FALSE(test_id_from_hex("zz"));
  EXPECT_FALSE(test_id_from_hex(hex.substr(0, 23) + "g"));
  EXPECT_EQ(test_id_from_hex("00112233445566778899AABB"), test_id_from_hex("00112233445566778899aabb"));
  char out[4];
  write_hex(std::vector<uint8_t>{0x0f, 0xa0}, out);
  EXPECT_EQ(std::string(out, 4), "0fa0");
}

}  // namespace
}  // namespace dnsleak::testname
