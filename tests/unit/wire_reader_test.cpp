#include "dns/wire_reader.h"

#include <gtest/gtest.h>

#include <array>

#include "dns/wire_writer.h"

namespace dnsleak::dns {
namespace {

TEST(WireReader, ReadsBigEndianFields) {
  const std::array<std::byte, 7> data{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                      std::byte{5}, std::byte{6}, std::byte{7}};
  WireReader r(data);
  EXPECT_EQ(r.u8(), 1);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u32(), 0x04050607u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(WireReader, ErrorIsStickyAndReadsReturnZero) {
  const std::array<std::byte, 3> data{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
  WireReader r(data);
  EXPECT_EQ(r.u16(), 0xffff);
  EXPECT_EQ(r.u16(), 0);  // only one byte left
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0);  // the last byte is not handed out after a failure
  EXPECT_TRUE(r.bytes(1).empty());
  EXPECT_EQ(r.offset(), 2u);
}

TEST(WireReader, SeekPastEndFails) {
  const std::array<std::byte, 2> data{};
  WireReader r(data);
  r.seek(3);
  EXPECT_FALSE(r.ok());
}

TEST(WireWriter, OverflowIsStickyAndRewindRecovers) {
  std::array<std::byte, 5> buffer{};
  WireWriter w(buffer);
  w.u32(0x01020304);
  w.u16(0x0506);  // does not fit
  EXPECT_FALSE(w.ok());
  w.u8(9);  // ignored after overflow
  EXPECT_EQ(w.size(), 4u);
  w.rewind(2);
  EXPECT_TRUE(w.ok());
  w.u16(0xAABB);
  EXPECT_EQ(w.size(), 4u);
  EXPECT_EQ(buffer[2], std::byte{0xAA});
}

TEST(WireWriter, LimitLowersCapacity) {
  std::array<std::byte, 16> buffer{};
  WireWriter w(buffer);
  w.limit(3);
  w.u16(1);
  w.u16(2);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2u);
}

}  // namespace
}  // namespace dnsleak::dns
