// `dnsleak guard`: DNS held to the tunnel by a table of our own, `inet dnsleak`, and (where
// systemd-resolved runs) every domain routed to the tunnel link. This header is the plan and its
// words, the nftables script made from it, the record of what `on` changed (so that `off` undoes it
// after a crash), and the machine behind one interface (GuardSystem) so that the commands' logic
// runs in unit tests without root. Other tables are never touched: ours can only add blocking.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/resolved.h"
#include "net/error.h"
#include "net/ip_address.h"

namespace dnsleak::host {

inline constexpr const char* kGuardFamily = "inet";
inline constexpr const char* kGuardTable = "dnsleak";
inline constexpr const char* kGuardUnit = "dnsleak-guard.service";

// A resolver DNS may still go to: through the tunnel (interface empty), or on the interface named
// (`ADDR%IF`, a LAN resolver kept on purpose).
struct AllowedResolver {
  net::IpAddress address;
  std::string interface;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const AllowedResolver&, const AllowedResolver&) = default;
};
// What Linux allows in an interface name that nft may quote: 1-15 of [A-Za-z0-9._+@:-].
[[nodiscard]] bool valid_interface_name(std::string_view name) noexcept;

// "10.8.0.1" or "192.168.1.1%eth0".
[[nodiscard]] Result<AllowedResolver> parse_allowed_resolver(std::string_view text);

struct GuardPlan {
  std::vector<std::string> tunnels;  // interface names (matched by name: a tunnel re-created keeps it)
  std::vector<AllowedResolver> allowed;
  bool block_ipv6 = false;
  friend bool operator==(const GuardPlan&, const GuardPlan&) = default;
};

// The rules as `nft -f` reads them: the table replaced in one transaction (created if missing, so
// the delete cannot fail), each rule counted and named by its comment.
[[nodiscard]] std::string guard_script(const GuardPlan& plan);
// The same rules in words, one per rule, in order (keyed by their comment).
struct GuardRuleText {
  std::string id;     // the rule's comment
  std::string words;  // what it does
  bool blocks = false;
};
[[nodiscard]] std::vector<GuardRuleText> guard_rules(const GuardPlan& plan);

// What `nft -j list table inet dnsleak` shows: each rule's comment and counter.
struct GuardRuleCount {
  std::string chain;
  std::string id;
  uint64_t packets = 0, bytes = 0;
};
[[nodiscard]] Result<std::vector<GuardRuleCount>> parse_guard_table(std::string_view json);

// What `on` changed in systemd-resolved, with the values before, for `off` to put back.
struct ResolvedLinkChange {
  uint32_t ifindex = 0;
  std::string name;
  bool set_domains = false;  // the domains were replaced by "~." (the tunnel link)
  std::vector<ResolvedDomain> old_domains;
  bool set_default_route = false;  // DefaultRoute was turned off (a link outside the tunnel)
  bool old_default_route = false;
};
// The record of a guard that is on, in the runtime directory: written before anything is changed.
struct GuardRecord {
  GuardPlan plan;
  std::string script;  // what was applied: `on` again with the same script changes nothing
  std::vector<ResolvedLinkChange> resolved;
  bool persist = false;
  long long since_ms = 0;
};
[[nodiscard]] std::string record_json(const GuardRecord& record);
[[nodiscard]] Result<GuardRecord> parse_record(std::string_view json);

// The systemd unit `on --persist` installs: the table applied at boot before the network.
[[nodiscard]] std::string guard_unit(const std::string& dnsleak_path, const GuardPlan& plan);

// The changes to make in resolved's links so that every name goes to the tunnel: "~." on the
// first tunnel link (unless it has it), DefaultRoute off on every link that is not a tunnel and has
// it and servers. None when resolved knows no server on that tunnel link (every name would go
// nowhere). `names`: every link's index and name, for the record.
[[nodiscard]] std::vector<ResolvedLinkChange> resolved_changes(
    const ResolvedState& state, const std::vector<uint32_t>& tunnels,
    const std::vector<std::pair<uint32_t, std::string>>& names);

// The machine, as guard needs it. The live one talks to libnftables, D-Bus and the file system.
class GuardSystem {
 public:
  virtual ~GuardSystem() = default;
  // Runs an nft script in one transaction; with check_only, only validated (nft -c).
  [[nodiscard]] virtual Result<void> run_nft(const std::string& script, bool check_only) = 0;
  // Our table as JSON, or nullopt when there is none.
  [[nodiscard]] virtual Result<std::optional<std::string>> list_table() = 0;
  [[nodiscard]] virtual Result<void> set_link_domains(uint32_t ifindex, const std::vector<ResolvedDomain>& domains) = 0;
  [[nodiscard]] virtual Result<void> set_link_default_route(uint32_t ifindex, bool on) = 0;
  // The record; nullopt when there is none.
  [[nodiscard]] virtual Result<std::optional<std::string>> read_record() = 0;
  [[nodiscard]] virtual Result<void> write_record(const std::string& json) = 0;
  [[nodiscard]] virtual Result<void> remove_record() = 0;
  [[nodiscard]] virtual std::string record_path() const = 0;
  // The boot unit: installed and enabled, or removed; whether it is.
  [[nodiscard]] virtual Result<void> install_unit(const std::string& text) = 0;
  [[nodiscard]] virtual Result<bool> remove_unit() = 0;
  [[nodiscard]] virtual bool unit_installed() const = 0;
  [[nodiscard]] virtual std::string unit_path() const = 0;
};

// The live machine. The record lives in $DNSLEAK_STATE_DIR or /run/dnsleak (gone at reboot, as
// the table and resolved's runtime settings are); the unit in $DNSLEAK_UNIT_DIR or
// /etc/systemd/system.
[[nodiscard]] std::unique_ptr<GuardSystem> live_guard_system();

}  // namespace dnsleak::host
