// Address -> network facts for the verdict and the API, with a bounded cache. Enrichment runs when
// results are read, never on the DNS path.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "enrich/ip_data.h"
#include "enrich/reverse_names.h"
#include "net/error.h"
#include "verdict/verdict.h"

namespace dnsleak::enrich {

struct EnrichmentSources {
  std::vector<std::string> asn_csv;    // ip-location-db asn CSVs (or the lab's)
  std::vector<std::string> country;    // .mmdb or .csv
  std::vector<std::string> operators;  // asn,operator,source
  bool reverse_dns = false;            // PTR names of resolvers, through the host's resolver
};

class Enricher {
 public:
  // Loads every file, or fails naming the one that failed (and its line). No files: every answer
  // empty.
  [[nodiscard]] static Result<std::unique_ptr<Enricher>> load(const EnrichmentSources& files);
  [[nodiscard]] verdict::Network network_of(const net::IpAddress& address) const;
  // The PTR name once known (see ReverseNames); nullopt while unknown, "" for none.
  [[nodiscard]] std::optional<std::string> reverse_name(const net::IpAddress& address) const {
    return reverse_->lookup(address);
  }
  [[nodiscard]] size_t asn_ranges() const noexcept { return asn_.size(); }
  // PTR lookups refused at the queue's cap.
  [[nodiscard]] uint64_t reverse_lookups_refused() const noexcept { return reverse_->queue_full(); }

 private:
  explicit Enricher(const EnrichmentSources& files);  // throws DataError

  AsnDatabase asn_;
  CountryDatabase country_;
  ResolverOperators operators_;
  std::unique_ptr<ReverseNames> reverse_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, verdict::Network> cache_;
};

}  // namespace dnsleak::enrich
