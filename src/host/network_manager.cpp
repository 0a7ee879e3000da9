#include "host/network_manager.h"

#include <systemd/sd-bus.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>

#include "host/dbus.h"
#include "host/json_text.h"

namespace dnsleak::host {
namespace json = boost::json;
namespace {

constexpr const char* kService = "org.freedesktop.NetworkManager";
constexpr const char* kPath = "/org/freedesktop/NetworkManager/DnsManager";
constexpr const char* kInterface = "org.freedesktop.NetworkManager.DnsManager";

// An `as` value, entered from its variant.
Result<json::array> strings(sd_bus_message* m) {
  json::array out;
  if (sd_bus_message_enter_container(m, 'a', "s") < 0) return fail("not a list of strings");
  const char* s = nullptr;
  int r = 0;
  while ((r = sd_bus_message_read(m, "s", &s)) > 0) out.push_back(json::value(s != nullptr ? s : ""));
  if (r < 0) return fail("a list of strings that cannot be read");
  (void)sd_bus_message_exit_container(m);
  return out;
}

// One entry of Configuration (a{sv}): the keys dnsleak uses, the others skipped.
Result<json::object> entry(sd_bus_message* m) {
  json::object out;
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* key = nullptr;
    if (sd_bus_message_read(m, "s", &key) < 0 || key == nullptr) return fail("a key that cannot be read");
    const std::string k = key;
    const char* contents = nullptr;
    if (sd_bus_message_peek_type(m, nullptr, &contents) < 0 || contents == nullptr) return fail("an unreadable value");
    const std::string type = contents;
    if ((k == "nameservers" || k == "domains") && type == "as") {
      if (sd_bus_message_enter_container(m, 'v', "as") <= 0) return fail(k + ": unreadable");
      Result<json::array> list = strings(m);
      if (!list) return fail(std::move(list.error()).within(k));
      out[k] = std::move(*list);
      (void)sd_bus_message_exit_container(m);
    } else if (k == "interface" && type == "s") {
      const char* s = nullptr;
      if (sd_bus_message_read(m, "v", "s", &s) < 0) return fail("interface: unreadable");
      out[k] = s != nullptr ? s : "";
    } else if (k == "priority" && type == "i") {
      int32_t p = 0;
      if (sd_bus_message_read(m, "v", "i", &p) < 0) return fail("priority: unreadable");
      out[k] = p;
    } else if (k == "vpn" && type == "b") {
      int b = 0;
      if (sd_bus_message_read(m, "v", "b", &b) < 0) return fail("vpn: unreadable");
      out[k] = b != 0;
    } else if (sd_bus_message_skip(m, "v") < 0) {
      return fail(k + ": cannot be skipped");
    }
    (void)sd_bus_message_exit_container(m);
  }
  return out;
}

}  // namespace

Result<NetworkManagerDns> parse_network_manager(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail("NetworkManager's DNS state is not a JSON object");
  const json::object& o = v.as_object();
  NetworkManagerDns nm{json_text(o, "mode"), json_text(o, "rc_manager"), {}};
  const json::value* list = o.if_contains("configuration");
  if (list == nullptr) return nm;
  if (!list->is_array()) return fail("'configuration' is not a list");
  for (const json::value& e : list->as_array()) {
    if (!e.is_object()) return fail("a configuration entry is not an object");
    const json::object& eo = e.as_object();
    NmDnsEntry entry;
    entry.interface = json_text(eo, "interface");
    if (const json::value* p = eo.if_contains("priority"); p && p->is_int64()) {
      entry.priority = static_cast<int32_t>(p->as_int64());
    }
    const json::value* vpn = eo.if_contains("vpn");
    entry.vpn = vpn != nullptr && vpn->is_bool() && vpn->as_bool();
    if (const json::value* ns = eo.if_contains("nameservers"); ns != nullptr) {
      if (!ns->is_array()) return fail("'nameservers' is not a list");
      for (const json::value& a : ns->as_array()) {
        const Result<net::IpAddress> address = a.is_string() ? net::parse_ip(a.as_string()) : fail("not text");
        if (!address) return fail("a nameserver that is not an IP address");
        entry.nameservers.push_back(*address);
      }
    }
    if (const json::value* ds = eo.if_contains("domains"); ds != nullptr && ds->is_array()) {
      for (const json::value& d : ds->as_array()) {
        if (d.is_string()) entry.domains.emplace_back(d.as_string());
      }
    }
    nm.configuration.push_back(std::move(entry));
  }
  return nm;
}

Result<std::string> read_network_manager_json() {
  Result<SystemBus> bus = SystemBus::open();
  if (!bus || !bus->has_owner(kService)) {
    Error e{"NetworkManager is not running", ENOENT};
    return fail(std::move(e));
  }
  auto within = [](Error e) { return fail(std::move(e).within("NetworkManager")); };
  json::object out;
  for (const auto& [key, name] : {std::pair{"mode", "Mode"}, std::pair{"rc_manager", "RcManager"}}) {
    Result<std::string> value = bus->string_property(kService, kPath, kInterface, name);
    if (!value) return within(std::move(value.error()));
    out[key] = *value;
  }
  Result<BusMessage> m = bus->property(kService, kPath, kInterface, "Configuration", "aa{sv}");
  if (!m) return within(std::move(m.error()));
  json::array configuration;
  if (sd_bus_message_enter_container(m->get(), 'a', "a{sv}") < 0) return within(Error{"Configuration: not a list", 0});
  while (sd_bus_message_enter_container(m->get(), 'a', "{sv}") > 0) {
    Result<json::object> e = entry(m->get());
    if (!e) return within(std::move(e.error()).within("Configuration"));
    configuration.push_back(std::move(*e));
    (void)sd_bus_message_exit_container(m->get());
  }
  out["configuration"] = std::move(configuration);
  return json::serialize(out);
}

}  // namespace dnsleak::host
