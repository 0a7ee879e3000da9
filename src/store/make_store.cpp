// The one place that knows the store backends.
#include <charconv>
#include <new>

#include "store/memory_store.h"
#include "store/store.h"

namespace dnsleak::store {

std::optional<Cursor> Cursor::parse(std::string_view text) noexcept {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
  uint64_t major = 0, minor = 0;
  const char* end = text.data() + dash;
  auto [p1, e1] = std::from_chars(text.data(), end, major);
  if (e1 != std::errc{} || p1 != end) return std::nullopt;
  auto [p2, e2] = std::from_chars(end + 1, text.data() + text.size(), minor);
  if (e2 != std::errc{} || p2 != text.data() + text.size()) return std::nullopt;
  return Cursor::at(major, minor);
}

Result<std::unique_ptr<ObservationStore>> make_store(std::string_view backend, StoreOptions options) {
  if (backend != "memory") return fail("store: unknown backend '" + std::string(backend) + "' (known: memory)");
  const uint32_t wanted = options.max_observations;
  try {
    return std::make_unique<MemoryStore>(std::move(options));
  } catch (const std::bad_alloc&) {
    return fail("store: cannot reserve memory for " + std::to_string(wanted) +
                " observations (lower --store-max-observations)");
  }
}

}  // namespace dnsleak::store
