#include "server/metrics.h"

namespace dnsleak::server {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, uint64_t value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ' + std::to_string(value) + '\n';
}

// A metric with one sample and no labels.
void single(std::string& out, const char* name, const char* type, const char* help, uint64_t value) {
  metric(out, name, type, help);
  sample(out, name, "", value);
}

}  // namespace

std::string prometheus_text(const auth::CounterTotals& dns, const store::StoreStats& store,
                            const std::vector<store::ObservationSink*>& sinks, const http::HttpStats* http,
                            const CapStats& caps) {
  std::string out;
  single(out, "dnsleak_rate_limit_evictions_total", "counter",
         "Rate-limit buckets given up to new keys because the table was full.", caps.rate_limit_evictions);
  single(out, "dnsleak_ptr_lookups_refused_total", "counter",
         "Reverse-name lookups not queued because the queue was full.", caps.ptr_lookups_refused);
  metric(out, "dnsleak_dns_packets_total", "counter", "DNS packets by what became of them (drop_* were not answered).");
  for (size_t i = 0; i < auth::kOutcomeCount; ++i) {
    sample(out, "dnsleak_dns_packets_total",
           "outcome=\"" + std::string(auth::to_string(static_cast<auth::Outcome>(i))) + "\"", dns.outcomes[i]);
  }
  metric(out, "dnsleak_dns_events_total", "counter", "Listener events: queries by transport, TCP connections, errors.");
  for (size_t i = 0; i < auth::kEventCount; ++i) {
    sample(out, "dnsleak_dns_events_total",
           "event=\"" + std::string(auth::to_string(static_cast<auth::Event>(i))) + "\"", dns.events[i]);
  }
  single(out, "dnsleak_store_observations", "gauge", "Observations held in the store.", store.held);
  single(out, "dnsleak_store_capacity", "gauge", "Observations the store holds at most.", store.capacity);
  metric(out, "dnsleak_store_evictions_total", "counter", "Observations dropped from the store, by reason.");
  sample(out, "dnsleak_store_evictions_total", "reason=\"expired\"", store.evicted_expired);
  sample(out, "dnsleak_store_evictions_total", "reason=\"capacity\"", store.evicted_capacity);
  single(out, "dnsleak_store_egress_tests", "gauge", "Tests with egress sightings held in the store.",
         store.egress_tests);
  single(out, "dnsleak_store_egress_lost_total", "counter", "Egress sightings the store could not keep.",
         store.egress_lost);
  single(out, "dnsleak_store_queue", "gauge", "Observations waiting for a shared store's writer.", store.queued);
  single(out, "dnsleak_store_queue_capacity", "gauge", "Observations that can wait for the writer at most.",
         store.queue_capacity);
  single(out, "dnsleak_store_dropped_queue_full_total", "counter",
         "Observations dropped because the shared store's write queue was full (part of the store's lost).",
         store.dropped_queue_full);
  single(out, "dnsleak_store_backend_up", "gauge", "1 while the store's backend is reachable (always 1 for memory).",
         store.backend_up ? 1 : 0);
  single(out, "dnsleak_store_backend_reconnects_total", "counter", "Times the writer reconnected to the backend.",
         store.backend_reconnects);
  single(out, "dnsleak_store_backend_errors_total", "counter",
         "Other failures of the store's backend: refused commands, aborted batches, the live notifier's errors.",
         store.backend_errors);
  single(out, "dnsleak_store_read_errors_total", "counter",
         "Store reads that failed (the API answered 503) or entries that could not be read.", store.read_errors);
  metric(out, "dnsleak_sink_observations_total", "counter",
         "Observations each sink (the store, the log) kept or lost (a failed write, a backend that failed).");
  for (const store::ObservationSink* sink : sinks) {
    const store::ObservationSink::Stats s = sink->sink_stats();
    const std::string name = "sink=\"" + std::string(sink->sink_name()) + "\"";
    sample(out, "dnsleak_sink_observations_total", name + ",result=\"kept\"", s.recorded);
    sample(out, "dnsleak_sink_observations_total", name + ",result=\"lost\"", s.lost);
  }
  if (http != nullptr) {
    metric(out, "dnsleak_http_responses_total", "counter", "HTTP responses by status class.");
    sample(out, "dnsleak_http_responses_total", "class=\"2xx\"", http->responses_2xx);
    sample(out, "dnsleak_http_responses_total", "class=\"3xx\"", http->responses_3xx);
    sample(out, "dnsleak_http_responses_total", "class=\"4xx\"", http->responses_4xx);
    sample(out, "dnsleak_http_responses_total", "class=\"5xx\"", http->responses_5xx);
    metric(out, "dnsleak_http_refused_total", "counter", "HTTP connections and event streams refused at their caps.");
    sample(out, "dnsleak_http_refused_total", "what=\"connection\"", http->connections_refused);
    sample(out, "dnsleak_http_refused_total", "what=\"stream\"", http->streams_refused);
    sample(out, "dnsleak_http_refused_total", "what=\"store_read\"", http->store_reads_refused);
    sample(out, "dnsleak_http_refused_total", "what=\"connection_per_client\"", http->connections_refused_per_client);
    sample(out, "dnsleak_http_refused_total", "what=\"test_creation\"", http->rate_limited);
    single(out, "dnsleak_http_lingering_closes_total", "counter",
           "Early errors (413, 431, 414, 400) delivered, then the rest of the request read and dropped.",
           http->lingering_closes);
    metric(out, "dnsleak_http_open", "gauge", "Open HTTP connections and event streams.");
    sample(out, "dnsleak_http_open", "what=\"connection\"", http->connections_open);
    sample(out, "dnsleak_http_open", "what=\"stream\"", http->streams_open);
  }
  return out;
}

}  // namespace dnsleak::server
