// Giving up privileges once the sockets are bound: dnsleakd needs root (or CAP_NET_BIND_SERVICE)
// only to bind ports under 1024, and must not face the internet with it.
//
// Three ways to start:
//   - as root with `user` set: after binding, switch to that user and group (supplementary groups
//     cleared); the kernel clears every capability as the last root uid goes;
//   - unprivileged with capabilities (systemd's AmbientCapabilities=CAP_NET_BIND_SERVICE): after
//     binding, every capability set is emptied;
//   - as root without `user`: root is kept, with a warning at start; `user = "root"` keeps it
//     as a stated choice (a note instead of the warning).
// Either way no_new_privs is set, so nothing executed later can gain privileges.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "net/error.h"

namespace dnsleak::server {

enum class PrivilegeAction : uint8_t {
  nothing,            // unprivileged, no capabilities: nothing to give up
  drop_capabilities,  // unprivileged with capabilities: empty the sets
  switch_user,        // root, a user configured: become it
  keep_root_warned,   // root, no user configured
  keep_root_chosen,   // root, user = "root"
};

// Pure: what to do, from who we are and what is configured.
[[nodiscard]] PrivilegeAction plan_privileges(uid_t euid, bool has_capabilities,
                                              const std::optional<std::string>& user);

struct PrivilegeReport {
  PrivilegeAction action = PrivilegeAction::nothing;
  std::string message;  // one line for the log, empty for `nothing`
};

// Carries the plan out. Fails (naming the call) if the user is unknown or a step is refused, and
// checks afterwards that root cannot be regained: a half-dropped process is a startup error.
[[nodiscard]] Result<PrivilegeReport> drop_privileges(const std::optional<std::string>& user);

}  // namespace dnsleak::server
