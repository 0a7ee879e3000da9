// Bounds-checked writing of DNS wire data into a caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace dnsleak::dns {

// Writes into a fixed buffer (usually the send buffer); never allocates. Overflow is sticky like
// WireReader's error: once a write does not fit, nothing more is written and ok() is false, so a
// responder writes a whole section and checks once (then falls back to a truncated answer).
class WireWriter {
 public:
  explicit WireWriter(std::span<std::byte> buffer) noexcept : buffer_(buffer) {}

  void u8(uint8_t v) noexcept {
    if (std::byte* p = room(1)) p[0] = static_cast<std::byte>(v);
  }
  void u16(uint16_t v) noexcept {
    if (std::byte* p = room(2)) store16(p, v);
  }
  void u32(uint32_t v) noexcept {
    if (std::byte* p = room(4)) {
      store16(p, static_cast<uint16_t>(v >> 16));
      store16(p + 2, static_cast<uint16_t>(v));
    }
  }
  void bytes(std::span<const std::byte> data) noexcept {
    if (data.empty()) return;
    if (std::byte* p = room(data.size())) std::memcpy(p, data.data(), data.size());
  }
  void bytes(const uint8_t* data, size_t n) noexcept {
    bytes(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), n));
  }
  // Overwrites two bytes already written (a count or an RDLENGTH known only afterwards).
  void patch_u16(size_t offset, uint16_t v) noexcept {
    if (ok_ && offset + 2 <= size_) store16(buffer_.data() + offset, v);
  }
  // Forgets everything after `size` and clears an overflow: the truncation fallback.
  void rewind(size_t size) noexcept {
    if (size <= size_) {
      size_ = size;
      ok_ = true;
    }
  }
  // Lowers the writable size (the UDP payload limit); never raises it past the buffer.
  void limit(size_t max_size) noexcept {
    if (max_size < buffer_.size()) buffer_ = buffer_.first(max_size);
    if (size_ > buffer_.size()) {
      size_ = buffer_.size();
      ok_ = false;
    }
  }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<const std::byte> written() const noexcept { return buffer_.first(size_); }
  [[nodiscard]] std::span<std::byte> buffer() const noexcept { return buffer_; }

 private:
  static void store16(std::byte* p, uint16_t v) noexcept {
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v & 0xff);
  }
  [[nodiscard]] std::byte* room(size_t n) noexcept {
    if (!ok_ || n > buffer_.size() - size_) {
      ok_ = false;
      return nullptr;
    }
    std::byte* p = buffer_.data() + size_;
    size_ += n;
    return p;
  }

  std::span<std::byte> buffer_;
  size_t size_ = 0;
  bool ok_ = true;
};

}  // namespace dnsleak::dns
