#include "cli/guard_command.h"

#include <linux/capability.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "cli/exit_codes.h"
#include "cli/host_commands.h"
#include "host/source.h"
#include "net/capabilities.h"

namespace dnsleak::cli {
namespace json = boost::json;
namespace {

GuardOutcome refused(int code, std::string error) {
  GuardOutcome o;
  o.code = code;
  o.error = std::move(error);
  o.json = json::object{{"error", o.error}};
  return o;
}

std::string no_privilege(const char* verb) {
  return concat(
      {"guard ", verb,
       " needs CAP_NET_ADMIN to change the firewall (run it with sudo); nothing was changed. `dnsleak guard on "
       "--dry-run` shows the rules without it."});
}

bool tunnel_open_to_any_resolver(const host::GuardPlan& plan) {
  return std::ranges::none_of(plan.allowed, [](const host::AllowedResolver& a) { return a.interface.empty(); });
}

// What an interface rule cannot do, said wherever the guard is shown.
constexpr const char* kTunnelCaveat =
    "Through the tunnel, DNS may go to any resolver: a rule on interfaces cannot stop a resolver outside the VPN "
    "reached through it (the ISP's resolver, routed into the tunnel). Name the VPN's resolvers with "
    "--allow-resolver ADDR and DNS goes to them alone.";

json::array rules_json(const host::GuardPlan& plan) {
  json::array out;
  for (const host::GuardRuleText& r : host::guard_rules(plan)) {
    out.push_back(json::object{{"id", r.id}, {"blocks", r.blocks}, {"words", r.words}});
  }
  return out;
}

std::string change_words(const host::ResolvedLinkChange& c) {
  if (c.set_domains) return concat({"systemd-resolved: every domain (~.) routed to ", c.name});
  return concat({"systemd-resolved: DefaultRoute off on ", c.name});
}

json::array changes_json(const std::vector<host::ResolvedLinkChange>& changes) {
  json::array out;
  for (const host::ResolvedLinkChange& c : changes) {
    out.push_back(json::object{{"link", c.name}, {"ifindex", c.ifindex}, {"change", change_words(c)}});
  }
  return out;
}

// The record, if any; `problem` says why one that is there cannot be used, `raw` holds its text.
std::optional<host::GuardRecord> read_record(host::GuardSystem& system, std::string& problem,
                                             std::string* raw = nullptr) {
  Result<std::optional<std::string>> text = system.read_record();
  if (!text) {
    problem = text.error().message;
    return std::nullopt;
  }
  const std::optional<std::string>& json = *text;
  if (!json) return std::nullopt;
  if (raw != nullptr) *raw = *json;
  Result<host::GuardRecord> record = host::parse_record(*json);
  if (!record) {
    problem = concat({system.record_path(), ": ", record.error().message});
    return std::nullopt;
  }
  return std::move(*record);
}

bool same_change(const host::ResolvedLinkChange& a, const host::ResolvedLinkChange& b) {
  return a.ifindex == b.ifindex && a.set_domains == b.set_domains;
}
bool holds(const std::vector<host::ResolvedLinkChange>& list, const host::ResolvedLinkChange& c) {
  return std::ranges::any_of(list, [&](const host::ResolvedLinkChange& x) { return same_change(x, c); });
}

// resolved's links as they were before any guard: what the snapshot reads, with what an earlier
// `on` changed put back from its record.
host::ResolvedState before_guard(const host::ResolvedState& now, const std::optional<host::GuardRecord>& earlier) {
  host::ResolvedState before = now;
  if (!earlier) return before;
  for (const host::ResolvedLinkChange& c : earlier->resolved) {
    for (host::ResolvedLink& l : before.links) {
      if (l.index != c.ifindex) continue;
      if (c.set_domains) l.domains = c.old_domains;
      if (c.set_default_route) l.default_route = c.old_default_route;
    }
  }
  return before;
}

Result<void> make_change(host::GuardSystem& system, const host::ResolvedLinkChange& c) {
  if (!c.set_domains) return system.set_link_default_route(c.ifindex, false);
  std::vector<host::ResolvedDomain> domains = c.old_domains;
  domains.push_back({c.ifindex, ".", true});
  return system.set_link_domains(c.ifindex, domains);
}

Result<void> undo_change(host::GuardSystem& system, const host::ResolvedLinkChange& c) {
  return c.set_domains ? system.set_link_domains(c.ifindex, c.old_domains)
                       : system.set_link_default_route(c.ifindex, c.old_default_route);
}

std::string plan_words(const host::GuardPlan& plan) {
  std::string out;
  for (const host::GuardRuleText& r : host::guard_rules(plan)) out += concat({"  - ", r.words, "\n"});
  return out;
}

}  // namespace

GuardOutcome guard_on(const GuardAction& action, GuardContext& context) {
  host::GuardPlan plan = action.plan;
  std::vector<std::string> notes;
  if (plan.tunnels.empty()) {
    for (const host::Link* t : context.snapshot.tunnels()) plan.tunnels.push_back(t->name);
    if (plan.tunnels.empty()) {
      return refused(
          kUsage,
          "guard on: no tunnel is up here (no tun, wireguard, ppp... link that is up), so there is nothing to "
          "hold DNS to; name it with --tunnel IF (it may come up later: rules match it by name)");
    }
  }
  for (const std::string& t : plan.tunnels) {
    if (!host::valid_interface_name(t)) {
      return refused(kUsage, concat({"guard on: the tunnel's name '", t,
                                     "' holds characters nft cannot be given safely; rename the link"}));
    }
    if (context.snapshot.link(t) == nullptr)
      notes.push_back(concat({t, " does not exist now: its rules apply once it does"}));
  }
  const std::string script = host::guard_script(plan);
  GuardOutcome out;
  if (action.dry_run) {
    // With the privilege, the kernel checks it too (nft -c): a dry run that would fail says so.
    bool checked = false;
    if (context.net_admin) {
      if (Result<void> ok = context.system.run_nft(script, true); !ok) {
        return refused(kServerError, concat({"guard on --dry-run: ", ok.error().message}));
      }
      checked = true;
    }
    out.text = script;
    out.json = json::object{{"dry_run", true},
                            {"checked_by_kernel", checked},
                            {"tunnels", json::value_from(plan.tunnels)},
                            {"script", script},
                            {"rules", rules_json(plan)}};
    return out;
  }
  if (!context.net_admin) return refused(kNoPrivilege, no_privilege("on"));

  std::string problem, earlier_text;
  const std::optional<host::GuardRecord> earlier = read_record(context.system, problem, &earlier_text);
  if (!problem.empty()) {
    // It may hold resolved's settings from before a guard: writing over it would lose them.
    return refused(kServerError,
                   concat({"guard on: the record of an earlier guard is unusable (", problem,
                           "); it may hold systemd-resolved's settings from before it. Look at it, remove it, and run "
                           "guard on again; nothing was changed"}));
  }
  Result<std::optional<std::string>> table = context.system.list_table();
  if (!table) return refused(table.error().system_errno == EPERM ? kNoPrivilege : kServerError, table.error().message);

  host::GuardRecord record;
  record.plan = plan;
  record.script = script;
  record.since_ms = context.now_ms;
  record.persist = action.persist || (earlier && earlier->persist);
  const bool same = earlier && earlier->script == script && table->has_value();
  if (same) record.since_ms = earlier->since_ms;

  // resolved: the changes this plan wants, worked out from the links as they were before any guard,
  // against those an earlier `on` made: what to make, what to undo, what to keep.
  std::vector<host::ResolvedLinkChange> wanted = earlier ? earlier->resolved : std::vector<host::ResolvedLinkChange>{};
  std::vector<host::ResolvedLinkChange> to_make, to_undo;
  if (!action.no_resolved && context.snapshot.resolved_running) {
    std::vector<std::pair<uint32_t, std::string>> names;
    names.reserve(context.snapshot.links.size());
    for (const host::Link& l : context.snapshot.links) names.emplace_back(l.index, l.name);
    std::vector<uint32_t> tunnel_indices;
    for (const std::string& t : plan.tunnels) {
      if (const host::Link* l = context.snapshot.link(t)) tunnel_indices.push_back(l->index);
    }
    wanted.clear();
    if (!tunnel_indices.empty()) {
      const host::ResolvedState before = before_guard(context.snapshot.resolved, earlier);
      wanted = host::resolved_changes(before, tunnel_indices, names);
      const bool servers = std::ranges::any_of(before.links, [&](const host::ResolvedLink& l) {
        return l.index == tunnel_indices.front() && !l.servers.empty();
      });
      if (!servers) {
        const std::string& tunnel = context.snapshot.link(tunnel_indices.front())->name;
        const std::string why = ", so its links were left as they are (every name sent there would go nowhere); ";
        notes.push_back(concat({"systemd-resolved knows no DNS server on ", tunnel, why,
                                "give it the VPN's: `sudo resolvectl dns ", tunnel, " ADDR`, then guard on again"}));
      }
    }
    for (const host::ResolvedLinkChange& c : wanted) {
      if (!earlier || !holds(earlier->resolved, c)) to_make.push_back(c);
    }
    if (earlier) {
      for (const host::ResolvedLinkChange& c : earlier->resolved) {
        if (!holds(wanted, c)) to_undo.push_back(c);
      }
    }
  }
  // The record first, with every change that may be in place once this is done or cut short:
  // whatever happens next, `off` knows what to undo.
  record.resolved = wanted;
  record.resolved.insert(record.resolved.end(), to_undo.begin(), to_undo.end());
  if (Result<void> w = context.system.write_record(host::record_json(record)); !w) {
    return refused(kServerError, concat({"guard on: ", w.error().message, "; nothing was changed"}));
  }
  if (!same) {
    if (Result<void> applied = context.system.run_nft(script, false); !applied) {
      // Nothing of this plan is in place: the record goes back to what was.
      const Result<void> back = earlier ? context.system.write_record(earlier_text) : context.system.remove_record();
      return refused(applied.error().system_errno == EPERM ? kNoPrivilege : kServerError,
                     concat({"guard on: ", applied.error().message, "; the firewall is as it was",
                             back ? "" : concat({", but the record could not be put back: ", back.error().message})}));
    }
  }
  std::vector<std::string> made, failed;
  std::vector<host::ResolvedLinkChange> in_place;  // for the final record
  for (const host::ResolvedLinkChange& c : wanted) {
    if (!holds(to_make, c)) in_place.push_back(c);  // kept from the earlier `on`
  }
  for (const host::ResolvedLinkChange& c : to_make) {
    if (Result<void> r = make_change(context.system, c); r) {
      made.push_back(change_words(c));
      in_place.push_back(c);
    } else {
      failed.push_back(concat({"cannot make ", change_words(c), ": ", r.error().message}));
    }
  }
  std::vector<std::string> put_back;
  for (const host::ResolvedLinkChange& c : to_undo) {
    if (Result<void> r = undo_change(context.system, c); r) {
      put_back.push_back(change_words(c));
    } else {
      failed.push_back(concat({"cannot put back ", change_words(c), ": ", r.error().message}));
      in_place.push_back(c);
    }
  }
  if (in_place.size() != record.resolved.size()) {
    record.resolved = in_place;
    if (Result<void> w = context.system.write_record(host::record_json(record)); !w)
      failed.push_back(w.error().message);
  }
  // The boot unit follows the plan: asked for, or already there (it would apply the old one).
  const bool unit_was = context.system.unit_installed();
  bool unit = false;
  if (action.persist || (unit_was && !same)) {
    if (Result<void> installed = context.system.install_unit(host::guard_unit(context.dnsleak_path, plan));
        !installed) {
      failed.push_back(concat({"the boot unit: ", installed.error().message}));
    } else {
      unit = true;
    }
  }
  const bool changed = !same || !made.empty() || !put_back.empty() || (unit && !unit_was);

  const bool open = tunnel_open_to_any_resolver(plan);
  out.code = failed.empty() ? kNoLeak : kServerError;
  std::string text =
      !changed ? "dnsleak guard was already on as asked: nothing changed.\n"
               : concat({"dnsleak guard is on: DNS leaves only through ", plan.tunnels.front(),
                         plan.tunnels.size() > 1 ? " and the other tunnels" : "", " (table inet dnsleak).\n"});
  text += plan_words(plan);
  for (const std::string& m : made) text += concat({"Changed: ", m, " (guard off puts it back).\n"});
  for (const std::string& m : put_back) text += concat({"Put back (this plan does not need it): ", m, ".\n"});
  if (unit) {
    text += concat({unit_was ? "Updated " : "Installed ", context.system.unit_path(),
                    ": the table is applied at boot, before the network.\n"});
  }
  for (const std::string& n : notes) text += concat({"Note: ", n, ".\n"});
  if (open) text += concat({"Note: ", kTunnelCaveat, "\n"});
  text += "Undo: sudo dnsleak guard off\n";
  out.text = std::move(text);
  for (const std::string& f : failed) out.error += concat({"dnsleak: guard on: ", f, "\n"});
  out.json = json::object{{"on", true},
                          {"changed", changed},
                          {"tunnels", json::value_from(plan.tunnels)},
                          {"rules", rules_json(plan)},
                          {"resolved_changes", changes_json(to_make)},
                          {"resolved_put_back", changes_json(to_undo)},
                          {"failed", json::value_from(failed)},
                          {"notes", json::value_from(notes)},
                          {"persist", unit || context.system.unit_installed()},
                          {"tunnel_open_to_any_resolver", open},
                          {"record", context.system.record_path()}};
  return out;
}

GuardOutcome guard_off(const GuardAction& action, GuardContext& context) {
  if (!context.net_admin) return refused(kNoPrivilege, no_privilege("off"));
  std::string problem;
  std::optional<host::GuardRecord> record = read_record(context.system, problem);
  Result<std::optional<std::string>> table = context.system.list_table();
  if (!table) return refused(table.error().system_errno == EPERM ? kNoPrivilege : kServerError, table.error().message);
  std::vector<std::string> undone, failed, notes;
  if (table->has_value()) {
    // Created if missing and deleted, in one transaction: never an error for a table gone meanwhile.
    if (Result<void> r = context.system.run_nft("table inet dnsleak\ndelete table inet dnsleak\n", false); !r) {
      return refused(kServerError, concat({"guard off: ", r.error().message, "; nothing was changed"}));
    }
    undone.emplace_back("removed the table inet dnsleak");
  }
  if (record) {
    // Each link put back by its index, if it is still the link `on` changed; what cannot be put
    // back stays in the record for the next `off`.
    std::vector<host::ResolvedLinkChange> left;
    const bool links_known = !context.snapshot.links.empty();
    for (const host::ResolvedLinkChange& c : record->resolved) {
      const host::Link* now = context.snapshot.link(c.ifindex);
      if (links_known && now == nullptr) {
        notes.push_back(concat({c.name, " is gone, and resolved's settings for it with it"}));
        continue;
      }
      if (links_known && !c.name.empty() && now->name != c.name) {
        notes.push_back(
            concat({"link ", std::to_string(c.ifindex), " is now ", now->name, ", not ", c.name, ": left as it is"}));
        continue;
      }
      if (Result<void> r = undo_change(context.system, c); r) {
        undone.push_back(concat({"put back: ", change_words(c)}));
      } else {
        failed.push_back(concat({"cannot put back ", change_words(c), ": ", r.error().message}));
        left.push_back(c);
      }
    }
    if (left.empty()) {
      if (Result<void> r = context.system.remove_record(); !r) failed.push_back(r.error().message);
    } else {
      record->resolved = std::move(left);
      if (Result<void> w = context.system.write_record(host::record_json(*record)); !w) {
        failed.push_back(w.error().message);
      } else {
        notes.push_back(concat(
            {"what could not be put back stays in ", context.system.record_path(), "; guard off tries it again"}));
      }
    }
  } else if (!problem.empty()) {
    // A record we cannot read: resolved's links could not be put back. Left for a person to look at.
    failed.push_back(concat({"the record of what guard on changed is unusable (", problem,
                             "): resolved's links were not put back; `resolvectl revert LINK` resets one"}));
  }
  bool unit_removed = false;
  if (action.persist) {
    Result<bool> removed = context.system.remove_unit();
    if (!removed) {
      failed.push_back(removed.error().message);
    } else if (*removed) {
      unit_removed = true;
      undone.push_back(concat({"removed the boot unit ", context.system.unit_path()}));
    }
  }
  GuardOutcome out;
  out.code = failed.empty() ? kNoLeak : kServerError;
  std::string text = undone.empty() ? "dnsleak guard was not on: nothing to undo.\n" : "dnsleak guard is off.\n";
  for (const std::string& u : undone) text += concat({"  - ", u, "\n"});
  for (const std::string& n : notes) text += concat({"Note: ", n, ".\n"});
  const bool unit_left = !unit_removed && context.system.unit_installed();
  if (unit_left) {
    text += concat({"Note: the boot unit ", context.system.unit_path(),
                    " stays, so the guard comes back at boot; `sudo dnsleak guard off --persist` removes it.\n"});
  }
  out.text = std::move(text);
  for (const std::string& f : failed) out.error += concat({"dnsleak: guard off: ", f, "\n"});
  out.json = json::object{{"on", false},
                          {"undone", json::value_from(undone)},
                          {"failed", json::value_from(failed)},
                          {"notes", json::value_from(notes)},
                          {"persist", unit_left}};
  return out;
}

GuardOutcome guard_status(const GuardAction& /*action*/, GuardContext& context) {
  if (!context.net_admin) {
    return refused(kNoPrivilege,
                   "guard status needs CAP_NET_ADMIN to read the firewall's counters (run it with sudo); `dnsleak "
                   "inspect` says without it whether DNS is stopped outside the tunnel, as far as it can read");
  }
  std::string problem;
  const std::optional<host::GuardRecord> record = read_record(context.system, problem);
  Result<std::optional<std::string>> table = context.system.list_table();
  if (!table) return refused(table.error().system_errno == EPERM ? kNoPrivilege : kServerError, table.error().message);
  GuardOutcome out;
  const bool unit = context.system.unit_installed();
  const std::optional<std::string>& listed = *table;
  if (!listed) {
    out.code = kLeak;
    std::string text =
        "dnsleak guard is off: nothing stops DNS leaving outside the tunnel (as far as dnsleak's own "
        "rules go; `dnsleak inspect` reads the rest of the firewall).\n";
    if (record) {
      text +=
          "Note: its table is gone (an `nft flush ruleset`, a firewall reload?) but its record is here: `sudo "
          "dnsleak guard on` applies it again, `sudo dnsleak guard off` puts back what else it changed.\n";
    }
    if (unit)
      text += concat({"The boot unit ", context.system.unit_path(), " is installed: the guard is applied at boot.\n"});
    out.text = std::move(text);
    out.json = json::object{{"on", false}, {"persist", unit}, {"stale_record", record.has_value()}};
    return out;
  }
  Result<std::vector<host::GuardRuleCount>> counts = host::parse_guard_table(*listed);
  if (!counts) return refused(kServerError, counts.error().message);
  // Per rule: its words (from the record's plan) and what it matched, here and forwarded.
  const host::GuardPlan plan = record ? record->plan : host::GuardPlan{};
  std::map<std::string, std::pair<uint64_t, uint64_t>> matched;  // id -> (output, forward)
  for (const host::GuardRuleCount& c : *counts) {
    auto& m = matched[c.id];
    (c.chain == "forward" ? m.second : m.first) += c.packets;
  }
  std::string text =
      record
          ? concat({"dnsleak guard is on: DNS leaves only through ", plan.tunnels.empty() ? "?" : plan.tunnels.front(),
                    plan.tunnels.size() > 1 ? " and the other tunnels" : "", ".\n"})
          : "dnsleak guard's table is in place, but its record is missing: the rules below are read "
            "from the kernel.\n";
  json::array rules;
  std::vector<std::string> seen_ids;
  auto add_rule = [&](const std::string& id, const std::string& words, bool blocks) {
    if (std::ranges::find(seen_ids, id) != seen_ids.end()) return;
    seen_ids.push_back(id);
    const auto [here, forwarded] = matched.contains(id) ? matched[id] : std::pair<uint64_t, uint64_t>{0, 0};
    std::string count = concat({std::to_string(here), " packets"});
    if (forwarded > 0) count += concat({" (and ", std::to_string(forwarded), " forwarded)"});
    text +=
        concat({"  - ", words, blocks ? concat({" Blocked: ", count, "."}) : concat({" Matched: ", count, "."}), "\n"});
    rules.push_back(json::object{
        {"id", id}, {"words", words}, {"blocks", blocks}, {"packets", here}, {"forwarded_packets", forwarded}});
  };
  if (record) {
    for (const host::GuardRuleText& r : host::guard_rules(plan)) add_rule(r.id, r.words, r.blocks);
  }
  for (const host::GuardRuleCount& c : *counts) add_rule(c.id, c.id, false);  // what the record does not name
  const bool open = !record || tunnel_open_to_any_resolver(plan);
  if (record && !record->resolved.empty()) {
    for (const host::ResolvedLinkChange& c : record->resolved) text += concat({"Changed: ", change_words(c), ".\n"});
  }
  if (unit) text += concat({"The boot unit ", context.system.unit_path(), " applies it at boot.\n"});
  if (open) text += concat({"Note: ", kTunnelCaveat, "\n"});
  if (!problem.empty()) text += concat({"Note: ", problem, "\n"});
  out.text = std::move(text);
  out.json = json::object{
      {"on", true},
      {"tunnels", json::value_from(plan.tunnels)},
      {"rules", rules},
      {"resolved_changes", changes_json(record ? record->resolved : std::vector<host::ResolvedLinkChange>{})},
      {"persist", unit},
      {"tunnel_open_to_any_resolver", open},
      {"since_ms", record ? record->since_ms : 0}};
  if (open) out.json["caveat"] = kTunnelCaveat;
  return out;
}

int run_guard(const GuardAction& action) {
  const std::unique_ptr<host::GuardSystem> system = host::live_guard_system();
  const std::unique_ptr<host::HostSource> source = host::live_host();
  // on: the tunnels and resolved's links; off: which links still are those `on` changed.
  const host::Snapshot snapshot =
      action.verb == GuardAction::Verb::status ? host::Snapshot{} : host::take_snapshot(*source);
  std::error_code ec;  // without /proc: the unit names plain `dnsleak`, found on PATH
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (self.empty()) self = "dnsleak";
  GuardContext context{
      *system, snapshot, net::has_effective_capability(CAP_NET_ADMIN), self,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count()};
  GuardOutcome out;
  switch (action.verb) {
    case GuardAction::Verb::on: out = guard_on(action, context); break;
    case GuardAction::Verb::off: out = guard_off(action, context); break;
    case GuardAction::Verb::status: out = guard_status(action, context); break;
  }
  if (action.output == OutputMode::json) {
    std::printf("%s\n", json::serialize(out.json).c_str());
  } else if (action.output == OutputMode::table) {
    std::fputs(out.text.c_str(), stdout);
  }
  if (!out.error.empty()) {
    std::fputs(out.error.starts_with("dnsleak: ") ? out.error.c_str() : concat({"dnsleak: ", out.error, "\n"}).c_str(),
               stderr);
  }
  return out.code;
}

}  // namespace dnsleak::cli
