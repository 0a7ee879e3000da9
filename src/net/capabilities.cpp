#include "net/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace dnsleak::net {
namespace {

using CapabilityData = std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3>;

Result<CapabilityData> get_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  CapabilityData data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) return fail(system_error("capget"));
  return data;
}

}  // namespace

Result<bool> holds_capabilities() {
  Result<CapabilityData> caps = get_capabilities();
  if (!caps) return fail(std::move(caps.error()));
  for (const auto& d : *caps) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return true;
  }
  return false;
}

Result<void> clear_capabilities() {
  // Ambient ones first (they need the inheritable and permitted bits still present to be listed).
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return fail(system_error("cannot clear the ambient capabilities (prctl)"));
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  CapabilityData none{};
  if (::syscall(SYS_capset, &header, none.data()) != 0) return fail(system_error("cannot drop capabilities (capset)"));
  return {};
}

bool has_effective_capability(int capability) noexcept {
  const Result<CapabilityData> caps = get_capabilities();
  if (!caps || capability < 0 || capability >= 64) return false;
  const auto word = static_cast<size_t>(capability / 32);
  return ((*caps)[word].effective & (1U << (capability % 32))) != 0;
}

}  // namespace dnsleak::net
