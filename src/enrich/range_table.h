// Address ranges to values, looked up by binary search: the shape of every IP data set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

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

}  // namespace dnsleak::enrich
