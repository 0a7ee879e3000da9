// Address ranges to values, looked up by binary search: the shape of every IP data set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "net/ip_address.h"

namespace dnsleak::enrich {

using Ipv6Key = unsigned __int128;

// Ranges [first, last] with a value each. Add in any order, then freeze() once (sorts, drops
// ranges that overlap an earlier one); lookups are read-only and thread-safe after that.
template <typename Key, typename Value>
class RangeTable {
 public:
  void add(Key first, Key last, Value value) {
    if (last < first) return;
    ranges_.push_back({first, last, std::move(value)});
  }

  void freeze() {
    std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) { return a.first < b.first; });
    std::vector<Range> kept;
    kept.reserve(ranges_.size());
    for (Range& r : ranges_) {
      if (!kept.empty() && r.first <= kept.back().last) continue;  // overlapping: first one wins
      kept.push_back(std::move(r));
    }
    ranges_ = std::move(kept);
    ranges_.shrink_to_fit();
  }

  [[nodiscard]] const Value* find(Key key) const noexcept {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), key, [](Key k, const Range& r) { return k < r.first; });
    if (it == ranges_.begin()) return nullptr;
    --it;
    return key <= it->last ? &it->value : nullptr;
  }

  [[nodiscard]] size_t size() const noexcept { return ranges_.size(); }

 private:
  struct Range {
    Key first;
    Key last;
    Value value;
  };
  std::vector<Range> ranges_;
};

// An IPv4 and an IPv6 table behind one interface keyed by address.
template <typename Value>
class AddressRanges {
 public:
  // `first` and `last` must be of one family (callers check).
  void add(const net::IpAddress& first, const net::IpAddress& last, Value value) {
    if (first.family == 4)
      v4_.add(key4(first), key4(last), std::move(value));
    else
      v6_.add(key6(first), key6(last), std::move(value));
  }
  void freeze() {
    v4_.freeze();
    v6_.freeze();
  }
  [[nodiscard]] const Value* find(const net::IpAddress& address) const noexcept {
    return address.family == 4 ? v4_.find(key4(address)) : v6_.find(key6(address));
  }
  [[nodiscard]] size_t size() const noexcept { return v4_.size() + v6_.size(); }

 private:
  static uint32_t key4(const net::IpAddress& a) noexcept {
    return (uint32_t{a.bytes[0]} << 24) | (uint32_t{a.bytes[1]} << 16) | (uint32_t{a.bytes[2]} << 8) | a.bytes[3];
  }
  static Ipv6Key key6(const net::IpAddress& a) noexcept {
    Ipv6Key k = 0;
    for (uint8_t b : a.bytes) k = (k << 8) | b;
    return k;
  }
  RangeTable<uint32_t, Value> v4_;
  RangeTable<Ipv6Key, Value> v6_;
};

}  // namespace dnsleak::enrich
