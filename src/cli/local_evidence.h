// The local evidence of `dnsleak test`: where each configured resolver is routed (no privilege
// needed) and, with CAP_NET_RAW, a capture on every non-tunnel interface for the length of the
// test, matched against the test's own names afterwards. Behind an interface so the leak test's
// unit tests drive it with a fake.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/capture.h"
#include "host/snapshot.h"
#include "verdict/verdict.h"

namespace dnsleak::cli {

class LocalObserver {
 public:
  virtual ~LocalObserver() = default;
  // Before the lookups: read the machine, start the capture.
  virtual void start() = 0;
  // After start(): the non-tunnel interfaces with a default route, and its family, for the
  // underlay probes (the ISP's network seen without taking the tunnel down).
  struct UnderlayTarget {
    std::string interface;
    int family = 4;
  };
  [[nodiscard]] virtual std::vector<UnderlayTarget> underlay_targets() const { return {}; }
  // After them: stop, and say what was seen of `test_names` (compared without case).
  [[nodiscard]] virtual verdict::LocalEvidence finish(const std::vector<std::string>& test_names) = 0;
};

// The interfaces a leak leaves on: up, not loopback, not a tunnel.
[[nodiscard]] std::vector<std::string> non_tunnel_interfaces(const host::Snapshot& snapshot);
// Those of them with a default route, per family (IPv4 first), once each.
[[nodiscard]] std::vector<LocalObserver::UnderlayTarget> underlay_targets_of(const host::Snapshot& snapshot);

// This machine. Capabilities are given up once the capture is open (nothing after needs them).
[[nodiscard]] std::unique_ptr<LocalObserver> live_local_observer();

// The test names among what a capture saw, as the verdict's leaks.
[[nodiscard]] std::vector<verdict::LocalLeak> leaks_among(
    const std::vector<std::pair<std::string, host::CapturedDns>>& seen, const std::vector<std::string>& test_names);

}  // namespace dnsleak::cli
