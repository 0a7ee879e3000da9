// The shared store: every dnsleakd node of a deployment writes its observations to one Redis and
// reads every node's back, so a test whose names are answered by several nodes (anycast, the v4
// and v6 halves on different machines) has all its observations on any API node.
//
// Keys, one family per test, with the test id as hash tag so Redis Cluster would keep a test on
// one shard:
//   dnsleak:{<test id hex>}:obs     a stream, one entry per observation (field "o", see
//                                   encode_observation), trimmed to ~kMaxResults, expiring
//                                   max_age after its last write
//   dnsleak:{<test id hex>}:egress  a hash, address -> "first_ms last_ms count", at most
//                                   kMaxEgressPerTest fields, same expiry
//
// The DNS path never waits on Redis: record() copies observations into a bounded ring reserved at
// start (no allocation) and returns; a writer thread drains it in pipelined batches. A full ring
// drops what does not fit and counts it (lost). The writer reconnects with backoff; every call
// has a timeout. Reads (the API) use a small pool of connections with the same timeout and fail
// fast while Redis is known to be down. Live streams are woken by one follower thread that waits
// on every followed test at once with XREAD BLOCK.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/redis_client.h"
#include "store/store.h"

namespace dnsleak::store {

struct RedisStoreOptions {
  RedisEndpoint endpoint;
  StoreOptions store;
  std::string node_id;             // written into every entry
  size_t queue_capacity = 65'536;  // observations waiting for the writer, at most
  size_t batch = 512;              // observations per pipelined write
  int timeout_ms = 400;            // every Redis call; a read fails within twice this (one retry)
};

// The entry of one observation: a line of space-separated fields, version first. The qname is
// kept as its case mask (the rest follows from token, probe, sub-zone and zone). `tag` names the
// write uniquely (the writer's start nonce and its sequence number): a batch written again after
// a timeout that Redis had in fact taken is then read once, not twice.
[[nodiscard]] std::string encode_observation(const ResolverObservation& o, std::string_view node,
                                             std::string_view tag = "-");
struct DecodedEntry {
  ResolverObservation observation;
  std::string tag;
};
// Parses an entry back (the zone restores the qname). Empty for an entry it cannot read.
[[nodiscard]] std::optional<DecodedEntry> decode_entry(std::string_view entry, const dns::DnsName& zone);
[[nodiscard]] inline std::optional<ResolverObservation> decode_observation(std::string_view entry,
                                                                           const dns::DnsName& zone) {
  std::optional<DecodedEntry> e = decode_entry(entry, zone);
  if (!e) return std::nullopt;
  return std::move(e->observation);
}
[[nodiscard]] std::string redis_key(const testname::TestId& id, std::string_view kind);

class RedisStore final : public ObservationStore {
 public:
  // Connects once to check the URL and the credentials (a refused AUTH stops the start), then
  // starts the writer and the follower threads.
  [[nodiscard]] static Result<std::unique_ptr<RedisStore>> open(RedisStoreOptions options);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  void record(std::span<const ResolverObservation> batch) noexcept override;
  [[nodiscard]] Stats sink_stats() const noexcept override;
  [[nodiscard]] Result<ObservationPage> observations_since(const testname::TestId& id, Cursor after,
                                                           size_t limit) const override;
  void record_egress(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) noexcept override;
  [[nodiscard]] Result<std::vector<EgressSighting>> egress_of(const testname::TestId& id,
                                                              int64_t now_ms) const override;
  [[nodiscard]] StoreStats stats() const noexcept override;
  [[nodiscard]] bool reads_may_block() const noexcept override { return true; }
  // The watch must not outlive the store.
  [[nodiscard]] std::unique_ptr<Watch> watch(const testname::TestId& id, Cursor after,
                                             const std::function<void()>& on_new) const override;

 private:
  explicit RedisStore(RedisStoreOptions options);
  struct Egress {
    testname::TestId id;
    net::IpAddress address;
    int64_t now_ms;
  };
  struct Follower;
  class FollowWatch;

  void write_loop();
  void follow_loop();
  // A read connection: an idle one, or a new one unless Redis failed very recently.
  [[nodiscard]] Result<RedisConnection> take_connection(bool& pooled) const;
  void give_back(RedisConnection c) const;
  [[nodiscard]] Result<RedisReply> read_command(std::span<const std::string_view> args) const;

  RedisStoreOptions options_;
  const net::Clock& clock_;
  std::string writer_nonce_;  // random per process: tags of this writer's entries

  // The ring between the DNS workers and the writer: slots [tail_, head_) wait to be written.
  mutable std::mutex queue_mutex_;
  std::condition_variable queue_cv_;  // the writer waits for work
  std::unique_ptr<ResolverObservation[]> ring_;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  std::vector<Egress> egress_queue_;  // reserved at start, bounded
  bool stopping_ = false;
  bool writer_waiting_ = false;

  std::atomic<uint64_t> recorded_{0};      // written to Redis
  std::atomic<uint64_t> dropped_full_{0};  // the ring was full
  std::atomic<uint64_t> failed_{0};        // Redis refused the entry
  std::atomic<uint64_t> egress_lost_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<bool> writer_connected_{false};

  mutable std::mutex pool_mutex_;
  mutable std::vector<RedisConnection> idle_;
  mutable int64_t down_until_ms_ = 0;  // reads fail fast until then (Redis just failed)
  mutable std::string last_error_;
  mutable std::atomic<uint64_t> read_errors_{0};
  // Refused PEXPIREs, aborted EXECs, the follower's failures, failed idle pings.
  std::atomic<uint64_t> backend_errors_{0};

  std::unique_ptr<Follower> follower_;
  std::thread writer_;
  std::thread follower_thread_;
};

}  // namespace dnsleak::store
