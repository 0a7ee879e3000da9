// Bounds-checked reading of DNS wire data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dnsleak::dns {

// A cursor over wire data whose error is sticky: every read checks the bytes left, and once one read
// fails the reader stays failed, later reads return zero and do not move. A parser reads a run of
// fields and checks ok() once. The span must outlive the reader (usually the receive buffer).
class WireReader {
 public:
  explicit WireReader(std::span<const std::byte> data, size_t offset = 0) noexcept
      : data_(data), offset_(offset), ok_(offset <= data.size()) {
    if (!ok_) offset_ = data.size();
  }

  [[nodiscard]] uint8_t u8() noexcept {
    if (!take(1)) return 0;
    return static_cast<uint8_t>(data_[offset_ - 1]);
  }
  [[nodiscard]] uint16_t u16() noexcept {
    if (!take(2)) return 0;
    return static_cast<uint16_t>((static_cast<unsigned>(data_[offset_ - 2]) << 8) |
                                 static_cast<unsigned>(data_[offset_ - 1]));
  }
  [[nodiscard]] uint32_t u32() noexcept {
    const uint32_t high = u16();
    const uint32_t low = u16();
    return ok_ ? (high << 16) | low : 0;
  }
  // The next n bytes, or an empty span (and failure) if fewer are left.
  [[nodiscard]] std::span<const std::byte> bytes(size_t n) noexcept {
    if (!take(n)) return {};
    return data_.subspan(offset_ - n, n);
  }
  void skip(size_t n) noexcept { (void)take(n); }
  void seek(size_t offset) noexcept {
    if (!ok_) return;
    if (offset > data_.size()) {
      fail();
      return;
    }
    offset_ = offset;
  }
  void fail() noexcept { ok_ = false; }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] size_t offset() const noexcept { return offset_; }
  [[nodiscard]] size_t remaining() const noexcept { return data_.size() - offset_; }
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return data_; }

 private:
  [[nodiscard]] bool take(size_t n) noexcept {
    if (!ok_ || n > data_.size() - offset_) {
      ok_ = false;
      return false;
    }
    offset_ += n;
    return true;
  }

  std::span<const std::byte> data_;
  size_t offset_;
  bool ok_;
};

}  // namespace dnsleak::dns
