// dnsleak-packet-path: what dnsleakd's UDP path costs per query in user space, without the kernel.
//
// On loopback the kernel's send and receive paths are ~95% of a core and the machine's speed drifts
// by several percent over minutes, so changes of a few nanoseconds per query drown in bench/run's
// noise. This replays the UDP thread's own work on a million unique test names (10% AAAA):
// respond() over each query of a 64-query batch in its buffer, then the store records the batch (1M
// observations held, so after the first round every record evicts the oldest). Prints nanoseconds
// per query for each round, as JSON lines. Bounded: --rounds (default 4) passes over the names.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "auth/rate_limit.h"
#include "auth/responder.h"
#include "store/store.h"

namespace {

using namespace dnsleak;
using Clock = std::chrono::steady_clock;

constexpr size_t kBatch = 64;          // the UDP thread's recvmmsg batch
constexpr size_t kStride = 4096 + 64;  // its buffer stride

std::vector<std::vector<std::byte>> make_queries(const testname::TokenAuthority& tokens, size_t count, uint32_t now) {
  std::vector<std::vector<std::byte>> queries(count);
  std::mt19937_64 random(5);
  auto put = [](std::vector<std::byte>& q, uint8_t b) { q.push_back(std::byte{b}); };
  for (size_t i = 0; i < count; ++i) {
    testname::TestId id;
    for (auto& b : id) b = static_cast<uint8_t>(random());
    const std::string first = tokens.issue(id, now).text() + "-b" + std::to_string(i % 10);
    std::vector<std::byte>& q = queries[i];
    for (const uint8_t b : {uint8_t(i >> 8), uint8_t(i), uint8_t(0), uint8_t(0), uint8_t(0), uint8_t(1), uint8_t(0),
                            uint8_t(0), uint8_t(0), uint8_t(0), uint8_t(0), uint8_t(0)}) {
      put(q, b);  // ID, no flags, QDCOUNT 1
    }
    for (const std::string& label : {first, std::string("leak"), std::string("test")}) {
      put(q, static_cast<uint8_t>(label.size()));
      for (const char c : label) put(q, static_cast<uint8_t>(c));
    }
    put(q, 0);
    const uint8_t qtype = i % 10 == 0 ? 28 : 1;  // 10% AAAA
    for (const uint8_t b : {uint8_t(0), qtype, uint8_t(0), uint8_t(1)}) put(q, b);
  }
  return queries;
}

}  // namespace

int main(int argc, char** argv) {
  size_t rounds = 4;
  size_t count = 1'000'000;
  CLI::App app{"dnsleak-packet-path: user-space cost per query of dnsleakd's UDP path (no kernel, no network)"};
  app.add_option("--rounds", rounds, "passes over the names")->check(CLI::Range(1, 100));
  app.add_option("--queries", count, "unique test names (and store capacity)")->check(CLI::Range(1024, 10'000'000));
  std::string backend = "memory";
  app.add_option("--store", backend,
                 "memory, or redis://HOST:PORT: then record() is the enqueue the DNS path pays, the writer"
                 " draining on another thread");
  bool rate_limit = false;
  app.add_flag("--rate-limit", rate_limit,
               "also account every answer with the rate limiter as dnsleakd does (limits of 10 million a second,"
               " too high to trigger): its price, limit_ns");
  CLI11_PARSE(app, argc, argv);
  count -= count % kBatch;

  auth::ZoneConfig zone;
  (void)zone.apex.from_text("leak.test");
  auth::NameServer ns;
  (void)ns.name.from_text("ns1.leak.test");
  ns.ipv4.push_back({127, 0, 0, 1});
  zone.nameservers.push_back(ns);
  zone.web_ipv4.push_back({192, 0, 2, 80});
  zone.web_ipv6.push_back({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80});
  (void)zone.soa_rname.from_text("hostmaster.leak.test");
  const auto now = static_cast<uint32_t>(std::time(nullptr));
  const testname::TokenAuthority tokens("packet path benchmark");
  const auth::Responder responder(zone, tokens);
  store::StoreOptions options;
  options.max_observations = static_cast<uint32_t>(count);
  options.zone = zone.apex;
  options.backend = backend;
  options.queue = static_cast<uint32_t>(count);  // a shared store's queue holds a round: enqueue, not drop
  options.node_id = "packet-path";
  Result<std::unique_ptr<store::ObservationStore>> made = store::make_store(options);
  if (!made) {
    std::fprintf(stderr, "dnsleak-packet-path: %s\n", made.error().message.c_str());
    return 1;
  }
  store::ObservationStore& store = **made;
  const auto queries = make_queries(tokens, count, now);

  auth::RateLimitOptions limits;
  limits.test_rate = limits.answer_rate = limits.nxdomain_rate = limits.error_rate = 10'000'000;
  auth::RateLimiter limiter(limits, testname::SipKey{7});
  std::vector<auth::ResponseResult> results(kBatch);
  std::vector<std::byte> receive(kBatch * kStride);
  std::vector<store::ResolverObservation> observations(kBatch);
  auth::QueryContext context;
  context.transport = net::Transport::udp;
  context.remote.bytes = {127, 0, 0, 1};
  context.remote_port = 40000;
  context.now_ms = int64_t{now} * 1000;
  for (size_t round = 0; round < rounds; ++round) {
    Clock::duration responding{}, recording{}, limiting{};
    size_t answered = 0, observed_total = 0, limited = 0;
    for (size_t i = 0; i < count; i += kBatch) {
      // As recvmmsg leaves them: one query per buffer (not timed).
      for (size_t k = 0; k < kBatch; ++k)
        std::memcpy(&receive[k * kStride], queries[i + k].data(), queries[i + k].size());
      const auto start = Clock::now();
      size_t observed = 0;
      for (size_t k = 0; k < kBatch; ++k) {
        // In place, over the query, as the UDP thread answers.
        const auth::ResponseResult r = results[k] =
            responder.respond({&receive[k * kStride], queries[i + k].size()}, context, {&receive[k * kStride], 4096},
                              observations[observed]);
        answered += r.length > 0 ? 1 : 0;
        observed += r.observed ? 1 : 0;
      }
      const auto responded = Clock::now();
      if (rate_limit) {
        for (size_t k = 0; k < kBatch; ++k) {
          limited +=
              limiter.account(context.remote, results[k].rate_class, results[k].rate_key, context.now_ms).limited;
        }
      }
      const auto accounted = Clock::now();
      store.record({observations.data(), observed});
      recording += Clock::now() - accounted;
      limiting += accounted - responded;
      responding += responded - start;
      observed_total += observed;
    }
    const auto per_query = [&](Clock::duration d) {
      return std::chrono::duration<double, std::nano>(d).count() / static_cast<double>(count);
    };
    std::printf(
        "{\"round\":%zu,\"store\":\"%s\",\"queries\":%zu,\"answered\":%zu,\"observed\":%zu,\"respond_ns\":%.1f,"
        "\"record_ns\":%.1f,\"limit_ns\":%.1f,\"lost_so_far\":%llu}\n",
        round, backend == "memory" ? "memory" : "redis", count, answered, observed_total, per_query(responding),
        per_query(recording), per_query(limiting), static_cast<unsigned long long>(store.sink_stats().lost));
    if (answered != count || observed_total != count || limited != 0) {
      std::fprintf(stderr, "dnsleak-packet-path: not every query was answered and recorded\n");
      return 1;
    }
  }
  return 0;
}
