// The one place that knows the store backends.
#include <charconv>
#include <new>

#include "store/memory_store.h"
#include "store/redis_store.h"
#include "store/store.h"

namespace dnsleak::store {

std::optional<Cursor> Cursor::parse(std::string_view text) noexcept {
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
  uint64_t major = 0, minor = 0;
  const std::string_view head = text.substr(0, dash), tail = text.substr(dash + 1);
  const auto [p1, e1] = std::from_chars(head.data(), head.data() + head.size(), major);
  if (e1 != std::errc{} || p1 != head.data() + head.size()) return std::nullopt;
  const auto [p2, e2] = std::from_chars(tail.data(), tail.data() + tail.size(), minor);
  if (e2 != std::errc{} || p2 != tail.data() + tail.size()) return std::nullopt;
  return Cursor::at(major, minor);
}

Result<std::unique_ptr<ObservationStore>> make_store(StoreOptions options) {
  if (options.backend.starts_with("redis://") || options.backend.starts_with("rediss://")) {
    Result<RedisEndpoint> endpoint = parse_redis_url(options.backend);
    if (!endpoint) return std::unexpected(endpoint.error());
    if (!options.password.empty()) endpoint->password = options.password;
    RedisStoreOptions redis;
    redis.endpoint = std::move(*endpoint);
    redis.node_id = options.node_id;
    redis.queue_capacity = options.queue;
    redis.store = std::move(options);
    Result<std::unique_ptr<RedisStore>> opened = RedisStore::open(std::move(redis));
    if (!opened) return std::unexpected(opened.error());
    return std::unique_ptr<ObservationStore>(std::move(*opened));
  }
  if (options.backend != "memory")
    return fail("store: unknown backend '" + options.backend + "' (known: memory, redis://HOST:PORT)");
  const uint32_t wanted = options.max_observations;
  try {
    return std::make_unique<MemoryStore>(std::move(options));
  } catch (const std::bad_alloc&) {
    return fail("store: cannot reserve memory for " + std::to_string(wanted) +
                " observations (lower --store-max-observations)");
  }
}

}  // namespace dnsleak::store
