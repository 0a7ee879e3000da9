#include "store/memory_store.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// One cache line of the index: up to 12 test ids, each as 8 bits of its hash (0 = a free slot) and
// its newest record's ring position + 1 with 6 more bits of the hash above it, so a lookup reads a
// foreign record (a cache miss) about once in 16,000 compared slots. An id lives in its home group
// or, if that was full when it came, in the first group after it with room; `overflow` counts the
// ids that passed a group so, and a lookup stops at the first group it finds none in. At load 0.6
// with oldest-first eviction (a full store; simulated), ~96% of ids sit in their home group and
// ~84% of groups count none. No tombstones, no shifting: removing an id frees its slot and uncounts
// it where it passed. A count that reaches 255 stays there for the life of the store (there is no
// rehash): lookups through it walk on, never wrongly. Ids are random, so that takes hundreds of ids
// hashing to one place.
constexpr unsigned kGroupSlots = 12;
struct alignas(64) MemoryStore::Group {
  uint8_t tags[kGroupSlots];
  uint8_t overflow;
  uint8_t unused[3];
  uint32_t entries[kGroupSlots];
};

namespace {

constexpr uint8_t kFlagIpv6 = 1;
constexpr uint8_t kFlagTcp = 2;
constexpr uint8_t kFlagEdns = 4;
constexpr uint8_t kFlagDnssecOk = 8;
constexpr uint8_t kFlagCookie = 16;
constexpr uint8_t kFlagSubnet = 32;
constexpr uint8_t kFlagCaseBeyond = 64;

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

constexpr uint32_t kPositionBits = 26;
constexpr uint32_t kPositionMask = (1u << kPositionBits) - 1;

uint8_t tag_of(uint64_t hash) noexcept {
  const auto tag = static_cast<uint8_t>(hash);
  return tag == 0 ? 1 : tag;  // 0 marks a free slot
}
uint32_t extra_tag_of(uint64_t hash) noexcept { return static_cast<uint32_t>((hash >> 8) & 0x3F) << kPositionBits; }

// Bit i set: slot i of the group holds `tag` (0: slot i is free). `tags` starts a group.
unsigned matching_slots(const uint8_t* tags, uint8_t tag) noexcept {
#if defined(__SSE2__)
  // The 12 tags and the 4 octets after them, in one aligned compare; the mask drops those 4.
  const __m128i octets = _mm_load_si128(reinterpret_cast<const __m128i*>(tags));
  const __m128i equal = _mm_cmpeq_epi8(octets, _mm_set1_epi8(static_cast<char>(tag)));
  return static_cast<unsigned>(_mm_movemask_epi8(equal)) & ((1u << kGroupSlots) - 1);
#else
  unsigned bits = 0;
  for (unsigned i = 0; i < kGroupSlots; ++i) bits |= (tags[i] == tag ? 1u : 0u) << i;
  return bits;
#endif
}

template <typename T>
T* reserve_zeroed(size_t count) {
  // calloc of a large block maps fresh zero pages without touching them.
  void* p = std::calloc(count, sizeof(T));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<T*>(p);
}

// Steps from `from` forward to `to` on a ring of n (both below n), without a division.
size_t forward_distance(size_t from, size_t to, size_t n) noexcept { return to >= from ? to - from : to + n - from; }

size_t index_groups_for(size_t capacity) noexcept {
  // Load factor at most 0.6: capacity * 5/3 slots, 12 to a group.
  return std::max<size_t>(16, (capacity + capacity * 2 / 3 + kGroupSlots) / kGroupSlots);
}

}  // namespace

void MemoryStore::FreeDeleter::operator()(void* p) const noexcept { std::free(p); }

size_t MemoryStore::record_size() noexcept { return sizeof(Record); }

MemoryStore::MemoryStore(StoreOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : net::system_clock()),
      capacity_(std::clamp<uint32_t>(options_.max_observations, 1, kMaxCapacity)),
      egress_(options_.max_egress_tests != 0 ? options_.max_egress_tests : options_.max_observations / 8 + 1024,
              options_.max_age_ms) {
  static_assert(sizeof(Group) == 64, "a group is one cache line");
  static_assert(offsetof(Group, tags) == 0 && kGroupSlots + 1 + 3 == 16, "tags are the group's first 16 octets");
  records_.reset(reserve_zeroed<Record>(capacity_));
  group_count_ = index_groups_for(capacity_);
  // One group more than needed, so the groups can start on a cache line.
  size_t space = (group_count_ + 1) * sizeof(Group);
  group_memory_.reset(reserve_zeroed<uint8_t>(space));
  void* first = group_memory_.get();
  groups_ = std::launder(static_cast<Group*>(std::align(alignof(Group), group_count_ * sizeof(Group), first, space)));
  subnets_.reset(reserve_zeroed<SubnetEntry>(capacity_));
  stats_.capacity = capacity_;
  reserved_bytes_ = uint64_t{capacity_} * (sizeof(Record) + sizeof(SubnetEntry)) + (group_count_ + 1) * sizeof(Group);
}

MemoryStore::~MemoryStore() = default;

uint32_t MemoryStore::position_of_seq(uint64_t seq) const noexcept {
  // From the tail's position, not seq % capacity: a 64-bit division costs more than the rest of
  // this, and the store asks several times per observation. Valid for tail <= seq <= tail + capacity.
  const uint64_t p = tail_position_ + (seq - tail_seq_);
  return static_cast<uint32_t>(p >= capacity_ ? p - capacity_ : p);
}

uint64_t MemoryStore::seq_of(uint32_t position) const noexcept {
  return tail_seq_ + forward_distance(tail_position_, position, capacity_);
}

bool MemoryStore::is_live_and_older(uint32_t position, uint64_t than_seq) const noexcept {
  if (head_seq_ == tail_seq_) return false;
  const uint64_t seq = seq_of(position);
  return seq < head_seq_ && seq < than_seq;
}

size_t MemoryStore::home_group(uint64_t hash) const noexcept {
  return static_cast<size_t>((static_cast<unsigned __int128>(hash) * group_count_) >> 64);
}

size_t MemoryStore::next_group(size_t group) const noexcept { return group + 1 == group_count_ ? 0 : group + 1; }

std::optional<MemoryStore::Slot> MemoryStore::find(const testname::TestId& id, uint64_t hash) const noexcept {
  const uint8_t tag = tag_of(hash);
  const uint32_t extra = extra_tag_of(hash);
  size_t g = home_group(hash);
  for (size_t walked = 0; walked < group_count_; ++walked, g = next_group(g)) {
    const Group& group = groups_[g];
    for (unsigned bits = matching_slots(group.tags, tag); bits != 0; bits &= bits - 1) {
      const auto slot = static_cast<unsigned>(std::countr_zero(bits));
      const uint32_t entry = group.entries[slot];
      if ((entry & ~kPositionMask) == extra &&
          std::memcmp(records_[(entry & kPositionMask) - 1].token, id.data(), id.size()) == 0) {
        return Slot{g, slot};
      }
    }
    if (group.overflow == 0) break;
  }
  return std::nullopt;
}

MemoryStore::Slot MemoryStore::place(uint64_t hash) noexcept {
  // The index is at most 0.6 full, so some group has room.
  for (size_t g = home_group(hash);; g = next_group(g)) {
    Group& group = groups_[g];
    const unsigned free = matching_slots(group.tags, 0);
    if (free != 0) {
      const auto slot = static_cast<unsigned>(std::countr_zero(free));
      group.tags[slot] = tag_of(hash);
      return Slot{g, slot};
    }
    if (group.overflow != UINT8_MAX) ++group.overflow;
  }
}

void MemoryStore::erase(uint64_t hash, Slot at) noexcept {
  groups_[at.group].tags[at.slot] = 0;
  for (size_t g = home_group(hash); g != at.group; g = next_group(g)) {
    if (groups_[g].overflow != UINT8_MAX) --groups_[g].overflow;
  }
}

void MemoryStore::evict_oldest() noexcept {
  const uint32_t position = tail_position_;
  testname::TestId id;
  std::memcpy(id.data(), records_[position].token, id.size());
  const uint64_t hash = hash_id(id);
  // The oldest record is the last of its test when the index still points at it.
  if (const auto at = find(id, hash); at && (groups_[at->group].entries[at->slot] & kPositionMask) == position + 1) {
    erase(hash, *at);
  }
  ++tail_seq_;
  tail_position_ = position + 1 == capacity_ ? 0 : position + 1;
  while (subnet_tail_ < subnet_head_ && subnets_[subnet_tail_ % capacity_].seq < tail_seq_) {
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
  evict_expired(clock_.unix_ms());
  // Each new test id lands on a random index slot, and so does each record evicted to make room:
  // a cache miss each. Ask for the slots a few observations ahead of the one being stored, so the
  // misses overlap without asking for more lines at once than the core can have in flight (all of
  // a batch's at once measured slower: most of those requests stalled or were dropped).
  constexpr size_t kAhead = 8;
  const uint64_t first_tail = tail_seq_;
  const uint64_t room = capacity_ - (head_seq_ - tail_seq_);  // observations stored before evicting
  auto prefetch_slots_for = [&](size_t j) {
    __builtin_prefetch(&groups_[home_group(hash_id(batch[j].token.test_id()))]);
    // Storing observation j evicts the oldest record then; one that predates the batch (j below
    // the capacity) can be read now. Later ones are this batch's own, not written yet.
    if (j >= room && j < capacity_) {
      testname::TestId id;
      std::memcpy(id.data(), records_[position_of_seq(first_tail + (j - room))].token, id.size());
      __builtin_prefetch(&groups_[home_group(hash_id(id))]);
    }
  };
  for (size_t j = 0; j < std::min(kAhead, batch.size()); ++j) prefetch_slots_for(j);
  for (size_t k = 0; k < batch.size(); ++k) {
    if (k + kAhead < batch.size()) prefetch_slots_for(k + kAhead);
    const ResolverObservation& o = batch[k];
    if (head_seq_ - tail_seq_ == capacity_) {
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
                                   (o.transport == net::Transport::tcp ? kFlagTcp : 0) | (o.edns ? kFlagEdns : 0) |
                                   (o.dnssec_ok ? kFlagDnssecOk : 0) | (o.cookie ? kFlagCookie : 0) |
                                   (o.has_client_subnet ? kFlagSubnet : 0) | (mask.beyond ? kFlagCaseBeyond : 0));
    r.kinds = static_cast<uint8_t>(static_cast<uint8_t>(o.sub_zone) | (static_cast<uint8_t>(o.answer) << 4));
    std::memset(r.probe, 0, sizeof r.probe);
    std::memcpy(r.probe, o.probe.chars.data(), o.probe.length);
    r.case_bits = mask.bits;

    const testname::TestId id = o.token.test_id();
    const uint64_t hash = hash_id(id);
    const auto found = find(id, hash);
    const Slot at = found ? *found : place(hash);
    uint32_t& entry = groups_[at.group].entries[at.slot];
    r.prev = found ? entry & kPositionMask : 0;  // the newest record of this test so far, or none
    entry = (position + 1) | extra_tag_of(hash);
    if (o.has_client_subnet) {
      subnets_[subnet_head_ % capacity_] = SubnetEntry{head_seq_, o.client_subnet};
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
  o.transport = (r.flags & kFlagTcp) ? net::Transport::tcp : net::Transport::udp;
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
      if (subnets_[mid % capacity_].seq < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < subnet_head_ && subnets_[lo % capacity_].seq == seq) {
      o.has_client_subnet = true;
      o.client_subnet = subnets_[lo % capacity_].subnet;
    }
  }
  o.node = NodeName::of(options_.node_id);
  if (auto name = test_qname(o.token, o.probe, o.sub_zone, options_.zone,
                             CaseMask{r.case_bits, (r.flags & kFlagCaseBeyond) != 0})) {
    o.qname = *name;
  }
  return o;
}

Result<ObservationPage> MemoryStore::observations_since(const testname::TestId& id, Cursor cursor, size_t limit) const {
  // The cursor is a sequence number + 1, so the default (0) means "from the start".
  const uint64_t after = cursor.major();
  ObservationPage page;
  page.next = cursor;
  std::lock_guard lock(mutex_);
  const int64_t oldest_allowed = clock_.unix_ms() - options_.max_age_ms;
  const auto at = find(id, hash_id(id));
  uint32_t link = at ? groups_[at->group].entries[at->slot] & kPositionMask : 0;
  uint64_t newer_than = head_seq_;
  // The chain runs newest to oldest: walk it down to the cursor, keep the newest `limit`.
  bool first = true;
  while (link != 0) {
    const uint32_t position = link - 1;
    if (!is_live_and_older(position, newer_than)) break;
    const Record& r = records_[position];
    if (std::memcmp(r.token, id.data(), id.size()) != 0) break;
    const uint64_t seq = seq_of(position);
    if (seq + 1 <= after) break;
    if (first) {
      page.next = Cursor::at(seq + 1);
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
  StoreStats s;
  {
    std::lock_guard lock(mutex_);
    s = stats_;
    s.held = head_seq_ - tail_seq_;
  }
  s.egress_tests = egress_.tests();
  return s;
}

ObservationSink::Stats MemoryStore::sink_stats() const noexcept {
  std::lock_guard lock(mutex_);
  return {stats_.recorded, stats_.lost};
}

void MemoryStore::record_egress(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) noexcept {
  try {
    egress_.record(id, address, now_ms);
  } catch (const std::bad_alloc&) {
    std::lock_guard lock(mutex_);
    ++stats_.egress_lost;
  }
}

Result<std::vector<EgressSighting>> MemoryStore::egress_of(const testname::TestId& id, int64_t now_ms) const {
  return egress_.of(id, now_ms);
}

}  // namespace dnsleak::store
