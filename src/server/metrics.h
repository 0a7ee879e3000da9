// dnsleakd's /metrics in the Prometheus text exposition format.
#pragma once

#include <string>
#include <vector>

#include "auth/counters.h"
#include "http/http_server.h"
#include "store/store.h"

namespace dnsleak::server {

[[nodiscard]] std::string prometheus_text(const auth::CounterTotals& dns, const store::StoreStats& store,
                                          const std::vector<store::ObservationSink*>& sinks,
                                          const http::HttpStats* http);

}  // namespace dnsleak::server
