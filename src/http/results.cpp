#include "http/results.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "store/observation_log.h"
#include "verdict/verdict_json.h"

namespace dnsleak::http {
namespace json = boost::json;

std::string rfc3339_ms(int64_t unix_ms) {
  char text[64];
  return std::string(text, net::format_time_ms(unix_ms, text));
}

json::object network_json(const verdict::Network& n) {
  json::object o;
  o["asn"] = n.asn ? json::value(*n.asn) : json::value(nullptr);
  o["organisation"] = n.organisation.empty() ? json::value(nullptr) : json::value(n.organisation);
  o["country"] = n.country.empty() ? json::value(nullptr) : json::value(n.country);
  o["public_operator"] = n.public_operator.empty() ? json::value(nullptr) : json::value(n.public_operator);
  return o;
}

namespace {

std::string subnet_text(const dns::ClientSubnet& s) {
  net::IpAddress a;
  a.family = s.family == 2 ? 6 : 4;
  a.bytes = s.address;
  return a.to_string() + "/" + std::to_string(s.source_prefix);
}

struct ResolverSummary {
  net::IpAddress address;
  std::set<std::string> transports, qtypes, sub_zones, nodes;
  uint64_t count = 0;
  int64_t first_ms = INT64_MAX, last_ms = 0;
  bool mixed_case = false;
  bool edns = false, dnssec_ok = false, cookie = false;
  uint16_t edns_payload = 0;
  std::optional<dns::ClientSubnet> subnet;
};

}  // namespace

json::object observation_json(const store::ResolverObservation& o) {
  char scratch[12];
  json::object j;
  j["time"] = rfc3339_ms(o.time_ms);
  j["resolver"] = o.resolver.to_string();
  j["family"] = o.resolver.family == 6 ? "ipv6" : "ipv4";
  j["transport"] = net::to_string(o.transport);
  j["qtype"] = std::string(dns::qtype_name(o.qtype, std::span<char, 12>(scratch)));
  j["qname"] = o.qname.to_text();
  j["probe"] = std::string(o.probe.view());
  j["sub_zone"] = o.sub_zone == store::SubZone::none ? json::value(nullptr) : json::value(store::to_string(o.sub_zone));
  j["answer"] = store::to_string(o.answer);
  j["node"] = o.node.length == 0 ? json::value(nullptr) : json::value(std::string(o.node.view()));
  return j;
}

json::object results_json(const std::vector<store::ResolverObservation>& observations,
                          const std::vector<store::EgressSighting>& egress, const enrich::Enricher& enricher,
                          const verdict::Expectations& expected) {
  std::map<std::string, ResolverSummary> by_address;  // ordered: stable output
  for (const store::ResolverObservation& o : observations) {
    ResolverSummary& s = by_address[o.resolver.to_string()];
    s.address = o.resolver;
    s.transports.insert(net::to_string(o.transport));
    char scratch[12];
    s.qtypes.insert(std::string(dns::qtype_name(o.qtype, std::span<char, 12>(scratch))));
    if (o.sub_zone != store::SubZone::none) s.sub_zones.insert(store::to_string(o.sub_zone));
    if (o.node.length != 0) s.nodes.insert(std::string(o.node.view()));
    ++s.count;
    s.first_ms = std::min(s.first_ms, o.time_ms);
    s.last_ms = std::max(s.last_ms, o.time_ms);
    const std::string name = o.qname.to_text();
    s.mixed_case |= name != o.qname.lowercased().to_text();
    s.edns |= o.edns;
    s.dnssec_ok |= o.dnssec_ok;
    s.cookie |= o.cookie;
    s.edns_payload = std::max(s.edns_payload, o.edns_payload_size);
    if (o.has_client_subnet) s.subnet = o.client_subnet;
  }

  verdict::Evidence evidence;
  evidence.expected = expected;
  json::array resolvers;
  for (const auto& [text, s] : by_address) {
    const verdict::Network network = enricher.network_of(s.address);
    std::optional<verdict::Network> subnet_network;
    if (s.subnet) {
      net::IpAddress subnet;
      subnet.family = s.subnet->family == 2 ? 6 : 4;
      subnet.bytes = s.subnet->address;
      subnet_network = enricher.network_of(subnet);
    }
    evidence.resolvers.push_back({s.address, network, s.subnet, subnet_network});
    json::object r;
    r["address"] = text;
    r["family"] = s.address.family == 6 ? "ipv6" : "ipv4";
    r["transports"] = json::value_from(s.transports);
    r["qtypes"] = json::value_from(s.qtypes);
    r["sub_zones"] = json::value_from(s.sub_zones);
    r["nodes"] = json::value_from(s.nodes);  // which dnsleakd nodes it asked
    r["count"] = s.count;
    r["first_seen"] = rfc3339_ms(s.first_ms);
    r["last_seen"] = rfc3339_ms(s.last_ms);
    r["case_randomization"] = s.mixed_case;
    if (s.edns) {
      r["edns"] = json::object{{"payload", s.edns_payload}, {"do", s.dnssec_ok}, {"cookie", s.cookie}};
    } else {
      r["edns"] = nullptr;
    }
    r["ecs"] = s.subnet ? json::value(subnet_text(*s.subnet)) : json::value(nullptr);
    r["ecs_network"] = subnet_network ? json::value(network_json(*subnet_network)) : json::value(nullptr);
    r["network"] = network_json(network);
    const auto reverse = enricher.reverse_name(s.address);
    r["reverse_name"] = reverse && !reverse->empty() ? json::value(*reverse) : json::value(nullptr);
    resolvers.push_back(std::move(r));
  }
  json::array exits;
  for (const store::EgressSighting& e : egress) {
    const verdict::Network network = enricher.network_of(e.address);
    evidence.egress.push_back({e.address, network});
    exits.push_back(json::object{{"address", e.address.to_string()},
                                 {"family", e.address.family == 6 ? "ipv6" : "ipv4"},
                                 {"count", e.count},
                                 {"first_seen", rfc3339_ms(e.first_ms)},
                                 {"last_seen", rfc3339_ms(e.last_ms)},
                                 {"network", network_json(network)}});
  }
  const verdict::Verdict v = verdict::judge(evidence);
  json::object out;
  out["resolvers"] = std::move(resolvers);
  out["egress"] = std::move(exits);
  out["verdict"] = verdict::verdict_json(v);
  return out;
}

}  // namespace dnsleak::http
