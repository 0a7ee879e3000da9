#include "store/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <new>
#include <random>
#include <unordered_set>

namespace dnsleak::store {
namespace {

using Ms = std::chrono::milliseconds;
constexpr int64_t kBackoffFirstMs = 100;
constexpr int64_t kBackoffMaxMs = 5'000;
constexpr int kFollowBlockMs = 250;      // how long the follower's XREAD waits before taking in new watches
constexpr int64_t kReadsDownMs = 1'000;  // after a failed read, reads fail fast this long
constexpr size_t kMaxIdleReaders = 8;
constexpr size_t kEgressQueue = 4'096;

int64_t steady_ms() {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Counts one sighting, atomically across nodes: a known address gets its last time and count
// updated; a new one is added only while the test has fewer than the most a test keeps.
constexpr std::string_view kEgressScript = R"lua(
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local f, l, c = string.match(v, '^(%d+) (%d+) (%d+)$')
  if not f then return 0 end
  if tonumber(ARGV[2]) > tonumber(l) then l = ARGV[2] end
  redis.call('HSET', KEYS[1], ARGV[1], f .. ' ' .. l .. ' ' .. string.format('%d', tonumber(c) + 1))
elseif redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[2] .. ' 1')
else
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
)lua";

template <class T>
bool parse_number(std::string_view text, T& out) noexcept {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

void append_number(std::string& out, uint64_t v) {
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, static_cast<size_t>(end - digits));
}

void append_key(std::string& out, const testname::TestId& id, std::string_view kind) {
  out += "dnsleak:{";
  out += testname::test_id_hex(id);
  out += "}:";
  out += kind;
}

// RESP, written straight into the pipeline: an array header, then bulk strings.
void resp_array(std::string& out, size_t n) {
  out += '*';
  append_number(out, n);
  out += "\r\n";
}
void resp_bulk(std::string& out, std::string_view v) {
  out += '$';
  append_number(out, v.size());
  out += "\r\n";
  out += v;
  out += "\r\n";
}

}  // namespace

void append_observation(std::string& s, const ResolverObservation& o, std::string_view node, std::string_view tag) {
  s += "1 ";
  append_number(s, static_cast<uint64_t>(std::max<int64_t>(0, o.time_ms)));
  s += ' ';
  char token[testname::kTokenTextSize];
  o.token.write_text(std::span<char, testname::kTokenTextSize>(token, testname::kTokenTextSize));
  s.append(token, sizeof token);
  s += ' ';
  s.append(o.probe.chars.data(), o.probe.length);
  s += ' ';
  s += o.sub_zone == SubZone::none ? "-" : to_string(o.sub_zone);
  s += ' ';
  std::array<char, 64> address{};
  s.append(address.data(), o.resolver.to_text(address));
  s += ' ';
  append_number(s, o.resolver_port);
  s += ' ';
  s += net::to_string(o.transport);
  s += ' ';
  append_number(s, o.qtype);
  s += ' ';
  s += to_string(o.answer);
  s += ' ';
  if (o.edns)
    append_number(s, o.edns_payload_size);
  else
    s += '-';
  s += ' ';
  if (o.dnssec_ok) s += 'd';
  if (o.cookie) s += 'c';
  if (!o.dnssec_ok && !o.cookie) s += '-';
  s += ' ';
  const CaseMask mask = case_mask_of(o.qname);
  char hex[16];
  const auto [hex_end, ec] = std::to_chars(hex, hex + sizeof hex, mask.bits, 16);
  s.append(hex, static_cast<size_t>(hex_end - hex));
  if (mask.beyond) s += '+';
  s += ' ';
  if (o.has_client_subnet) {
    net::IpAddress a;
    a.family = o.client_subnet.family == 2 ? 6 : 4;
    std::copy_n(o.client_subnet.address.begin(), a.family == 6 ? 16 : 4, a.bytes.begin());
    s.append(address.data(), a.to_text(address));
    s += '/';
    append_number(s, o.client_subnet.source_prefix);
    s += '/';
    append_number(s, o.client_subnet.scope_prefix);
  } else {
    s += '-';
  }
  s += ' ';
  s += tag.empty() ? std::string_view("-") : tag;
  s += ' ';
  s += node.empty() ? std::string_view("-") : node;
}

std::string redis_key(const testname::TestId& id, std::string_view kind) {
  std::string key;
  append_key(key, id, kind);
  return key;
}

std::string encode_observation(const ResolverObservation& o, std::string_view node, std::string_view tag) {
  std::string s;
  s.reserve(160);
  append_observation(s, o, node, tag);
  return s;
}

std::optional<DecodedEntry> decode_entry(std::string_view entry, const dns::DnsName& zone) {
  constexpr size_t kFields = 16;
  std::array<std::string_view, kFields> f;
  size_t n = 0;
  while (n + 1 < kFields) {
    const size_t space = entry.find(' ');
    if (space == std::string_view::npos) break;
    f[n++] = entry.substr(0, space);
    entry.remove_prefix(space + 1);
  }
  f[n++] = entry;  // the node id: the rest of the line
  if (n != kFields || f[0] != "1") return std::nullopt;
  ResolverObservation o;
  if (!parse_number(f[1], o.time_ms)) return std::nullopt;
  const auto token =
      testname::decode_token_text(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(f[2].data()), f[2].size()));
  const auto probe =
      testname::ProbeLabel::parse(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(f[3].data()), f[3].size()));
  if (!token || !probe) return std::nullopt;
  o.token = *token;
  o.probe = *probe;
  if (f[4] == "v4")
    o.sub_zone = SubZone::v4;
  else if (f[4] == "v6")
    o.sub_zone = SubZone::v6;
  else if (f[4] == "tcp")
    o.sub_zone = SubZone::tcp;
  else if (f[4] != "-")
    return std::nullopt;
  const Result<net::IpAddress> resolver = net::parse_ip(f[5]);
  if (!resolver || !parse_number(f[6], o.resolver_port)) return std::nullopt;
  o.resolver = *resolver;
  if (f[7] == "tcp")
    o.transport = net::Transport::tcp;
  else if (f[7] != "udp")
    return std::nullopt;
  if (!parse_number(f[8], o.qtype)) return std::nullopt;
  bool answer_known = false;
  for (const AnswerKind a : {AnswerKind::answer, AnswerKind::nodata, AnswerKind::referral, AnswerKind::truncated}) {
    if (f[9] == to_string(a)) {
      o.answer = a;
      answer_known = true;
    }
  }
  if (!answer_known) return std::nullopt;
  if (f[10] != "-") {
    if (!parse_number(f[10], o.edns_payload_size)) return std::nullopt;
    o.edns = true;
  }
  o.dnssec_ok = f[11].find('d') != std::string_view::npos;
  o.cookie = f[11].find('c') != std::string_view::npos;
  CaseMask mask;
  std::string_view bits = f[12];
  if (bits.ends_with('+')) {
    mask.beyond = true;
    bits.remove_suffix(1);
  }
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), mask.bits, 16);
  if (ec != std::errc{} || end != bits.data() + bits.size()) return std::nullopt;
  if (f[13] != "-") {
    const size_t slash1 = f[13].find('/');
    const size_t slash2 = f[13].rfind('/');
    if (slash1 == std::string_view::npos || slash1 == slash2) return std::nullopt;
    const Result<net::IpAddress> a = net::parse_ip(f[13].substr(0, slash1));
    unsigned source = 0, scope = 0;
    if (!a || !parse_number(f[13].substr(slash1 + 1, slash2 - slash1 - 1), source) ||
        !parse_number(f[13].substr(slash2 + 1), scope) || source > 128 || scope > 128) {
      return std::nullopt;
    }
    o.has_client_subnet = true;
    o.client_subnet.family = a->family == 6 ? 2 : 1;
    o.client_subnet.source_prefix = static_cast<uint8_t>(source);
    o.client_subnet.scope_prefix = static_cast<uint8_t>(scope);
    std::copy_n(a->bytes.begin(), a->family == 6 ? 16 : 4, o.client_subnet.address.begin());
  }
  if (f[15] != "-") o.node = NodeName::of(f[15]);
  const auto qname = test_qname(o.token, o.probe, o.sub_zone, zone, mask);
  if (!qname) return std::nullopt;
  o.qname = *qname;
  return DecodedEntry{o, std::string(f[14])};
}

// --- live following ---------------------------------------------------------------------------

struct RedisStore::Follower {
  std::mutex mutex;
  std::condition_variable cv;
  struct Entry {
    std::string last_id;  // the newest entry the follower has seen of this test
    std::vector<FollowWatch*> watches;
  };
  std::map<std::string, Entry> keys;
  bool stopping = false;
};

class RedisStore::FollowWatch final : public ObservationStore::Watch {
 public:
  FollowWatch(Follower& follower, std::string key, std::function<void()> on_new)
      : follower_(follower), key_(std::move(key)), on_new_(std::move(on_new)) {}
  ~FollowWatch() override {
    // Under the follower's lock: once this returns, on_new is never called again.
    std::lock_guard lock(follower_.mutex);
    const auto it = follower_.keys.find(key_);
    if (it == follower_.keys.end()) return;
    std::erase(it->second.watches, this);
    if (it->second.watches.empty()) follower_.keys.erase(it);
  }
  FollowWatch(const FollowWatch&) = delete;
  FollowWatch& operator=(const FollowWatch&) = delete;
  void notify() const { on_new_(); }

 private:
  Follower& follower_;
  std::string key_;
  std::function<void()> on_new_;
};

std::unique_ptr<ObservationStore::Watch> RedisStore::watch(const testname::TestId& id, Cursor after,
                                                           const std::function<void()>& on_new) const {
  std::string key = redis_key(id, "obs");
  auto watch = std::make_unique<FollowWatch>(*follower_, key, on_new);
  {
    std::lock_guard lock(follower_->mutex);
    auto [it, added] = follower_->keys.try_emplace(std::move(key));
    // Followed from the oldest cursor of its watchers, so a later watcher further back is woken too.
    const std::optional<Cursor> followed = Cursor::parse(it->second.last_id);
    if (added || !followed || after.major() < followed->major() ||
        (after.major() == followed->major() && after.minor() < followed->minor())) {
      it->second.last_id = after.text();
    }
    it->second.watches.push_back(watch.get());
  }
  follower_->cv.notify_one();
  return watch;
}

void RedisStore::follow_loop() {
  RedisConnection c;
  int64_t backoff = kBackoffFirstMs;
  std::vector<std::string> keys, ids;
  while (true) {
    keys.clear();
    ids.clear();
    {
      std::unique_lock lock(follower_->mutex);
      follower_->cv.wait_for(lock, Ms(200), [&] { return follower_->stopping || !follower_->keys.empty(); });
      if (follower_->stopping) return;
      for (const auto& [key, entry] : follower_->keys) {
        keys.push_back(key);
        ids.push_back(entry.last_id);
      }
    }
    if (keys.empty()) continue;
    if (!c.usable()) {
      Result<RedisConnection> opened = RedisConnection::open(options_.endpoint, options_.timeout_ms);
      if (!opened) {
        backend_errors_.fetch_add(1, std::memory_order_relaxed);
        // Streams fall back to polling meanwhile; try again after a while.
        std::unique_lock lock(follower_->mutex);
        follower_->cv.wait_for(lock, Ms(backoff), [&] { return follower_->stopping; });
        backoff = std::min(backoff * 2, kBackoffMaxMs);
        continue;
      }
      c = std::move(*opened);
      c.set_timeout(kFollowBlockMs + options_.timeout_ms);
    }
    const std::string block = std::to_string(kFollowBlockMs);
    std::vector<std::string_view> args{"XREAD", "COUNT", "64", "BLOCK", block, "STREAMS"};
    for (const std::string& k : keys) args.emplace_back(k);
    for (const std::string& i : ids) args.emplace_back(i);
    Result<RedisReply> r = c.command(args);
    if (!r || r->is_error()) {
      // Counted, then a pause that grows while it keeps failing (a broken connection reconnects).
      backend_errors_.fetch_add(1, std::memory_order_relaxed);
      std::unique_lock lock(follower_->mutex);
      follower_->cv.wait_for(lock, Ms(backoff), [&] { return follower_->stopping; });
      backoff = std::min(backoff * 2, kBackoffMaxMs);
      continue;
    }
    backoff = kBackoffFirstMs;
    if (!r->is_array()) continue;  // nil: nothing arrived within the block time
    std::lock_guard lock(follower_->mutex);
    for (size_t s = 0; s < reply_size(r->raw()); ++s) {
      const redisReply* stream = reply_at(r->raw(), s);
      const std::string key(reply_text(reply_at(stream, 0)));
      const redisReply* entries = reply_at(stream, 1);
      const size_t count = reply_size(entries);
      if (count == 0) continue;
      const auto it = follower_->keys.find(key);
      if (it == follower_->keys.end()) continue;
      it->second.last_id = std::string(reply_text(reply_at(reply_at(entries, count - 1), 0)));
      for (const FollowWatch* w : it->second.watches) w->notify();
    }
  }
}

// --- the write path ---------------------------------------------------------------------------

RedisStore::RedisStore(RedisStoreOptions options)
    : options_(std::move(options)),
      clock_(options_.store.clock != nullptr ? *options_.store.clock : net::system_clock()),
      follower_(std::make_unique<Follower>()) {
  ring_ = std::make_unique<ResolverObservation[]>(options_.queue_capacity);  // may throw bad_alloc
  std::random_device random;
  char nonce[17];
  std::snprintf(nonce, sizeof nonce, "%08x%08x", random(), random());
  writer_nonce_ = nonce;
  egress_queue_.reserve(kEgressQueue);
}

Result<std::unique_ptr<RedisStore>> RedisStore::open(RedisStoreOptions options) {
  if (options.queue_capacity == 0 || options.batch == 0) return fail("store: the Redis queue and batch must not be 0");
  // Checked now so that a wrong URL, a refused AUTH or an unreachable server stops the start.
  Result<RedisConnection> first = RedisConnection::open(options.endpoint, options.timeout_ms);
  if (!first) return std::unexpected(first.error());
  std::unique_ptr<RedisStore> store;
  try {
    store.reset(new RedisStore(std::move(options)));
  } catch (const std::bad_alloc&) {
    return fail("store: cannot reserve memory for the Redis write queue");
  }
  store->give_back(std::move(*first));
  try {
    store->writer_ = std::thread([s = store.get()] { s->write_loop(); });
    store->follower_thread_ = std::thread([s = store.get()] { s->follow_loop(); });
  } catch (const std::system_error& e) {
    return fail(concat({"store: cannot start the Redis threads: ", e.what()}));
  }
  return store;
}

RedisStore::~RedisStore() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  {
    std::lock_guard lock(follower_->mutex);
    follower_->stopping = true;
  }
  follower_->cv.notify_all();
  if (writer_.joinable()) writer_.join();
  if (follower_thread_.joinable()) follower_thread_.join();
}

void RedisStore::record(std::span<const ResolverObservation> batch) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    const uint64_t capacity = options_.queue_capacity;
    for (const ResolverObservation& o : batch) {
      if (head_ - tail_ >= capacity) {
        dropped_full_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      ring_[head_ % capacity] = o;
      ++head_;
    }
    wake = writer_waiting_;
  }
  if (wake) queue_cv_.notify_one();
}

void RedisStore::record_egress(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    if (egress_queue_.size() >= kEgressQueue) {
      egress_lost_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    egress_queue_.push_back(Egress{id, address, now_ms});
    wake = writer_waiting_;
  }
  if (wake) queue_cv_.notify_one();
}

void RedisStore::write_loop() {
  RedisConnection c;
  int64_t backoff = kBackoffFirstMs;
  int64_t next_attempt_ms = 0;
  int64_t last_check_ms = 0;
  bool ever_connected = false;
  std::vector<Egress> egress;
  egress.reserve(kEgressQueue);
  std::string pipeline, key, entry, tag;
  std::vector<testname::TestId> tests;
  const std::string max_len = std::to_string(kMaxResults);
  const std::string ttl = std::to_string(options_.store.max_age_ms);
  const std::string max_egress = std::to_string(kMaxEgressPerTest);
  const uint64_t capacity = options_.queue_capacity;
  // Connects, counting a reconnect; on failure backs off (100 ms doubling to 5 s) and keeps the error.
  const auto connect = [&] {
    Result<RedisConnection> opened = RedisConnection::open(options_.endpoint, options_.timeout_ms);
    if (!opened) {
      writer_connected_ = false;
      next_attempt_ms = steady_ms() + backoff;
      backoff = std::min(backoff * 2, kBackoffMaxMs);
      std::lock_guard lock(pool_mutex_);
      last_error_ = opened.error().message;
      return false;
    }
    c = std::move(*opened);
    if (ever_connected) reconnects_.fetch_add(1, std::memory_order_relaxed);
    ever_connected = true;
    writer_connected_ = true;
    backoff = kBackoffFirstMs;
    return true;
  };
  // Connected from the start, so that the backend shows up before the first observation.
  (void)connect();
  while (true) {
    uint64_t begin = 0, end = 0;
    bool stopping = false;
    {
      std::unique_lock lock(queue_mutex_);
      writer_waiting_ = true;
      queue_cv_.wait_for(lock, Ms(100), [&] { return stopping_ || head_ != tail_ || !egress_queue_.empty(); });
      writer_waiting_ = false;
      stopping = stopping_;
      if (stopping && head_ == tail_ && egress_queue_.empty()) break;
      begin = tail_;
      end = std::min(head_, tail_ + options_.batch);
      egress.assign(egress_queue_.begin(), egress_queue_.end());
      egress_queue_.clear();
    }
    if (begin == end && egress.empty()) {
      // Idle: look at the backend once a second, so backend_up tells the truth without traffic.
      const int64_t now = steady_ms();
      if (now - last_check_ms < 1000) continue;
      last_check_ms = now;
      if (c.usable()) {
        const std::string_view ping[] = {"PING"};
        if (Result<RedisReply> pong = c.command(ping); !pong) {
          c = RedisConnection();
          writer_connected_ = false;
          backend_errors_.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard lock(pool_mutex_);
          last_error_ = pong.error().message;
        }
      } else if (now >= next_attempt_ms) {
        (void)connect();  // a failure is kept in last_error_ and retried after the backoff
      }
      continue;
    }
    if (!c.usable()) {
      const int64_t now = steady_ms();
      if (now < next_attempt_ms) {
        egress_lost_.fetch_add(egress.size(), std::memory_order_relaxed);
        if (stopping) break;  // Redis is down and we are stopping: what is queued is lost (counted below)
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait_for(lock, Ms(next_attempt_ms - now), [&] { return stopping_; });
        continue;
      }
      if (!connect()) {
        egress_lost_.fetch_add(egress.size(), std::memory_order_relaxed);
        if (stopping) break;
        continue;
      }
    }

    // One pipeline, formatted here in one buffer: XADD per observation, PEXPIRE once per test of
    // the batch, the egress scripts.
    // In MULTI/EXEC: a connection lost before EXEC applies none of it, so the retry writes nothing
    // twice and no stream is left without its expiry (the write tags cover a reply lost after it).
    const size_t n = end - begin;
    pipeline.clear();
    tests.clear();
    resp_array(pipeline, 1);
    resp_bulk(pipeline, "MULTI");
    for (size_t i = 0; i < n; ++i) {
      const ResolverObservation& o = ring_[(begin + i) % capacity];
      key.clear();
      append_key(key, o.token.test_id(), "obs");
      entry.clear();
      tag.assign(writer_nonce_);
      tag += '-';
      append_number(tag, begin + i);
      append_observation(entry, o, options_.node_id, tag);
      resp_array(pipeline, 8);
      resp_bulk(pipeline, "XADD");
      resp_bulk(pipeline, key);
      resp_bulk(pipeline, "MAXLEN");
      resp_bulk(pipeline, "~");
      resp_bulk(pipeline, max_len);
      resp_bulk(pipeline, "*");
      resp_bulk(pipeline, "o");
      resp_bulk(pipeline, entry);
      tests.push_back(o.token.test_id());
    }
    std::sort(tests.begin(), tests.end());
    tests.erase(std::unique(tests.begin(), tests.end()), tests.end());
    for (const testname::TestId& id : tests) {
      key.clear();
      append_key(key, id, "obs");
      resp_array(pipeline, 3);
      resp_bulk(pipeline, "PEXPIRE");
      resp_bulk(pipeline, key);
      resp_bulk(pipeline, ttl);
    }
    for (const Egress& e : egress) {
      key.clear();
      append_key(key, e.id, "egress");
      resp_array(pipeline, 8);
      resp_bulk(pipeline, "EVAL");
      resp_bulk(pipeline, kEgressScript);
      resp_bulk(pipeline, "1");
      resp_bulk(pipeline, key);
      resp_bulk(pipeline, e.address.to_string());
      resp_bulk(pipeline, std::to_string(e.now_ms));
      resp_bulk(pipeline, max_egress);
      resp_bulk(pipeline, ttl);
    }
    resp_array(pipeline, 1);
    resp_bulk(pipeline, "EXEC");
    c.append_formatted(pipeline);
    const size_t unique_tests = tests.size();
    // MULTI's +OK and a +QUEUED per command, then EXEC's array of every command's result.
    const size_t commands = n + unique_tests + egress.size();
    bool broke = false;
    RedisReply exec;
    for (size_t i = 0; i < commands + 2 && !broke; ++i) {
      Result<RedisReply> r = c.reply();
      if (!r) {
        broke = true;
        std::lock_guard lock(pool_mutex_);
        last_error_ = r.error().message;
      } else if (i == commands + 1) {
        exec = std::move(*r);
      }
    }
    if (broke) {
      // The batch stays queued and is written again after the reconnect; its egress is lost.
      c = RedisConnection();
      writer_connected_ = false;
      next_attempt_ms = steady_ms() + backoff;
      backoff = std::min(backoff * 2, kBackoffMaxMs);
      egress_lost_.fetch_add(egress.size(), std::memory_order_relaxed);
      if (stopping) break;
      continue;
    }
    uint64_t written = 0;
    if (!exec.is_array() || reply_size(exec.raw()) != commands) {
      // EXECABORT (a command Redis refused to queue) or an error: nothing of the batch applied.
      backend_errors_.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard lock(pool_mutex_);
        last_error_ = concat({"EXEC: ", exec.text()});
      }
      egress_lost_.fetch_add(egress.size(), std::memory_order_relaxed);
      failed_.fetch_add(n, std::memory_order_relaxed);
    } else {
      for (size_t i = 0; i < commands; ++i) {
        const redisReply* result = reply_at(exec.raw(), i);
        const bool error = result != nullptr && result->type == REDIS_REPLY_ERROR;
        if (i < n) {
          if (error)
            failed_.fetch_add(1, std::memory_order_relaxed);
          else
            ++written;
        } else if (i < n + unique_tests) {
          if (error) backend_errors_.fetch_add(1, std::memory_order_relaxed);  // a PEXPIRE refused
        } else if (error) {
          egress_lost_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    recorded_.fetch_add(written, std::memory_order_relaxed);
    {
      std::lock_guard lock(queue_mutex_);
      tail_ = end;
    }
  }
  // Stopped with Redis out of reach: what is still queued will never be written.
  std::lock_guard lock(queue_mutex_);
  failed_.fetch_add(head_ - tail_, std::memory_order_relaxed);
  egress_lost_.fetch_add(egress_queue_.size(), std::memory_order_relaxed);
  tail_ = head_;
  egress_queue_.clear();
}

ObservationSink::Stats RedisStore::sink_stats() const noexcept {
  return {recorded_.load(std::memory_order_relaxed),
          dropped_full_.load(std::memory_order_relaxed) + failed_.load(std::memory_order_relaxed)};
}

StoreStats RedisStore::stats() const noexcept {
  StoreStats s;
  s.recorded = recorded_.load(std::memory_order_relaxed);
  s.lost = dropped_full_.load(std::memory_order_relaxed) + failed_.load(std::memory_order_relaxed);
  s.dropped_queue_full = dropped_full_.load(std::memory_order_relaxed);
  s.egress_lost = egress_lost_.load(std::memory_order_relaxed);
  s.queue_capacity = options_.queue_capacity;
  s.backend_up = writer_connected_.load();
  s.backend_reconnects = reconnects_.load(std::memory_order_relaxed);
  s.read_errors = read_errors_.load(std::memory_order_relaxed);
  s.backend_errors = backend_errors_.load(std::memory_order_relaxed);
  std::lock_guard lock(queue_mutex_);
  s.queued = head_ - tail_;
  return s;
}

// --- the read path ----------------------------------------------------------------------------

Result<RedisConnection> RedisStore::take_connection(bool& pooled) const {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      RedisConnection c = std::move(idle_.back());
      idle_.pop_back();
      pooled = true;
      return c;
    }
    if (steady_ms() < down_until_ms_)
      return fail(concat({"redis ", options_.endpoint.display(), " is unavailable: ", last_error_}));
  }
  Result<RedisConnection> opened = RedisConnection::open(options_.endpoint, options_.timeout_ms);
  if (!opened) {
    std::lock_guard lock(pool_mutex_);
    down_until_ms_ = steady_ms() + kReadsDownMs;
    last_error_ = opened.error().message;
  }
  return opened;
}

void RedisStore::give_back(RedisConnection c) const {
  if (!c.usable()) return;
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < kMaxIdleReaders) idle_.push_back(std::move(c));
}

Result<RedisReply> RedisStore::read_command(std::span<const std::string_view> args) const {
  bool pooled = false;
  Result<RedisConnection> c = take_connection(pooled);
  if (!c) {
    read_errors_.fetch_add(1, std::memory_order_relaxed);
    return std::unexpected(c.error());
  }
  Result<RedisReply> r = c->command(args);
  if (!r && pooled && !c->timed_out()) {
    // An idle connection that died with a Redis restarted since: once more on a new one. Not after
    // a timeout: a stalled Redis would then cost the reader twice.
    c = RedisConnection::open(options_.endpoint, options_.timeout_ms);
    if (c) r = c->command(args);
  }
  if (!c || !r) {
    read_errors_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(pool_mutex_);
    down_until_ms_ = steady_ms() + kReadsDownMs;
    last_error_ = c ? r.error().message : c.error().message;
    return std::unexpected(Error{last_error_, 0});
  }
  give_back(std::move(*c));
  if (r->is_error()) {
    read_errors_.fetch_add(1, std::memory_order_relaxed);
    return fail(concat({"redis ", options_.endpoint.display(), ": ", r->text()}));
  }
  return r;
}

Result<ObservationPage> RedisStore::observations_since(const testname::TestId& id, Cursor after, size_t limit) const {
  const std::string key = redis_key(id, "obs");
  const std::string end = after == Cursor{} ? std::string("-") : concat({"(", after.text()});
  const std::string count = std::to_string(limit + 1);
  const std::string_view args[] = {"XREVRANGE", key, "+", end, "COUNT", count};
  Result<RedisReply> r = read_command(args);
  if (!r) return std::unexpected(r.error());
  ObservationPage page;
  page.next = after;
  const size_t n = reply_size(r->raw());
  const int64_t oldest_allowed = clock_.unix_ms() - options_.store.max_age_ms;
  std::unordered_set<std::string> tags;  // an entry written twice (a retried batch) counts once
  for (size_t i = 0; i < n; ++i) {
    const redisReply* e = reply_at(r->raw(), i);
    if (i == 0) {
      if (auto c = Cursor::parse(reply_text(reply_at(e, 0)))) page.next = *c;  // the entry id, MS-SEQ
    }
    if (i == limit) {
      page.truncated = true;
      break;
    }
    const redisReply* fields = reply_at(e, 1);
    if (reply_size(fields) < 2) read_errors_.fetch_add(1, std::memory_order_relaxed);  // no fields at all
    for (size_t f = 0; f + 1 < reply_size(fields); f += 2) {
      if (reply_text(reply_at(fields, f)) != "o") {
        read_errors_.fetch_add(1, std::memory_order_relaxed);  // a field this version does not know
        continue;
      }
      std::optional<DecodedEntry> d = decode_entry(reply_text(reply_at(fields, f + 1)), options_.store.zone);
      if (!d) {
        read_errors_.fetch_add(1, std::memory_order_relaxed);  // an entry this version cannot read
        continue;
      }
      if (d->tag != "-" && !tags.insert(d->tag).second) continue;
      if (d->observation.time_ms >= oldest_allowed) page.observations.push_back(std::move(d->observation));
    }
  }
  std::reverse(page.observations.begin(), page.observations.end());
  return page;
}

Result<std::vector<EgressSighting>> RedisStore::egress_of(const testname::TestId& id, int64_t now_ms) const {
  const std::string key = redis_key(id, "egress");
  const std::string_view args[] = {"HGETALL", key};
  Result<RedisReply> r = read_command(args);
  if (!r) return std::unexpected(r.error());
  std::vector<EgressSighting> out;
  const int64_t oldest_allowed = now_ms - options_.store.max_age_ms;
  for (size_t i = 0; i + 1 < reply_size(r->raw()); i += 2) {
    const Result<net::IpAddress> address = net::parse_ip(reply_text(reply_at(r->raw(), i)));
    const std::string_view value = reply_text(reply_at(r->raw(), i + 1));
    const size_t s1 = value.find(' '), s2 = value.rfind(' ');
    EgressSighting e;
    if (!address || s1 == std::string_view::npos || s1 == s2 || !parse_number(value.substr(0, s1), e.first_ms) ||
        !parse_number(value.substr(s1 + 1, s2 - s1 - 1), e.last_ms) || !parse_number(value.substr(s2 + 1), e.count)) {
      read_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    e.address = *address;
    if (e.last_ms >= oldest_allowed) out.push_back(e);
  }
  std::sort(out.begin(), out.end(),
            [](const EgressSighting& a, const EgressSighting& b) { return a.first_ms < b.first_ms; });
  if (out.size() > kMaxEgressPerTest) out.resize(kMaxEgressPerTest);
  return out;
}

}  // namespace dnsleak::store
