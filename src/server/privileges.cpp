#include "server/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <vector>

#include "net/capabilities.h"

namespace dnsleak::server {

PrivilegeAction plan_privileges(uid_t euid, bool has_capabilities, const std::optional<std::string>& user) {
  if (euid == 0) {
    if (!user) return PrivilegeAction::keep_root_warned;
    if (*user == "root") return PrivilegeAction::keep_root_chosen;
    return PrivilegeAction::switch_user;
  }
  return has_capabilities ? PrivilegeAction::drop_capabilities : PrivilegeAction::nothing;
}

Result<PrivilegeReport> drop_privileges(const std::optional<std::string>& user) {
  Result<bool> caps = net::holds_capabilities();
  if (!caps) return fail(std::move(caps.error()));
  PrivilegeReport report;
  report.action = plan_privileges(::geteuid(), *caps, user);
  switch (report.action) {
    case PrivilegeAction::nothing:
      if (user && ::getpwnam(user->c_str()) == nullptr) return fail("user: no such user '" + *user + "'");
      break;
    case PrivilegeAction::keep_root_warned:
      report.message =
          "warning: running as root for the whole life of the process; set user = \"dnsleak\" (--user) to drop to an "
          "unprivileged user once the ports are bound, or user = \"root\" to keep root knowingly";
      break;
    case PrivilegeAction::keep_root_chosen: report.message = "staying root, as configured (user = \"root\")"; break;
    case PrivilegeAction::drop_capabilities: {
      if (Result<void> cleared = net::clear_capabilities(); !cleared) return fail(std::move(cleared.error()));
      report.message = "capabilities dropped after binding (running as uid " + std::to_string(::getuid()) + ")";
      break;
    }
    case PrivilegeAction::switch_user: {
      const std::string name = user.value_or("");  // switch_user is planned only with a user
      std::vector<char> buffer(16384);
      passwd entry{};
      passwd* found = nullptr;
      const int e = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
      if (e != 0 || found == nullptr) {
        return fail("user: no such user '" + name + "' (create it, e.g. adduser --system --group " + name + ")");
      }
      if (found->pw_uid == 0) return fail("user: '" + name + "' has uid 0; use user = \"root\" to stay root");
      const gid_t gid = found->pw_gid;
      const uid_t uid = found->pw_uid;
      if (::setgroups(1, &gid) != 0) return fail(system_error("cannot set the supplementary groups (setgroups)"));
      if (::setresgid(gid, gid, gid) != 0) return fail(system_error("cannot change group (setresgid)"));
      if (::setresuid(uid, uid, uid) != 0) return fail(system_error("cannot change user (setresuid)"));
      // The way back must be closed; a kernel or a security module that kept it open is an error.
      if (::setuid(0) == 0 || ::seteuid(0) == 0) return fail("user: root could be regained after switching users");
      if (Result<void> cleared = net::clear_capabilities(); !cleared) return fail(std::move(cleared.error()));
      report.message = "running as " + name + " (uid " + std::to_string(uid) + ", gid " + std::to_string(gid) +
                       ") with no capabilities";
      break;
    }
  }
  if (report.action == PrivilegeAction::drop_capabilities || report.action == PrivilegeAction::switch_user) {
    Result<bool> after = net::holds_capabilities();
    if (!after) return fail(std::move(after.error()));
    if (*after) return fail("capabilities are still held after dropping them");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(system_error("cannot set no_new_privs (prctl)"));
  }
  return report;
}

}  // namespace dnsleak::server
