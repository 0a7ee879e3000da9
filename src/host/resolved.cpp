#include "host/resolved.h"

#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "host/dbus.h"
#include "host/json_text.h"

namespace dnsleak::host {
namespace json = boost::json;
namespace {

constexpr const char* kService = "org.freedesktop.resolve1";
constexpr const char* kPath = "/org/freedesktop/resolve1";
constexpr const char* kManager = "org.freedesktop.resolve1.Manager";
constexpr const char* kLink = "org.freedesktop.resolve1.Link";

Result<uint32_t> index_of(const json::object& o) {
  const json::value* v = o.if_contains("ifindex");
  if (v == nullptr || !v->is_int64() || v->as_int64() < 0 || v->as_int64() > UINT32_MAX) {
    return fail("a server or domain without a valid ifindex");
  }
  return static_cast<uint32_t>(v->as_int64());
}

Result<std::vector<ResolvedServer>> servers_of(const json::object& o, const char* key) {
  std::vector<ResolvedServer> out;
  const json::value* list = o.if_contains(key);
  if (list == nullptr) return out;
  if (!list->is_array()) return fail(concat({"'", key, "' is not a list"}));
  for (const json::value& s : list->as_array()) {
    if (!s.is_object()) return fail(concat({"an entry of '", key, "' is not an object"}));
    Result<uint32_t> link = index_of(s.as_object());
    if (!link) return fail(std::move(link.error()));
    const Result<net::IpAddress> address = net::parse_ip(json_text(s.as_object(), "address"));
    if (!address) return fail(concat({"an entry of '", key, "' has no valid address"}));
    out.push_back({*link, *address});
  }
  return out;
}

Result<std::vector<ResolvedDomain>> domains_of(const json::object& o, uint32_t link) {
  std::vector<ResolvedDomain> out;
  const json::value* list = o.if_contains("domains");
  if (list == nullptr) return out;
  if (!list->is_array()) return fail("'domains' is not a list");
  for (const json::value& d : list->as_array()) {
    if (!d.is_object()) return fail("a domain is not an object");
    const json::value* routing = d.as_object().if_contains("routing_only");
    ResolvedDomain domain{link, json_text(d.as_object(), "domain"),
                          routing != nullptr && routing->is_bool() && routing->as_bool()};
    if (link == 0) {
      Result<uint32_t> l = index_of(d.as_object());
      if (!l) return fail(std::move(l.error()));
      domain.link = *l;
    }
    out.push_back(std::move(domain));
  }
  return out;
}

// --- the live reader ------------------------------------------------------------------------------

// (i)ay and (ii)ay entries: an address of the family given, as text.
Result<std::string> read_address(sd_bus_message* m) {
  int32_t family = 0;
  if (sd_bus_message_read(m, "i", &family) < 0) return fail("an address without its family");
  const void* data = nullptr;
  size_t size = 0;
  if (sd_bus_message_read_array(m, 'y', &data, &size) < 0) return fail("an address without its octets");
  net::IpAddress a;
  a.family = family == AF_INET6 ? 6 : 4;
  if (size != a.octets()) return fail("an address of " + std::to_string(size) + " octets");
  std::memcpy(a.bytes.data(), data, size);
  return a.to_string();
}

// a(iiay): servers with their link.
Result<json::array> server_list(const SystemBus& bus, const char* name) {
  Result<BusMessage> m = bus.property(kService, kPath, kManager, name, "a(iiay)");
  if (!m) return fail(std::move(m.error()));
  json::array out;
  if (sd_bus_message_enter_container(m->get(), 'a', "(iiay)") < 0) return fail(concat({name, ": not a list"}));
  while (sd_bus_message_enter_container(m->get(), 'r', "iiay") > 0) {
    int32_t ifindex = 0;
    if (sd_bus_message_read(m->get(), "i", &ifindex) < 0) return fail(concat({name, ": an entry without its link"}));
    Result<std::string> address = read_address(m->get());
    if (!address) return fail(std::move(address.error()).within(name));
    out.push_back(json::object{{"ifindex", ifindex}, {"address", *address}});
    (void)sd_bus_message_exit_container(m->get());
  }
  return out;
}

Result<json::object> link_state(const SystemBus& bus, uint32_t index) {
  Result<BusMessage> got = bus.call(kService, kPath, kManager, "GetLink", "i", static_cast<int>(index));
  if (!got) return fail(std::move(got.error()));
  const char* path_text = nullptr;
  if (sd_bus_message_read(got->get(), "o", &path_text) < 0 || path_text == nullptr) {
    return fail("GetLink: no object path");
  }
  const std::string path = path_text;
  json::object link{{"ifindex", index}};
  for (const auto& [key, name] :
       {std::pair{"llmnr", "LLMNR"}, std::pair{"mdns", "MulticastDNS"}, std::pair{"dns_over_tls", "DNSOverTLS"}}) {
    Result<std::string> value = bus.string_property(kService, path.c_str(), kLink, name);
    if (!value) return fail(std::move(value.error()));
    link[key] = *value;
  }
  {
    Result<BusMessage> p = bus.property(kService, path.c_str(), kLink, "DefaultRoute", "b");
    if (!p) return fail(std::move(p.error()));
    int value = 0;
    if (sd_bus_message_read(p->get(), "b", &value) < 0) return fail("DefaultRoute: unreadable");
    link["default_route"] = value != 0;
  }
  {
    Result<BusMessage> p = bus.property(kService, path.c_str(), kLink, "DNS", "a(iay)");
    if (!p) return fail(std::move(p.error()));
    json::array servers;
    if (sd_bus_message_enter_container(p->get(), 'a', "(iay)") < 0) return fail("a link's DNS: not a list");
    while (sd_bus_message_enter_container(p->get(), 'r', "iay") > 0) {
      Result<std::string> address = read_address(p->get());
      if (!address) return fail(std::move(address.error()).within("a link's DNS"));
      servers.push_back(json::object{{"ifindex", index}, {"address", *address}});
      (void)sd_bus_message_exit_container(p->get());
    }
    link["dns"] = std::move(servers);
  }
  {
    Result<BusMessage> p = bus.property(kService, path.c_str(), kLink, "Domains", "a(sb)");
    if (!p) return fail(std::move(p.error()));
    json::array domains;
    if (sd_bus_message_enter_container(p->get(), 'a', "(sb)") < 0) return fail("a link's Domains: not a list");
    const char* domain = nullptr;
    int routing = 0;
    int r = 0;
    while ((r = sd_bus_message_read(p->get(), "(sb)", &domain, &routing)) > 0) {
      domains.push_back(json::object{{"domain", domain != nullptr ? domain : ""}, {"routing_only", routing != 0}});
    }
    if (r < 0) return fail("a link's Domains: unreadable");
    link["domains"] = std::move(domains);
  }
  return link;
}

}  // namespace

Result<ResolvedState> parse_resolved(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return fail("the systemd-resolved state is not a JSON object");
  const json::object& o = v.as_object();
  ResolvedState s;
  s.resolv_conf_mode = json_text(o, "resolv_conf_mode");
  s.dns_over_tls = json_text(o, "dns_over_tls");
  s.llmnr = json_text(o, "llmnr");
  s.mdns = json_text(o, "mdns");
  Result<std::vector<ResolvedServer>> servers = servers_of(o, "dns");
  if (!servers) return fail(std::move(servers.error()));
  s.servers = std::move(*servers);
  Result<std::vector<ResolvedServer>> fallback = servers_of(o, "fallback_dns");
  if (!fallback) return fail(std::move(fallback.error()));
  s.fallback = std::move(*fallback);
  if (const json::value* current = o.if_contains("current_dns"); current != nullptr && current->is_object()) {
    json::object wrapped{{"list", json::array{*current}}};
    Result<std::vector<ResolvedServer>> one = servers_of(wrapped, "list");
    if (!one) return fail(std::move(one.error()));
    s.has_current = true;
    s.current = one->front();
  }
  if (const json::value* links = o.if_contains("links"); links != nullptr) {
    if (!links->is_array()) return fail("'links' is not a list");
    for (const json::value& l : links->as_array()) {
      if (!l.is_object()) return fail("a link is not an object");
      const json::object& lo = l.as_object();
      Result<uint32_t> index = index_of(lo);
      if (!index) return fail(std::move(index.error()));
      ResolvedLink link;
      link.index = *index;
      const json::value* dr = lo.if_contains("default_route");
      link.default_route = dr != nullptr && dr->is_bool() && dr->as_bool();
      link.llmnr = json_text(lo, "llmnr");
      link.mdns = json_text(lo, "mdns");
      link.dns_over_tls = json_text(lo, "dns_over_tls");
      Result<std::vector<ResolvedServer>> ls = servers_of(lo, "dns");
      if (!ls) return fail(std::move(ls.error()));
      for (const ResolvedServer& server : *ls) link.servers.push_back(server.address);
      Result<std::vector<ResolvedDomain>> ld = domains_of(lo, link.index);
      if (!ld) return fail(std::move(ld.error()));
      link.domains = std::move(*ld);
      s.links.push_back(std::move(link));
    }
  }
  return s;
}

Result<std::string> read_resolved_json(const std::vector<uint32_t>& links) {
  Result<SystemBus> bus = SystemBus::open();
  if (!bus) {
    Error e{concat({"systemd-resolved is not running (", bus.error().message, ")"}), ENOENT};
    return fail(std::move(e));
  }
  // Not running: nobody owns the name (and activation is not asked for).
  if (!bus->has_owner(kService)) {
    Error e{"systemd-resolved is not running", ENOENT};
    return fail(std::move(e));
  }
  auto within = [](Error e) { return fail(std::move(e).within("systemd-resolved")); };
  json::object out;
  for (const auto& [key, name] :
       {std::pair{"resolv_conf_mode", "ResolvConfMode"}, std::pair{"dns_over_tls", "DNSOverTLS"},
        std::pair{"llmnr", "LLMNR"}, std::pair{"mdns", "MulticastDNS"}}) {
    Result<std::string> value = bus->string_property(kService, kPath, kManager, name);
    if (!value) return within(std::move(value.error()));
    out[key] = *value;
  }
  for (const auto& [key, name] : {std::pair{"dns", "DNS"}, std::pair{"fallback_dns", "FallbackDNS"}}) {
    Result<json::array> list = server_list(*bus, name);
    if (!list) return within(std::move(list.error()));
    out[key] = std::move(*list);
  }
  {
    Result<BusMessage> m = bus->property(kService, kPath, kManager, "CurrentDNSServer", "(iiay)");
    if (!m) return within(std::move(m.error()));
    int32_t ifindex = 0;
    out["current_dns"] = nullptr;
    if (sd_bus_message_enter_container(m->get(), 'r', "iiay") > 0 &&
        sd_bus_message_read(m->get(), "i", &ifindex) >= 0) {
      // No current server comes as family 0 with no octets.
      if (Result<std::string> address = read_address(m->get()); address) {
        out["current_dns"] = json::object{{"ifindex", ifindex}, {"address", *address}};
      }
    }
  }
  json::array link_list;
  for (const uint32_t index : links) {
    Result<json::object> link = link_state(*bus, index);
    if (!link) {
      if (link.error().message.starts_with("GetLink")) continue;  // a link resolved does not manage
      return within(std::move(link.error()));
    }
    link_list.push_back(std::move(*link));
  }
  out["links"] = std::move(link_list);
  return json::serialize(out);
}

}  // namespace dnsleak::host
