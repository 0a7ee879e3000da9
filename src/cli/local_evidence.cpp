#include "cli/local_evidence.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>
#include <thread>

#include "net/capabilities.h"

namespace dnsleak::cli {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

class LiveLocalObserver final : public LocalObserver {
 public:
  ~LiveLocalObserver() override { stop(); }

  void start() override {
    const std::unique_ptr<host::HostSource> source = host::live_host();
    snapshot_ = host::take_snapshot(*source);
    evidence_ = host::local_evidence(snapshot_);
    host::mark_firewall(*source, snapshot_, evidence_);
    const std::vector<std::string> interfaces = non_tunnel_interfaces(snapshot_);
    if (interfaces.empty()) {
      evidence_.unchecked.emplace_back("capture: no interface outside the tunnel to watch");
      return;
    }
    Result<std::unique_ptr<host::LiveCapture>> capture = host::LiveCapture::open(interfaces);
    if (!capture) {
      evidence_.unchecked.push_back(
          capture.error().system_errno == EPERM
              ? "the test's names leaving outside the tunnel were not watched: a capture needs CAP_NET_RAW (run as "
                "root to have it)"
              : concat({"the test's names leaving outside the tunnel were not watched: ", capture.error().message}));
      return;
    }
    capture_ = std::move(*capture);
    // Nothing after this needs a capability: the handles are open.
    if (Result<void> dropped = net::clear_capabilities(); !dropped) {
      evidence_.unchecked.push_back(concat({"capabilities kept: ", dropped.error().message}));
    }
    evidence_.captured = true;
    evidence_.capture_interfaces = capture_->interfaces();
    thread_ = std::thread([this] {
      while (!stopping_.load()) {
        const Result<void> polled =
            capture_->poll(100, [this](const std::string& interface, const host::CapturedDns& p) {
              if (!p.decoded || p.response) return;
              std::lock_guard lock(mutex_);
              if (seen_.size() < 10'000) seen_.emplace_back(interface, p);
            });
        if (!polled) {
          std::lock_guard lock(mutex_);
          failure_ = polled.error().message;
          return;
        }
      }
    });
  }

  std::vector<UnderlayTarget> underlay_targets() const override { return underlay_targets_of(snapshot_); }

  verdict::LocalEvidence finish(const std::vector<std::string>& test_names) override {
    if (capture_) {
      // The last queries may still be in the kernel's buffer.
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      stop();
      std::lock_guard lock(mutex_);
      evidence_.leaks = leaks_among(seen_, test_names);
      if (!failure_.empty()) {
        evidence_.captured = false;
        evidence_.unchecked.push_back("the capture stopped early: " + failure_);
      }
      if (const uint64_t dropped = capture_->dropped(); dropped > 0) {
        evidence_.unchecked.push_back("the capture lost " + std::to_string(dropped) + " packets in the kernel");
      }
    }
    return evidence_;
  }

 private:
  void stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  host::Snapshot snapshot_;
  verdict::LocalEvidence evidence_;
  std::unique_ptr<host::LiveCapture> capture_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::pair<std::string, host::CapturedDns>> seen_;
  std::string failure_;
};

}  // namespace

std::vector<std::string> non_tunnel_interfaces(const host::Snapshot& snapshot) {
  std::vector<std::string> out;
  for (const host::Link& l : snapshot.links) {
    if (l.up() && !l.loopback() && !l.tunnel()) out.push_back(l.name);
  }
  return out;
}

std::vector<LocalObserver::UnderlayTarget> underlay_targets_of(const host::Snapshot& snapshot) {
  std::vector<LocalObserver::UnderlayTarget> out;
  for (const int family : {4, 6}) {
    for (const host::Route& r : snapshot.routes) {
      const host::Link* link = snapshot.link(r.link);
      if (!r.is_default() || r.type != 1 /* RTN_UNICAST */ || r.destination.address.family != family ||
          link == nullptr || !link->up() || link->loopback() || link->tunnel()) {
        continue;
      }
      const bool known = std::any_of(out.begin(), out.end(), [&](const LocalObserver::UnderlayTarget& t) {
        return t.interface == link->name && t.family == family;
      });
      if (!known) out.push_back({link->name, family});
    }
  }
  return out;
}

std::unique_ptr<LocalObserver> live_local_observer() { return std::make_unique<LiveLocalObserver>(); }

std::vector<verdict::LocalLeak> leaks_among(const std::vector<std::pair<std::string, host::CapturedDns>>& seen,
                                            const std::vector<std::string>& test_names) {
  std::set<std::string> wanted;
  for (const std::string& n : test_names) {
    std::string name = lower(n);
    if (!name.empty() && name.back() == '.') name.pop_back();
    wanted.insert(std::move(name));
  }
  std::vector<verdict::LocalLeak> leaks;
  std::set<std::pair<std::string, std::string>> reported;  // one per name and interface
  for (const auto& [interface, packet] : seen) {
    const std::string name = lower(packet.name);
    if (wanted.count(name) == 0 || !reported.insert({name, interface}).second) continue;
    leaks.push_back({name, interface, packet.destination});
  }
  return leaks;
}

}  // namespace dnsleak::cli
