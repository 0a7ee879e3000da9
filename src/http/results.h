// A test's results as the API returns them: resolvers (grouped, enriched), egress, verdict.
#pragma once

#include <boost/json/value.hpp>
#include <vector>

#include "enrich/enricher.h"
#include "store/store.h"
#include "verdict/verdict.h"

namespace dnsleak::http {

// Groups observations by resolver address, enriches resolvers and exits, and judges.
// `expected` comes from the request (what the user says their tunnel uses).
[[nodiscard]] boost::json::object results_json(const std::vector<store::ResolverObservation>& observations,
                                               const std::vector<store::EgressSighting>& egress,
                                               const enrich::Enricher& enricher, const verdict::Expectations& expected);

[[nodiscard]] boost::json::object network_json(const verdict::Network& n);
[[nodiscard]] std::string rfc3339_ms(int64_t unix_ms);
[[nodiscard]] boost::json::object observation_json(const store::ResolverObservation& o);

}  // namespace dnsleak::http
