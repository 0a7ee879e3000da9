// The in-memory observation store: bounded, expiring, oldest evicted first.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "store/egress_table.h"
#include "store/store.h"

namespace dnsleak::store {

// Observations live in one ring in arrival order, so expiry and eviction both take from the tail.
// Each record is 70 bytes (the qname is kept as its 0x20 case mask, the rest of it follows from
// the token, probe, sub-zone and zone); records of one test are chained newest to oldest, and an
// open-addressing table maps a test id to its newest record. Memory is reserved up front but only
// touched as records arrive, so the resident size grows with what is held.
class MemoryStore final : public ObservationStore {
 public:
  // Reserves the address space for `max_observations` (up to kMaxCapacity); throws std::bad_alloc
  // if it cannot (make_store() turns that into an error).
  explicit MemoryStore(StoreOptions options);
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  void record(std::span<const ResolverObservation> batch) noexcept override;
  [[nodiscard]] Stats sink_stats() const noexcept override;
  [[nodiscard]] Result<ObservationPage> observations_since(const testname::TestId& id, Cursor after,
                                                           size_t limit) const override;
  void record_egress(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) noexcept override;
  [[nodiscard]] Result<std::vector<EgressSighting>> egress_of(const testname::TestId& id,
                                                              int64_t now_ms) const override;
  [[nodiscard]] StoreStats stats() const noexcept override;
  // Address space reserved for the ring, the index and the subnets (touched only as they fill).
  [[nodiscard]] uint64_t reserved_bytes() const noexcept { return reserved_bytes_; }

  // Octets one observation takes in the ring (the index adds ~8.9 at full load).
  [[nodiscard]] static size_t record_size() noexcept;
  // Positions are 26 bits in the index: 67 million observations (~5 GB) at most.
  static constexpr uint32_t kMaxCapacity = (1u << 26) - 1;

 private:
  struct Record;
  struct SubnetEntry;
  struct Group;
  struct FreeDeleter {
    void operator()(void* p) const noexcept;
  };

  void evict_expired(int64_t now_ms) noexcept;
  void evict_oldest() noexcept;
  [[nodiscard]] uint32_t position_of_seq(uint64_t seq) const noexcept;
  [[nodiscard]] bool is_live_and_older(uint32_t position, uint64_t than_seq) const noexcept;
  [[nodiscard]] uint64_t seq_of(uint32_t position) const noexcept;
  // Where a test id sits in the index: its group and the slot in it.
  struct Slot {
    size_t group;
    unsigned slot;
  };
  [[nodiscard]] size_t home_group(uint64_t hash) const noexcept;
  [[nodiscard]] size_t next_group(size_t group) const noexcept;
  [[nodiscard]] std::optional<Slot> find(const testname::TestId& id, uint64_t hash) const noexcept;
  [[nodiscard]] Slot place(uint64_t hash) noexcept;  // a free slot for a new id, counted where it overflowed
  void erase(uint64_t hash, Slot at) noexcept;
  [[nodiscard]] ResolverObservation restore(uint32_t position) const;

  StoreOptions options_;
  const net::Clock& clock_;
  uint32_t capacity_;
  mutable std::mutex mutex_;
  std::unique_ptr<Record[], FreeDeleter> records_;
  // The index: groups of one cache line each, so finding, adding or removing an id touches one
  // line (a cache miss, the store's main cost) almost always; see Group.
  std::unique_ptr<uint8_t[], FreeDeleter> group_memory_;
  Group* groups_ = nullptr;  // group_memory_ aligned to a cache line
  size_t group_count_ = 0;
  std::unique_ptr<SubnetEntry[], FreeDeleter> subnets_;  // ECS side ring, sequence ordered
  uint64_t subnet_head_ = 0;
  uint64_t subnet_tail_ = 0;
  uint64_t head_seq_ = 0;       // sequence number of the next record
  uint64_t tail_seq_ = 0;       // sequence number of the oldest live record
  uint32_t tail_position_ = 0;  // its place in the ring
  StoreStats stats_;
  uint64_t reserved_bytes_ = 0;
  EgressTable egress_;  // locks on its own
};

}  // namespace dnsleak::store
