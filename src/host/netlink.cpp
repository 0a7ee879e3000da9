#include "host/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <memory>

namespace dnsleak::host {
namespace {

// Walks every message of a reply: `use(header)` for each data message; NLMSG_DONE ends the walk,
// NLMSG_ERROR with an error code is a failure, octets that do not make a whole message are a
// truncated reply.
template <class Use>
Result<void> each_message(std::span<const std::byte> reply, Use use) {
  const auto* at = reinterpret_cast<const nlmsghdr*>(reply.data());
  int left = static_cast<int>(std::min<size_t>(reply.size(), INT32_MAX));
  while (left > 0) {
    if (!mnl_nlmsg_ok(at, left)) {
      return fail("truncated netlink reply (" + std::to_string(left) + " octets do not make a message)");
    }
    if (at->nlmsg_type == NLMSG_DONE) return {};
    if (at->nlmsg_type == NLMSG_ERROR) {
      if (mnl_nlmsg_get_payload_len(at) < sizeof(nlmsgerr)) return fail("truncated netlink error message");
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(at));
      if (err->error != 0) {
        Error e{concat({"the kernel refused the request: ", std::strerror(-err->error)}), -err->error};
        return fail(std::move(e));
      }
    } else if (at->nlmsg_type >= NLMSG_MIN_TYPE) {
      if (Result<void> used = use(*at); !used) return used;
    }
    at = mnl_nlmsg_next(at, &left);
  }
  return {};
}

// Every attribute of a message after its family header, bounds checked by libmnl; unknown ones
// are skipped. `table[type]` holds the last of each type up to `max`.
template <size_t N>
Result<std::array<const nlattr*, N>> attributes(const nlmsghdr& header, size_t family_header) {
  std::array<const nlattr*, N> table{};
  if (mnl_nlmsg_get_payload_len(&header) < family_header) return fail("truncated netlink message");
  auto store = [](const nlattr* attr, void* data) -> int {
    auto* t = static_cast<std::array<const nlattr*, N>*>(data);
    if (mnl_attr_type_valid(attr, N - 1) > 0) (*t)[mnl_attr_get_type(attr)] = attr;
    return MNL_CB_OK;
  };
  if (mnl_attr_parse(&header, static_cast<unsigned>(family_header), store, &table) != MNL_CB_OK) {
    return fail("malformed netlink attributes");
  }
  return table;
}

std::optional<net::IpAddress> address_of(const nlattr* attr, uint8_t family) {
  if (attr == nullptr) return std::nullopt;
  net::IpAddress a;
  a.family = family == AF_INET6 ? 6 : 4;
  if (mnl_attr_get_payload_len(attr) != a.octets()) return std::nullopt;
  std::memcpy(a.bytes.data(), mnl_attr_get_payload(attr), a.octets());
  return a;
}

std::optional<uint32_t> u32_of(const nlattr* attr) {
  if (attr == nullptr || mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return std::nullopt;
  return mnl_attr_get_u32(attr);
}

std::string string_of(const nlattr* attr) {
  if (attr == nullptr) return {};
  const auto* p = static_cast<const char*>(mnl_attr_get_payload(attr));
  return std::string(p, strnlen(p, mnl_attr_get_payload_len(attr)));
}

}  // namespace

bool Link::up() const noexcept { return (flags & IFF_UP) != 0; }
bool Link::loopback() const noexcept { return (flags & IFF_LOOPBACK) != 0; }

bool Link::tunnel() const noexcept {
  static constexpr std::array<std::string_view, 16> kKinds{
      "tun", "wireguard", "ipip", "gre",  "gretap", "ip6gre", "ip6gretap", "ip6tnl",
      "sit", "vti",       "vti6", "xfrm", "ppp",    "l2tp",   "amneziawg", "openvpn"};
  if (!kind.empty()) return std::find(kKinds.begin(), kKinds.end(), kind) != kKinds.end();
  switch (arp_type) {
    case ARPHRD_NONE:  // tun in layer-3 mode, wireguard on kernels that report no kind
    case ARPHRD_PPP:
    case ARPHRD_TUNNEL:
    case ARPHRD_TUNNEL6:
    case ARPHRD_IPGRE:
    case ARPHRD_SIT: return true;
    default: return false;
  }
}

const char* to_string(Dump d) noexcept {
  switch (d) {
    case Dump::links: return "links";
    case Dump::addresses: return "addresses";
    case Dump::routes: return "routes";
    case Dump::rules: return "rules";
  }
  return "links";
}

Result<std::vector<Link>> parse_links(std::span<const std::byte> reply) {
  std::vector<Link> links;
  Result<void> walked = each_message(reply, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWLINK) return {};
    Result<std::array<const nlattr*, IFLA_MAX + 1>> a = attributes<IFLA_MAX + 1>(h, sizeof(ifinfomsg));
    if (!a) return fail(std::move(a.error()));
    const auto* info = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(&h));
    Link link;
    link.index = static_cast<uint32_t>(info->ifi_index);
    link.arp_type = info->ifi_type;
    link.flags = info->ifi_flags;
    link.name = string_of((*a)[IFLA_IFNAME]);
    if (const nlattr* linkinfo = (*a)[IFLA_LINKINFO]; linkinfo != nullptr) {
      // The nested attributes, bounds checked as libmnl's own walk does.
      const auto* nested = static_cast<const nlattr*>(mnl_attr_get_payload(linkinfo));
      int left = static_cast<int>(mnl_attr_get_payload_len(linkinfo));
      while (mnl_attr_ok(nested, left)) {
        if (mnl_attr_get_type(nested) == IFLA_INFO_KIND) link.kind = string_of(nested);
        left -= static_cast<int>(MNL_ALIGN(nested->nla_len));
        nested = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(nested) + MNL_ALIGN(nested->nla_len));
      }
    }
    links.push_back(std::move(link));
    return {};
  });
  if (!walked) return fail(std::move(walked.error()).within("links"));
  return links;
}

Result<std::vector<Address>> parse_addresses(std::span<const std::byte> reply) {
  std::vector<Address> addresses;
  Result<void> walked = each_message(reply, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWADDR) return {};
    Result<std::array<const nlattr*, IFA_MAX + 1>> a = attributes<IFA_MAX + 1>(h, sizeof(ifaddrmsg));
    if (!a) return fail(std::move(a.error()));
    const auto* msg = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(&h));
    // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS the peer's.
    std::optional<net::IpAddress> address = address_of((*a)[IFA_LOCAL], msg->ifa_family);
    if (!address) address = address_of((*a)[IFA_ADDRESS], msg->ifa_family);
    if (!address) return {};  // another family
    addresses.push_back({msg->ifa_index, *address, msg->ifa_prefixlen, msg->ifa_scope});
    return {};
  });
  if (!walked) return fail(std::move(walked.error()).within("addresses"));
  return addresses;
}

Result<std::vector<Route>> parse_routes(std::span<const std::byte> reply) {
  std::vector<Route> routes;
  Result<void> walked = each_message(reply, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWROUTE) return {};
    Result<std::array<const nlattr*, RTA_MAX + 1>> a = attributes<RTA_MAX + 1>(h, sizeof(rtmsg));
    if (!a) return fail(std::move(a.error()));
    const auto* msg = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(&h));
    if (msg->rtm_family != AF_INET && msg->rtm_family != AF_INET6) return {};
    Route r;
    r.destination.address.family = msg->rtm_family == AF_INET6 ? 6 : 4;
    if (const auto dst = address_of((*a)[RTA_DST], msg->rtm_family)) r.destination.address = *dst;
    r.destination.length = std::min<uint8_t>(msg->rtm_dst_len, static_cast<uint8_t>(r.destination.address.bits()));
    r.type = msg->rtm_type;
    r.table = u32_of((*a)[RTA_TABLE]).value_or(msg->rtm_table);
    r.link = u32_of((*a)[RTA_OIF]).value_or(0);
    r.gateway = address_of((*a)[RTA_GATEWAY], msg->rtm_family);
    r.metric = u32_of((*a)[RTA_PRIORITY]).value_or(0);
    routes.push_back(r);
    return {};
  });
  if (!walked) return fail(std::move(walked.error()).within("routes"));
  return routes;
}

Result<std::vector<RoutingRule>> parse_rules(std::span<const std::byte> reply) {
  std::vector<RoutingRule> rules;
  Result<void> walked = each_message(reply, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWRULE) return {};
    Result<std::array<const nlattr*, FRA_MAX + 1>> a = attributes<FRA_MAX + 1>(h, sizeof(fib_rule_hdr));
    if (!a) return fail(std::move(a.error()));
    const auto* msg = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(&h));
    if (msg->family != AF_INET && msg->family != AF_INET6) return {};
    RoutingRule r;
    r.family = msg->family == AF_INET6 ? 6 : 4;
    r.priority = u32_of((*a)[FRA_PRIORITY]).value_or(0);
    r.table = u32_of((*a)[FRA_TABLE]).value_or(msg->table);
    r.action = msg->action;
    r.invert = (msg->flags & FIB_RULE_INVERT) != 0;
    r.fwmark = u32_of((*a)[FRA_FWMARK]).value_or(0);
    r.fwmask = u32_of((*a)[FRA_FWMASK]).value_or(0);
    r.input = string_of((*a)[FRA_IIFNAME]);
    r.output = string_of((*a)[FRA_OIFNAME]);
    auto prefix = [&](const nlattr* attr, uint8_t length) -> std::optional<net::Prefix> {
      const std::optional<net::IpAddress> address = address_of(attr, msg->family);
      if (!address) return std::nullopt;
      return net::Prefix{*address, std::min<uint8_t>(length, static_cast<uint8_t>(address->bits()))};
    };
    r.source = prefix((*a)[FRA_SRC], msg->src_len);
    r.destination = prefix((*a)[FRA_DST], msg->dst_len);
    rules.push_back(std::move(r));
    return {};
  });
  if (!walked) return fail(std::move(walked.error()).within("rules"));
  return rules;
}

Result<RouteChoice> parse_route_choice(std::span<const std::byte> reply) {
  RouteChoice choice;
  bool answered = false;
  Result<void> walked = each_message(reply, [&](const nlmsghdr& h) -> Result<void> {
    if (h.nlmsg_type != RTM_NEWROUTE || answered) return {};
    Result<std::array<const nlattr*, RTA_MAX + 1>> a = attributes<RTA_MAX + 1>(h, sizeof(rtmsg));
    if (!a) return fail(std::move(a.error()));
    const auto* msg = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(&h));
    answered = true;
    choice.link = u32_of((*a)[RTA_OIF]).value_or(0);
    choice.source = address_of((*a)[RTA_PREFSRC], msg->rtm_family);
    choice.gateway = address_of((*a)[RTA_GATEWAY], msg->rtm_family);
    // IPv6 answers an unreachable destination with a route of that type on lo.
    switch (msg->rtm_type) {
      case RTN_UNICAST:
      case RTN_LOCAL: choice.reachable = true; break;
      case RTN_BLACKHOLE: choice.why_not = "a blackhole route drops it"; break;
      case RTN_PROHIBIT: choice.why_not = "a prohibit route refuses it"; break;
      default: choice.why_not = "Network is unreachable"; break;
    }
    return {};
  });
  if (!walked) {
    // The kernel's "no route" is an answer, not a failure to read one.
    if (walked.error().system_errno == ENETUNREACH || walked.error().system_errno == EHOSTUNREACH ||
        walked.error().system_errno == EACCES || walked.error().system_errno == EINVAL) {
      choice.why_not = std::strerror(walked.error().system_errno);
      return choice;
    }
    return fail(std::move(walked.error()).within("route lookup"));
  }
  if (!answered) return fail("route lookup: the kernel's reply holds no route");
  return choice;
}

namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};

// Sends one request and collects every message of its reply until NLMSG_DONE (a dump) or the one
// answer (a plain request).
Result<std::vector<std::byte>> exchange(nlmsghdr* request, bool dump) {
  const std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_ROUTE));
  if (!socket) return fail(system_error("cannot open a netlink socket"));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    return fail(system_error("cannot bind a netlink socket"));
  const unsigned port = mnl_socket_get_portid(socket.get());
  request->nlmsg_seq = static_cast<uint32_t>(std::time(nullptr));
  if (mnl_socket_sendto(socket.get(), request, request->nlmsg_len) < 0) return fail(system_error("netlink send"));
  std::vector<std::byte> reply;
  std::vector<std::byte> buffer(MNL_SOCKET_BUFFER_SIZE * 4);
  // A bound on the reply: a routing table of a full BGP feed is some hundreds of MiB; a desktop's
  // is kilobytes. Past 64 MiB we stop rather than hold it all.
  constexpr size_t kMaxReply = 64U << 20U;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
    if (n < 0) return fail(system_error("netlink receive"));
    if (n == 0) break;
    const auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data());
    if (h->nlmsg_pid != port && h->nlmsg_pid != 0) continue;  // not ours
    reply.insert(reply.end(), buffer.begin(), buffer.begin() + n);
    if (reply.size() > kMaxReply) return fail("netlink reply larger than 64 MiB; not read");
    // The end: a dump's NLMSG_DONE, an error, or a plain request's single answer.
    bool done = !dump;
    int left = static_cast<int>(n);
    for (const nlmsghdr* m = h; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
      if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR) done = true;
    }
    if (done) break;
  }
  return reply;
}

}  // namespace

Result<std::vector<std::byte>> netlink_dump(Dump what) {
  std::array<std::byte, 256> buffer{};
  nlmsghdr* h = mnl_nlmsg_put_header(buffer.data());
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  switch (what) {
    case Dump::links: {
      h->nlmsg_type = RTM_GETLINK;
      auto* m = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifinfomsg)));
      m->ifi_family = AF_UNSPEC;
      break;
    }
    case Dump::addresses: {
      h->nlmsg_type = RTM_GETADDR;
      auto* m = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(ifaddrmsg)));
      m->ifa_family = AF_UNSPEC;
      break;
    }
    case Dump::rules: {
      h->nlmsg_type = RTM_GETRULE;
      auto* m = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(h, sizeof(fib_rule_hdr)));
      m->family = AF_UNSPEC;
      break;
    }
    case Dump::routes: {
      h->nlmsg_type = RTM_GETROUTE;
      auto* m = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(rtmsg)));
      m->rtm_family = AF_UNSPEC;
      m->rtm_table = RT_TABLE_UNSPEC;  // every table
      break;
    }
  }
  Result<std::vector<std::byte>> reply = exchange(h, true);
  if (!reply) return fail(std::move(reply.error()).within(concat({"cannot read the ", to_string(what)})));
  return reply;
}

Result<std::vector<std::byte>> netlink_route_get(const net::IpAddress& destination) {
  std::array<std::byte, 256> buffer{};
  nlmsghdr* h = mnl_nlmsg_put_header(buffer.data());
  h->nlmsg_type = RTM_GETROUTE;
  h->nlmsg_flags = NLM_F_REQUEST;
  auto* m = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(rtmsg)));
  m->rtm_family = destination.family == 6 ? AF_INET6 : AF_INET;
  m->rtm_dst_len = static_cast<unsigned char>(destination.bits());
  mnl_attr_put(h, RTA_DST, destination.octets(), destination.bytes.data());
  Result<std::vector<std::byte>> reply = exchange(h, false);
  if (!reply)
    return fail(
        std::move(reply.error()).within(concat({"cannot ask the kernel for the route to ", destination.to_string()})));
  return reply;
}

}  // namespace dnsleak::host
