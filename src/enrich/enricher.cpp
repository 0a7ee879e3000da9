#include "enrich/enricher.h"

namespace dnsleak::enrich {
namespace {
constexpr size_t kCacheLimit = 65536;  // entries; cleared whole when full (lookups are cheap)
}

Enricher::Enricher(const EnrichmentSources& files) : reverse_(std::make_unique<ReverseNames>(files.reverse_dns)) {
  for (const std::string& f : files.asn_csv) asn_.load(f);
  for (const std::string& f : files.country) country_.load(f);
  for (const std::string& f : files.operators) operators_.load_csv(f);
  asn_.freeze();
  country_.freeze();
}

Result<std::unique_ptr<Enricher>> Enricher::load(const EnrichmentSources& files) {
  try {
    return std::unique_ptr<Enricher>(new Enricher(files));
  } catch (const DataError& e) {
    return fail(e.what());
  }
}

verdict::Network Enricher::network_of(const net::IpAddress& address) const {
  const std::string key(reinterpret_cast<const char*>(address.bytes.data()), address.family == 4 ? 4 : 16);
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  verdict::Network n;
  if (const auto asn = asn_.lookup(address)) {
    n.asn = asn->asn;
    n.organisation = asn->organisation;
    n.public_operator = std::string(operators_.lookup(asn->asn));
  }
  n.country = country_.lookup(address);
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(key, n);
  return n;
}

}  // namespace dnsleak::enrich
