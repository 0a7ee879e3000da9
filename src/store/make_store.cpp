// The one place that knows the store backends.
#include <new>

#include "store/memory_store.h"
#include "store/store.h"

namespace dnsleak::store {

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
