// The process's Linux capabilities: whether any are held, and giving them all up. Used by dnsleakd
// once its ports are bound and by dnsleak once its capture handles are open.
#pragma once

#include "net/error.h"

namespace dnsleak::net {

// True when any capability is effective, permitted or inheritable.
[[nodiscard]] Result<bool> holds_capabilities();
// Empties the ambient, effective, permitted and inheritable sets. The uid is not changed.
[[nodiscard]] Result<void> clear_capabilities();
// True when the effective set holds `capability` (CAP_NET_RAW, ...).
[[nodiscard]] bool has_effective_capability(int capability) noexcept;

}  // namespace dnsleak::net
