// The observation store's interface: what a deployment keeps of every test (the observations the
// DNS path records, the egress sightings the HTTP probes record) and how the API and the live
// event streams read it back. The in-memory store implements it; a shared backend (Redis) is the
// next. Nothing above `store/` names an implementation: `main` picks one with make_store().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "net/clock.h"
#include "net/error.h"
#include "net/ip_address.h"
#include "store/observation.h"
#include "testname/test_token.h"

namespace dnsleak::store {

// Where a live read of one test stands. Opaque to readers: start from a default Cursor (everything
// still held), then pass back the `next` of the page last read. A backend keeps its own position
// in the two numbers (the memory store a sequence number; a stream-based backend an entry id).
class Cursor {
 public:
  Cursor() = default;
  [[nodiscard]] static Cursor at(uint64_t major, uint64_t minor = 0) noexcept {
    Cursor c;
    c.major_ = major;
    c.minor_ = minor;
    return c;
  }
  // For backends only: the position they encoded.
  [[nodiscard]] uint64_t major() const noexcept { return major_; }
  [[nodiscard]] uint64_t minor() const noexcept { return minor_; }
  friend bool operator==(const Cursor&, const Cursor&) = default;
  // "MAJOR-MINOR": the SSE event id a reconnecting client sends back (Last-Event-ID).
  [[nodiscard]] std::string text() const { return std::to_string(major_) + "-" + std::to_string(minor_); }
  [[nodiscard]] static std::optional<Cursor> parse(std::string_view text) noexcept;

 private:
  uint64_t major_ = 0;
  uint64_t minor_ = 0;
};

// Observations of one test newer than a cursor, oldest first, and the cursor to ask from next.
struct ObservationPage {
  std::vector<ResolverObservation> observations;
  Cursor next;
  bool truncated = false;  // more than `limit` were newer: the oldest of them were left out
};

// A client address an HTTP probe of the test came from: a tunnel exit, as the web server sees it.
struct EgressSighting {
  net::IpAddress address;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
  uint32_t count = 0;
};

// What any backend can tell; /metrics and SIGUSR1 show these whatever the backend.
struct StoreStats {
  uint64_t held = 0;              // observations held now
  uint64_t recorded = 0;          // observations ever recorded
  uint64_t evicted_expired = 0;   // dropped because older than the maximum age
  uint64_t evicted_capacity = 0;  // dropped, oldest first, to make room
  uint64_t lost = 0;              // handed to the store but not kept (a backend that failed)
  uint64_t egress_lost = 0;       // egress sightings not kept (no memory, a backend that failed)
  uint64_t capacity = 0;          // most observations held at once (0: the backend sets no bound)
  uint64_t egress_tests = 0;      // tests with egress sightings held
  // A shared backend's write queue and connection (the memory store has neither).
  uint64_t queued = 0;              // observations waiting to be written
  uint64_t queue_capacity = 0;      // most that can wait; more are dropped (and counted in lost)
  uint64_t dropped_queue_full = 0;  // of `lost`: dropped because the queue was full
  bool backend_up = true;           // the writer's connection to the backend is up
  uint64_t backend_reconnects = 0;  // times the writer connected again after losing the backend
  uint64_t read_errors = 0;         // reads that failed (the API answered 503) or entries unreadable
  uint64_t backend_errors = 0;      // other backend failures: refused commands, a notifier's errors
};

// Anything that takes observations: the store, the JSON-lines log. Called from packet workers
// with a batch; must not throw and should not block for long. What a sink could not keep is
// counted in its stats, never dropped silently.
class ObservationSink {
 public:
  struct Stats {
    uint64_t recorded = 0;  // observations kept
    uint64_t lost = 0;      // observations it could not keep (a failed write, a backend down)
  };
  virtual ~ObservationSink() = default;
  virtual void record(std::span<const ResolverObservation> batch) noexcept = 0;
  [[nodiscard]] virtual Stats sink_stats() const noexcept = 0;
  // A short name for metrics labels: "store", "log".
  [[nodiscard]] virtual const char* sink_name() const noexcept = 0;
};

// The read side and the egress sightings; the API reads through it. Implementations are
// thread-safe.
class ObservationStore : public ObservationSink {
 public:
  // A test's observations newer than `after`, at most the newest `limit`, oldest first, qname
  // restored in the case received. Costs what it returns, not what the test holds: live streams
  // ask with their cursor on every tick.
  // Fails only where the backend is out of reach (a shared store down or slow): the API answers 503.
  [[nodiscard]] virtual Result<ObservationPage> observations_since(const testname::TestId& id, Cursor after,
                                                                   size_t limit) const = 0;
  // Results hold at most this many observations of one test (a test is a few dozen queries; more
  // means someone floods its names).
  static constexpr size_t kMaxResults = 10'000;
  [[nodiscard]] Result<std::vector<ResolverObservation>> observations_of(const testname::TestId& id,
                                                                         size_t limit = kMaxResults) const {
    Result<ObservationPage> page = observations_since(id, Cursor{}, limit);
    if (!page) return std::unexpected(std::move(page.error()));
    return std::move(page->observations);
  }

  // An HTTP probe of the test came from `address`. A test keeps a few addresses at most.
  virtual void record_egress(const testname::TestId& id, const net::IpAddress& address, int64_t now_ms) noexcept = 0;
  [[nodiscard]] virtual Result<std::vector<EgressSighting>> egress_of(const testname::TestId& id,
                                                                      int64_t now_ms) const = 0;
  static constexpr size_t kMaxEgressPerTest = 8;  // a client has a few exits, not hundreds

  [[nodiscard]] virtual StoreStats stats() const noexcept = 0;

  // Whether a read may wait on a network (a shared backend): callers then keep reads off threads
  // that must not stall, such as the HTTP server's event loop. Bounded by the backend's timeouts.
  [[nodiscard]] virtual bool reads_may_block() const noexcept { return false; }

  // Live following. While the returned handle lives, `on_new` is called (from a thread of the
  // store's) when observations of the test newer than `after` may have arrived; the caller then
  // reads them with observations_since. A backend that cannot notify returns nullptr: poll.
  class Watch {
   public:
    virtual ~Watch() = default;
  };
  [[nodiscard]] virtual std::unique_ptr<Watch> watch(const testname::TestId& id, Cursor after,
                                                     const std::function<void()>& on_new) const {
    (void)id;
    (void)after;
    (void)on_new;
    return nullptr;
  }

  const char* sink_name() const noexcept override { return "store"; }
};

struct StoreOptions {
  // "memory" or "redis://[USER:PASSWORD@]HOST:PORT[/DB]"; a password here wins over the URL's.
  std::string backend = "memory";
  std::string password;
  std::string node_id;                   // written with every observation a shared backend keeps
  uint32_t queue = 65'536;               // a shared backend's write queue (observations waiting, at most)
  uint32_t max_observations = 1u << 20;  // held at most (the memory store's capacity)
  int64_t max_age_ms = 3'600'000;        // observations and egress older than this are gone
  size_t max_egress_tests = 0;           // tests with egress held at most (0: max_observations / 8 + 1024)
  dns::DnsName zone;                     // the apex, to restore qnames
  const net::Clock* clock = nullptr;     // default: the system clock
};

// The store a deployment runs on: "memory" (this node alone) or "redis://[USER:PASSWORD@]HOST:PORT[/DB]"
// (shared by every node). Fails for an unknown backend, a bad URL, memory that cannot be reserved,
// or a Redis that cannot be reached or refuses the credentials.
[[nodiscard]] Result<std::unique_ptr<ObservationStore>> make_store(StoreOptions options);

}  // namespace dnsleak::store
