#include "store/memory_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

namespace dnsleak::store {

// Packed: 70 octets. The fields a verdict needs, nothing else.
#pragma pack(push, 1)
struct MemoryStore::Record {
  uint8_t token[testname::kTokenRawSize];
  uint8_t time_ms[6];  // Unix milliseconds, 48 bits (good until year 10889)
  uint8_t resolver[16];
  uint16_t resolver_port;
  uint16_t qtype;
  uint16_t edns_payload_size;
  uint8_t flags;                          // see kFlag*
  uint8_t kinds;                          // sub-zone (low 4 bits), answer kind (high 4 bits)
  char probe[testname::kMaxProbeLength];  // NUL-padded
  uint64_t case_bits;
  uint32_t prev;  // ring position + 1 of the previous record of the same test, 0 = none
};
#pragma pack(pop)

struct MemoryStore::SubnetEntry {
  uint64_t seq;
  dns::ClientSubnet subnet;
};

namespace {

constexpr uint8_t kFlagIpv6 = 1;
constexpr uint8_t kFlagTcp = 2;
constexpr uint8_t kFlagEdns = 4;
constexpr uint8_t kFlagDnssecOk = 8;
constexpr uint8_t kFlagCookie = 16;
constexpr uint8_t kFlagSubnet = 32;
constexpr uint8_t kFlagCaseBeyond = 64;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t load_time(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | p[i];
  return static_cast<int64_t>(v);
}

void store_time(uint8_t* p, int64_t t) noexcept {
  const auto v = static_cast<uint64_t>(t < 0 ? 0 : t);
  for (int i = 5; i >= 0; --i) p[5 - i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t hash_id(const testname::TestId& id) noexcept {
  // Test ids are random (getrandom) and MAC-checked before they reach the store, so their octets
  // are already uniform; a multiply spreads them.
  uint64_t v;
  std::memcpy(&v, id.data(), sizeof v);
  return v * 0x9E3779B97F4A7C15ULL;
}

// An index slot holds the ring position + 1 in its low 26 bits and 6 bits of the id's hash above,
// so a probe skips most foreign slots without touching their record (a cache miss each).
constexpr uint32_t kPositionBits = 26;
constexpr uint32_t kPositionMask = (1u << kPositionBits) - 1;

uint32_t tag_of(uint64_t hash) noexcept { return static_cast<uint32_t>(hash & 0x3F) << kPositionBits; }
// 3 more bits of the hash, kept beside the probe distance and looked at only when the 6 match:
// a foreign entry then sends a probe to its record one time in 512 instead of one in 64.
uint8_t extra_tag_of(uint64_t hash) noexcept { return static_cast<uint8_t>((hash >> 6) & 0x07); }

template <typename T>
T* reserve_zeroed(size_t count) {
  // calloc of a large block maps fresh zero pages without touching them.
  void* p = std::calloc(count, sizeof(T));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<T*>(p);
}

// Steps from `from` forward to `to` on a ring of n (both below n), without a division.
size_t forward_distance(size_t from, size_t to, size_t n) noexcept { return to >= from ? to - from : to + n - from; }

size_t index_slots_for(size_t capacity) noexcept {
  // Load factor at most 0.6 (any size: the home slot is found by multiply-shift, not a mask).
  return std::max<size_t>(1024, capacity + capacity * 2 / 3 + 1);
}

}  // namespace

void MemoryStore::FreeDeleter::operator()(void* p) const noexcept { std::free(p); }

size_t MemoryStore::record_size() noexcept { return sizeof(Record); }

MemoryStore::MemoryStore(MemoryStoreOptions options) : options_(std::move(options)) {
  if (options_.capacity == 0) options_.capacity = 1;
  if (options_.capacity > kMaxCapacity) options_.capacity = kMaxCapacity;
  if (!options_.now_ms) options_.now_ms = system_now_ms;
  const size_t slots = index_slots_for(options_.capacity);
  records_.reset(reserve_zeroed<Record>(options_.capacity));
  index_.reset(reserve_zeroed<uint32_t>(slots));
  slot_meta_.reset(reserve_zeroed<uint8_t>(slots));
  index_slots_ = slots;
  subnets_.reset(reserve_zeroed<SubnetEntry>(options_.capacity));
  stats_.capacity = options_.capacity;
  stats_.reserved_bytes =
      options_.capacity * (sizeof(Record) + sizeof(SubnetEntry)) + slots * (sizeof(uint32_t) + sizeof(uint8_t));
}

MemoryStore::~MemoryStore() = default;

uint32_t MemoryStore::position_of_seq(uint64_t seq) const noexcept {
  // From the tail's position, not seq % capacity: a 64-bit division costs more than the rest of
  // this, and the store asks several times per observation. Valid for tail <= seq <= tail + capacity.
  const uint64_t p = tail_position_ + (seq - tail_seq_);
  return static_cast<uint32_t>(p >= options_.capacity ? p - options_.capacity : p);
}

uint64_t MemoryStore::seq_of(uint32_t position) const noexcept {
  return tail_seq_ + forward_distance(tail_position_, position, options_.capacity);
}

bool MemoryStore::is_live_and_older(uint32_t position, uint64_t than_seq) const noexcept {
  if (head_seq_ == tail_seq_) return false;
  const uint64_t seq = seq_of(position);
  return seq < head_seq_ && seq < than_seq;
}

size_t MemoryStore::home_slot(uint64_t hash) const noexcept {
  return static_cast<size_t>((static_cast<unsigned __int128>(hash) * index_slots_) >> 64);
}

size_t MemoryStore::next_slot(size_t slot) const noexcept { return slot + 1 == index_slots_ ? 0 : slot + 1; }

size_t MemoryStore::find_slot(const testname::TestId& id) const noexcept {
  const uint64_t hash = hash_id(id);
  const uint32_t tag = tag_of(hash);
  for (size_t slot = home_slot(hash);; slot = next_slot(slot)) {
    const uint32_t v = index_[slot];
    if (v == 0) return slot;
    if ((v & ~kPositionMask) == tag && (slot_meta_[slot] >> kDistanceBits) == extra_tag_of(hash) &&
        std::memcmp(records_[(v & kPositionMask) - 1].token, id.data(), id.size()) == 0) {
      return slot;
    }
  }
}

size_t MemoryStore::distance_from_home(size_t slot) const noexcept {
  const uint8_t distance = slot_meta_[slot] & kDistanceUnknown;
  if (distance < kDistanceUnknown) return distance;
  testname::TestId id;  // rare at load 0.6: 31 or more from home; ask the record
  std::memcpy(id.data(), records_[(index_[slot] & kPositionMask) - 1].token, id.size());
  return forward_distance(home_slot(hash_id(id)), slot, index_slots_);
}

void MemoryStore::set_slot(size_t slot, uint32_t value, size_t distance, uint8_t extra_tag) noexcept {
  index_[slot] = value;
  slot_meta_[slot] = static_cast<uint8_t>(extra_tag << kDistanceBits | std::min<size_t>(distance, kDistanceUnknown));
}

void MemoryStore::erase_slot(size_t slot) noexcept {
  // Backward-shift deletion (no tombstones): every later entry of the run whose home lies at or
  // before the hole moves into it. The probe distances say where each home is without reading
  // the records (a cache miss each), which made eviction the store's main cost.
  size_t hole = slot;
  for (size_t next = next_slot(hole); index_[next] != 0; next = next_slot(next)) {
    const size_t gap = forward_distance(hole, next, index_slots_);
    const size_t distance = distance_from_home(next);
    if (distance >= gap) {
      set_slot(hole, index_[next], distance - gap, slot_meta_[next] >> kDistanceBits);
      hole = next;
    }
  }
  set_slot(hole, 0, 0, 0);
}

void MemoryStore::evict_oldest() noexcept {
  const uint32_t position = tail_position_;
  testname::TestId id;
  std::memcpy(id.data(), records_[position].token, id.size());
  const size_t slot = find_slot(id);
  // The oldest record is the last of its test when the index still points at it.
  if ((index_[slot] & kPositionMask) == position + 1) erase_slot(slot);
  ++tail_seq_;
  tail_position_ = position + 1 == options_.capacity ? 0 : position + 1;
  while (subnet_tail_ < subnet_head_ && subnets_[subnet_tail_ % options_.capacity].seq < tail_seq_) {
    ++subnet_tail_;
  }
}

void MemoryStore::evict_expired(int64_t now_ms) noexcept {
  while (tail_seq_ < head_seq_ && load_time(records_[tail_position_].time_ms) < now_ms - options_.max_age_ms) {
    evict_oldest();
    ++stats_.evicted_expired;
  }
}

void MemoryStore::record(std::span<const ResolverObservation> batch) noexcept {
  std::lock_guard lock(mutex_);
  evict_expired(options_.now_ms());
  // Each new test id lands on a random index slot, and so does each record evicted to make room:
  // a cache miss each. Ask for the slots a few observations ahead of the one being stored, so the
  // misses overlap without asking for more lines at once than the core can have in flight (all of
  // a batch's at once measured slower: most of those requests stalled or were dropped).
  constexpr size_t kAhead = 8;
  const uint64_t first_tail = tail_seq_;
  const uint64_t room = options_.capacity - (head_seq_ - tail_seq_);  // observations stored before evicting
  auto prefetch_slots_for = [&](size_t j) {
    const size_t home = home_slot(hash_id(batch[j].token.test_id()));
    __builtin_prefetch(&index_[home]);
    __builtin_prefetch(&slot_meta_[home]);
    // Storing observation j evicts the oldest record then; one that predates the batch (j below
    // the capacity) can be read now. Later ones are this batch's own, not written yet.
    if (j >= room && j < options_.capacity) {
      testname::TestId id;
      std::memcpy(id.data(), records_[position_of_seq(first_tail + (j - room))].token, id.size());
      const size_t evicted_home = home_slot(hash_id(id));
      __builtin_prefetch(&index_[evicted_home]);
      __builtin_prefetch(&slot_meta_[evicted_home]);
    }
  };
  for (size_t j = 0; j < std::min(kAhead, batch.size()); ++j) prefetch_slots_for(j);
  for (size_t k = 0; k < batch.size(); ++k) {
    if (k + kAhead < batch.size()) prefetch_slots_for(k + kAhead);
    const ResolverObservation& o = batch[k];
    if (head_seq_ - tail_seq_ == options_.capacity) {
      evict_oldest();
      ++stats_.evicted_capacity;
    }
    const uint32_t position = position_of_seq(head_seq_);
    Record& r = records_[position];
    std::memcpy(r.token, o.token.raw.data(), sizeof r.token);
    store_time(r.time_ms, o.time_ms);
    std::memcpy(r.resolver, o.resolver.bytes.data(), sizeof r.resolver);
    r.resolver_port = o.resolver_port;
    r.qtype = o.qtype;
    r.edns_payload_size = o.edns_payload_size;
    const CaseMask mask = case_mask_of(o.qname);
    r.flags = static_cast<uint8_t>((o.resolver.family == 6 ? kFlagIpv6 : 0) |
                                   (o.transport == Transport::tcp ? kFlagTcp : 0) | (o.edns ? kFlagEdns : 0) |
                                   (o.dnssec_ok ? kFlagDnssecOk : 0) | (o.cookie ? kFlagCookie : 0) |
                                   (o.has_client_subnet ? kFlagSubnet : 0) | (mask.beyond ? kFlagCaseBeyond : 0));
    r.kinds = static_cast<uint8_t>(static_cast<uint8_t>(o.sub_zone) | (static_cast<uint8_t>(o.answer) << 4));
    std::memset(r.probe, 0, sizeof r.probe);
    std::memcpy(r.probe, o.probe.chars.data(), o.probe.length);
    r.case_bits = mask.bits;

    const testname::TestId id = o.token.test_id();
    const uint64_t hash = hash_id(id);
    const size_t slot = find_slot(id);
    r.prev = index_[slot] & kPositionMask;  // the newest record of this test so far, or 0
    set_slot(slot, (position + 1) | tag_of(hash), forward_distance(home_slot(hash), slot, index_slots_),
             extra_tag_of(hash));
    if (o.has_client_subnet) {
      subnets_[subnet_head_ % options_.capacity] = SubnetEntry{head_seq_, o.client_subnet};
      ++subnet_head_;
    }
    ++head_seq_;
    ++stats_.recorded;
  }
}

ResolverObservation MemoryStore::restore(uint32_t position) const {
  const Record& r = records_[position];
  ResolverObservation o;
  std::memcpy(o.token.raw.data(), r.token, sizeof r.token);
  o.time_ms = load_time(r.time_ms);
  o.resolver.family = (r.flags & kFlagIpv6) ? 6 : 4;
  std::memcpy(o.resolver.bytes.data(), r.resolver, sizeof r.resolver);
  o.resolver_port = r.resolver_port;
  o.qtype = r.qtype;
  o.edns_payload_size = r.edns_payload_size;
  o.transport = (r.flags & kFlagTcp) ? Transport::tcp : Transport::udp;
  o.edns = (r.flags & kFlagEdns) != 0;
  o.dnssec_ok = (r.flags & kFlagDnssecOk) != 0;
  o.cookie = (r.flags & kFlagCookie) != 0;
  o.sub_zone = static_cast<SubZone>(r.kinds & 0x0F);
  o.answer = static_cast<AnswerKind>(r.kinds >> 4);
  while (o.probe.length < testname::kMaxProbeLength && r.probe[o.probe.length] != '\0') {
    o.probe.chars[o.probe.length] = r.probe[o.probe.length];
    ++o.probe.length;
  }
  if (r.flags & kFlagSubnet) {
    // The side ring is ordered by sequence number: binary search for this record's.
    const uint64_t seq = seq_of(position);
    uint64_t lo = subnet_tail_, hi = subnet_head_;
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      if (subnets_[mid % options_.capacity].seq < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < subnet_head_ && subnets_[lo % options_.capacity].seq == seq) {
      o.has_client_subnet = true;
      o.client_subnet = subnets_[lo % options_.capacity].subnet;
    }
  }
  // The qname: `<token>-<probe>[.sub-zone].<zone>`, lowercase, then the recorded case applied.
  std::array<uint8_t, testname::kTokenTextSize + 1 + testname::kMaxProbeLength> first{};
  o.token.write_text(
      std::span<char, testname::kTokenTextSize>(reinterpret_cast<char*>(first.data()), testname::kTokenTextSize));
  first[testname::kTokenTextSize] = '-';
  std::memcpy(first.data() + testname::kTokenTextSize + 1, o.probe.chars.data(), o.probe.length);
  dns::DnsName name;
  bool ok = name.append_label({first.data(), testname::kTokenTextSize + 1 + o.probe.length});
  if (o.sub_zone != SubZone::none) {
    const char* sub = to_string(o.sub_zone);
    ok = ok && name.append_label({reinterpret_cast<const uint8_t*>(sub), std::strlen(sub)});
  }
  for (size_t l = 0; l < options_.zone.label_count(); ++l) ok = ok && name.append_label(options_.zone.label(l));
  if (ok) {
    apply_case_mask(name, CaseMask{r.case_bits, (r.flags & kFlagCaseBeyond) != 0});
    o.qname = name;
  }
  return o;
}

ObservationPage MemoryStore::observations_since(const testname::TestId& id, uint64_t after, size_t limit) const {
  ObservationPage page;
  page.cursor = after;
  std::lock_guard lock(mutex_);
  const int64_t oldest_allowed = options_.now_ms() - options_.max_age_ms;
  const size_t slot = find_slot(id);
  uint32_t link = index_[slot] & kPositionMask;
  uint64_t newer_than = head_seq_;
  // The chain runs newest to oldest: walk it down to the cursor, keep the newest `limit`.
  bool first = true;
  while (link != 0) {
    const uint32_t position = link - 1;
    if (!is_live_and_older(position, newer_than)) break;
    const Record& r = records_[position];
    if (std::memcmp(r.token, id.data(), id.size()) != 0) break;
    const uint64_t seq = seq_of(position);
    if (seq + 1 <= after) break;  // cursors are sequence numbers + 1, so 0 means "from the start"
    if (first) {
      page.cursor = seq + 1;
      first = false;
    }
    if (page.observations.size() == limit) {
      page.truncated = true;
      break;
    }
    if (load_time(r.time_ms) >= oldest_allowed) page.observations.push_back(restore(position));
    newer_than = seq;
    link = r.prev;
  }
  std::reverse(page.observations.begin(), page.observations.end());
  return page;
}

StoreStats MemoryStore::stats() const noexcept {
  std::lock_guard lock(mutex_);
  StoreStats s = stats_;
  s.held = head_seq_ - tail_seq_;
  return s;
}

}  // namespace dnsleak::store
