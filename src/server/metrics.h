// dnsleakd's /metrics in the Prometheus text exposition format.
#pragma once

#include <string>
#include <vector>

#include "auth/counters.h"
#include "http/http_server.h"
#include "store/store.h"

namespace dnsleak::server {

// Caps hit outside the counters above.
struct CapStats {
  uint64_t rate_limit_evictions = 0;  // rate-limit buckets given up for new keys (the table is full)
  uint64_t ptr_lookups_refused = 0;   // PTR lookups not queued: the queue was full
};

[[nodiscard]] std::string prometheus_text(const auth::CounterTotals& dns, const store::StoreStats& store,
                                          const std::vector<store::ObservationSink*>& sinks,
                                          const http::HttpStats* http, const CapStats& caps = {});

}  // namespace dnsleak::server
