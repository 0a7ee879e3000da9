#include "auth/responder.h"

#include <arpa/inet.h>

#include <cstring>

#include "dns/wire_writer.h"

namespace dnsleak::auth {
namespace {

using dns::DnsName;
using dns::WireWriter;
namespace rr_type = dns::rr_type;

constexpr size_t kMinUdpPayload = 512;  // RFC 1035 4.2.1; RFC 6891 6.2.5 for smaller EDNS values

bool label_is(std::span<const uint8_t> label, std::string_view word) noexcept {
  if (label.size() != word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (dns::ascii_lower(label[i]) != static_cast<uint8_t>(word[i])) return false;
  }
  return true;
}

DnsName child_of(const DnsName& parent, std::string_view label) {
  DnsName name;
  (void)name.append_label({reinterpret_cast<const uint8_t*>(label.data()), label.size()});
  for (size_t l = 0; l < parent.label_count(); ++l) (void)name.append_label(parent.label(l));
  return name;
}

// Writes resource records after the question, compressing every name against the question.
class RecordWriter {
 public:
  RecordWriter(WireWriter& w, const DnsName& qname) noexcept : w_(w), qname_(qname) {}

  // Owner: the question name's suffix with `labels` labels (all of them = the qname itself).
  void begin(size_t labels, uint16_t type, uint32_t ttl) noexcept {
    pointer_to_suffix(labels);
    w_.u16(type);
    w_.u16(dns::kClassIN);
    w_.u32(ttl);
    rdlength_at_ = w_.size();
    w_.u16(0);
  }
  // Owner: any name (compressed against the question where a suffix matches).
  void begin(const DnsName& owner, uint16_t type, uint32_t ttl) noexcept {
    name(owner);
    w_.u16(type);
    w_.u16(dns::kClassIN);
    w_.u32(ttl);
    rdlength_at_ = w_.size();
    w_.u16(0);
  }
  void end() noexcept { w_.patch_u16(rdlength_at_, static_cast<uint16_t>(w_.size() - rdlength_at_ - 2)); }

  void name(const DnsName& n) noexcept {
    // Find the longest suffix of n that is also a suffix of the question name.
    for (size_t i = 0; i < n.label_count(); ++i) {
      const size_t suffix_labels = n.label_count() - i;
      if (suffix_labels > qname_.label_count()) continue;
      if (!suffix_equal(n, i, suffix_labels)) continue;
      w_.bytes(n.wire().data(), n.label_offset(i));
      pointer_to_suffix(suffix_labels);
      return;
    }
    w_.bytes(n.wire().data(), n.length());
  }

  WireWriter& wire() noexcept { return w_; }

 private:
  bool suffix_equal(const DnsName& n, size_t from_label, size_t labels) const noexcept {
    const size_t q_from = qname_.label_count() - labels;
    const auto a = n.wire().subspan(n.label_offset(from_label));
    const auto b = qname_.wire().subspan(qname_.label_offset(q_from));
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k) {
      if (dns::ascii_lower(a[k]) != dns::ascii_lower(b[k])) return false;
    }
    return true;
  }
  void pointer_to_suffix(size_t labels) noexcept {
    const size_t offset = dns::kHeaderSize + qname_.label_offset(qname_.label_count() - labels);
    w_.u16(static_cast<uint16_t>(0xC000 | offset));
  }

  WireWriter& w_;
  const DnsName& qname_;
  size_t rdlength_at_ = 0;
};

// Which node of the zone a query names.
enum class Node : uint8_t { apex, nameserver, sub_ns_host, whoami, test_name, none };

// The records of one answer, decided before a byte is written.
struct AddressSet {
  const DnsName* owner = nullptr;  // nullptr: the question name
  uint16_t type = 0;               // A (4 octets each) or AAAA (16)
  uint32_t ttl = 0;
  const uint8_t* data = nullptr;  // `count` addresses back to back
  size_t count = 0;
};

template <size_t N>
AddressSet address_set(uint16_t type, const std::vector<std::array<uint8_t, N>>& list, uint32_t ttl,
                       const DnsName* owner = nullptr) noexcept {
  // std::array of octets has no padding: a vector of them is the addresses back to back.
  static_assert(sizeof(std::array<uint8_t, N>) == N);
  return {owner, type, ttl, list.empty() ? nullptr : list.front().data(), list.size()};
}

// What the answer section holds.
enum class Answer : uint8_t { none, soa, ns_set, addresses, whoami_txt };

// whoami's TXT: the asking resolver's address, port and transport, and the ECS subnet it sent.
void write_whoami_txt(const dns::Query& q, const QueryContext& context, RecordWriter& rr) noexcept {
  WireWriter& w = rr.wire();
  char text[128];
  char address[64];
  const size_t address_length = context.remote.to_text(address);
  int n = std::snprintf(text, sizeof text, "resolver=%.*s port=%u transport=%s", static_cast<int>(address_length),
                        address, static_cast<unsigned>(context.remote_port), net::to_string(context.transport));
  rr.begin(q.qname.label_count(), rr_type::TXT, 0);
  w.u8(static_cast<uint8_t>(n));
  w.bytes(reinterpret_cast<const uint8_t*>(text), static_cast<size_t>(n));
  if (q.edns.has_client_subnet) {
    const dns::ClientSubnet& s = q.edns.client_subnet;
    net::IpAddress subnet;
    subnet.family = s.family == 2 ? 6 : 4;
    subnet.bytes = s.address;
    const size_t subnet_length = subnet.to_text(address);
    n = std::snprintf(text, sizeof text, "ecs=%.*s/%u", static_cast<int>(subnet_length), address,
                      static_cast<unsigned>(s.source_prefix));
    w.u8(static_cast<uint8_t>(n));
    w.bytes(reinterpret_cast<const uint8_t*>(text), static_cast<size_t>(n));
  }
  rr.end();
}

}  // namespace

// The whole decision for one query: classify() makes it from the parsed query alone, write()
// follows it. Only `truncated_size` is decided later, by the room the answer finds.
struct Responder::Plan {
  Outcome outcome = Outcome::answer;
  uint8_t rcode = dns::rcode::NOERROR;
  bool authoritative = true;
  bool body = false;                          // records follow the question (not for errors, TC)
  bool truncate = false;                      // TC=1 and no records: tcp. over UDP
  store::SubZone sub = store::SubZone::none;  // the sub-zone the name is in
  Node node = Node::none;
  Answer answer = Answer::none;
  AddressSet addresses;   // with Answer::addresses
  bool glue = false;      // with an NS set: the in-zone name servers' addresses in additional
  bool referral = false;  // the sub-zone's NS set and glue in authority, no answer
  bool negative = false;  // the SOA in authority (NXDOMAIN, NODATA)
  bool observe = false;
};

const char* to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::drop_too_short: return "drop_too_short";
    case Outcome::drop_is_response: return "drop_is_response";
    case Outcome::drop_no_room: return "drop_no_room";
    case Outcome::answer: return "answer";
    case Outcome::nodata: return "nodata";
    case Outcome::referral: return "referral";
    case Outcome::truncated_tcp_only: return "truncated_tcp_only";
    case Outcome::truncated_size: return "truncated_size";
    case Outcome::nxdomain: return "nxdomain";
    case Outcome::nxdomain_bad_token: return "nxdomain_bad_token";
    case Outcome::nxdomain_expired_token: return "nxdomain_expired_token";
    case Outcome::refused: return "refused";
    case Outcome::formerr: return "formerr";
    case Outcome::notimp: return "notimp";
    case Outcome::badvers: return "badvers";
    case Outcome::count_: break;
  }
  return "unknown";
}

Responder::Responder(const ZoneConfig& zone, const testname::TokenAuthority& tokens, const CookieAuthority* cookies)
    : zone_(zone),
      tokens_(tokens),
      cookies_(cookies),
      ns_ipv4_(zone.nameserver_ipv4()),
      ns_ipv6_(zone.nameserver_ipv6()) {
  v4_.apex = child_of(zone.apex, "v4");
  v4_.ns_host = child_of(v4_.apex, "ns");
  v4_.enabled = !ns_ipv4_.empty();
  v6_.apex = child_of(zone.apex, "v6");
  v6_.ns_host = child_of(v6_.apex, "ns");
  v6_.enabled = !ns_ipv6_.empty();
  tcp_.apex = child_of(zone.apex, "tcp");
  tcp_.enabled = true;
}

const Responder::SubZoneInfo* Responder::sub_zone(store::SubZone sub) const noexcept {
  switch (sub) {
    case store::SubZone::v4: return &v4_;
    case store::SubZone::v6: return &v6_;
    case store::SubZone::tcp: return &tcp_;
    case store::SubZone::none: break;
  }
  return nullptr;
}

Responder::Plan Responder::classify(const dns::Query& q, dns::QueryParseStatus status, const QueryContext& context,
                                    store::ResolverObservation& observation) const noexcept {
  Plan plan;
  if (status == dns::QueryParseStatus::format_error) {
    plan.rcode = dns::rcode::FORMERR;
    plan.outcome = Outcome::formerr;
    return plan;
  }
  if (status == dns::QueryParseStatus::not_implemented) {
    plan.rcode = dns::rcode::NOTIMP;
    plan.outcome = Outcome::notimp;
    return plan;
  }
  if (q.edns.present && q.edns.version != 0) {
    plan.outcome = Outcome::badvers;  // rcode 16 goes in the OPT's extended bits
    return plan;
  }
  if ((q.qclass != dns::kClassIN && q.qclass != dns::kClassANY) || !q.qname.ends_with(zone_.apex) ||
      q.qtype == rr_type::AXFR || q.qtype == rr_type::IXFR) {
    plan.rcode = dns::rcode::REFUSED;
    plan.outcome = Outcome::refused;
    return plan;
  }
  plan.body = true;
  classify_in_zone(q, context, plan, observation);
  return plan;
}

void Responder::classify_in_zone(const dns::Query& q, const QueryContext& context, Plan& plan,
                                 store::ResolverObservation& observation) const noexcept {
  const DnsName& qname = q.qname;
  size_t relative = qname.label_count() - zone_.apex.label_count();
  // The label right above the apex may pick a sub-zone.
  if (relative >= 1) {
    const auto label = qname.label(relative - 1);
    if (v4_.enabled && label_is(label, "v4"))
      plan.sub = store::SubZone::v4;
    else if (v6_.enabled && label_is(label, "v6"))
      plan.sub = store::SubZone::v6;
    else if (label_is(label, "tcp"))
      plan.sub = store::SubZone::tcp;
    if (plan.sub != store::SubZone::none) --relative;
  }
  // A delegated sub-zone asked over the other family: refer to its name server. DS at the cut
  // belongs to the parent side (RFC 4035 3.1.4.1): no DS there, so NODATA.
  const bool wrong_family = (plan.sub == store::SubZone::v6 && context.remote.family != 6) ||
                            (plan.sub == store::SubZone::v4 && context.remote.family != 4);
  if (wrong_family && relative == 0 && q.qtype == rr_type::DS) {
    plan.sub = store::SubZone::none;
    plan.node = Node::apex;
    plan.outcome = Outcome::nodata;
    plan.negative = true;
    return;
  }
  plan.referral = wrong_family;

  if (relative == 0) {
    plan.node = Node::apex;
  } else if (relative == 1) {
    const auto label = qname.label(0);
    if (label_is(label, "whoami")) {
      plan.node = Node::whoami;
    } else if ((plan.sub == store::SubZone::v4 || plan.sub == store::SubZone::v6) && label_is(label, "ns")) {
      plan.node = Node::sub_ns_host;
    } else {
      const NameServer* server = nullptr;
      if (plan.sub == store::SubZone::none) {
        for (const NameServer& ns : zone_.nameservers) {
          if (qname.equals(ns.name)) {
            server = &ns;
            break;
          }
        }
      }
      if (server != nullptr) {
        plan.node = Node::nameserver;
        plan_nameserver(q.qtype, *server, plan);
      } else {
        const uint32_t now_s = static_cast<uint32_t>(context.now_ms / 1000);
        const testname::TokenCheck check =
            testname::parse_test_label(tokens_, label, now_s, observation.token, observation.probe);
        if (check == testname::TokenCheck::valid) {
          plan.node = Node::test_name;
          plan.observe = true;
        } else if (plan.referral) {
          // Below a cut the parent knows nothing of the child's names: a referral for all of
          // them, valid or not (the child would say NXDOMAIN); only valid ones are observed.
        } else if (check == testname::TokenCheck::bad_mac) {
          plan.outcome = Outcome::nxdomain_bad_token;
        } else if (check == testname::TokenCheck::expired || check == testname::TokenCheck::from_future) {
          plan.outcome = Outcome::nxdomain_expired_token;
        }
      }
    }
  }

  if (plan.referral) {
    // The referral lives at the sub-zone's apex: NS in authority, address glue of one family only.
    plan.authoritative = false;
    plan.outcome = Outcome::referral;
    plan.answer = Answer::none;
    return;
  }
  if (plan.node == Node::none) {
    plan.rcode = dns::rcode::NXDOMAIN;
    if (plan.outcome == Outcome::answer) plan.outcome = Outcome::nxdomain;
    plan.negative = true;
    return;
  }
  if (plan.sub == store::SubZone::tcp && context.transport == net::Transport::udp) {
    plan.truncate = true;
    plan.body = false;
    plan.outcome = Outcome::truncated_tcp_only;
    return;
  }
  plan_answer(q, context, plan, observation);
}

void Responder::plan_nameserver(uint16_t qtype, const NameServer& server, Plan& plan) const noexcept {
  const bool any = qtype == rr_type::ANY;
  if (qtype == rr_type::A || (any && !server.ipv4.empty())) {
    plan.addresses = address_set(rr_type::A, server.ipv4, zone_.zone_ttl);
  } else if (qtype == rr_type::AAAA || any) {
    plan.addresses = address_set(rr_type::AAAA, server.ipv6, zone_.zone_ttl);
  }
}

void Responder::plan_answer(const dns::Query& q, const QueryContext& context, Plan& plan,
                            const store::ResolverObservation& observation) const noexcept {
  const uint16_t qtype = q.qtype;
  const bool any = qtype == rr_type::ANY;
  const net::IpAddress& who = context.remote;
  switch (plan.node) {
    case Node::apex:
      if (qtype == rr_type::SOA || any) {
        plan.answer = Answer::soa;  // ANY: one RRset is enough (RFC 8482)
      } else if (qtype == rr_type::NS) {
        // A delegated sub-zone has its one name server; the zone has those configured (none
        // only in a hand-built zone: then NODATA).
        const bool delegated = plan.sub == store::SubZone::v4 || plan.sub == store::SubZone::v6;
        if (delegated || !zone_.nameservers.empty()) {
          plan.answer = Answer::ns_set;
          plan.glue = true;
        }
      } else if (qtype == rr_type::A) {
        plan.addresses = address_set(rr_type::A, zone_.web_ipv4, zone_.answer_ttl);
      } else if (qtype == rr_type::AAAA) {
        plan.addresses = address_set(rr_type::AAAA, zone_.web_ipv6, zone_.answer_ttl);
      }
      break;
    case Node::nameserver: break;  // planned when it was found
    case Node::sub_ns_host:
      if (plan.sub == store::SubZone::v4 && (qtype == rr_type::A || any)) {
        plan.addresses = address_set(rr_type::A, ns_ipv4_, zone_.zone_ttl);
      } else if (plan.sub == store::SubZone::v6 && (qtype == rr_type::AAAA || any)) {
        plan.addresses = address_set(rr_type::AAAA, ns_ipv6_, zone_.zone_ttl);
      }
      break;
    case Node::whoami:
      // TTL 0: the answer is about the asker and must not be cached for anyone else.
      if (qtype == rr_type::A && who.family == 4) {
        plan.addresses = {nullptr, rr_type::A, 0, who.bytes.data(), 1};
      } else if (qtype == rr_type::AAAA && who.family == 6) {
        plan.addresses = {nullptr, rr_type::AAAA, 0, who.bytes.data(), 1};
      } else if (qtype == rr_type::TXT || any) {
        plan.answer = Answer::whoami_txt;
      }
      break;
    case Node::test_name: {
      // Probes "4" and "6" resolve to one family only: an HTTP request to them shows the
      // client's IPv4 or IPv6 exit.
      const std::string_view probe = observation.probe.view();
      if ((probe == "4" && qtype == rr_type::AAAA) || (probe == "6" && qtype == rr_type::A)) break;
      if (qtype == rr_type::A || (any && !zone_.web_ipv4.empty())) {
        plan.addresses = address_set(rr_type::A, zone_.web_ipv4, zone_.answer_ttl);
      } else if (qtype == rr_type::AAAA || any) {
        plan.addresses = address_set(rr_type::AAAA, zone_.web_ipv6, zone_.answer_ttl);
      }
      break;
    }
    case Node::none: break;
  }
  if (plan.addresses.count > 0) plan.answer = Answer::addresses;
  if (plan.answer == Answer::none) {  // NODATA: the SOA tells the resolver how long to cache the absence
    plan.outcome = Outcome::nodata;
    plan.negative = true;
  }
}

void Responder::write_records(const dns::Query& q, const QueryContext& context, const Plan& plan, WireWriter& w,
                              SectionCounts& counts) const noexcept {
  RecordWriter rr(w, q.qname);
  const SubZoneInfo* sub = sub_zone(plan.sub);
  const DnsName& apex = sub != nullptr ? sub->apex : zone_.apex;
  const bool delegated = plan.sub == store::SubZone::v4 || plan.sub == store::SubZone::v6;
  const size_t all = q.qname.label_count();

  // One writer for every address RRset: answers, name server addresses, glue.
  auto write_addresses = [&](const AddressSet& set, uint16_t& count) {
    const size_t size = set.type == rr_type::A ? 4 : 16;
    for (size_t i = 0; i < set.count; ++i) {
      if (set.owner != nullptr) {
        rr.begin(*set.owner, set.type, set.ttl);
      } else {
        rr.begin(all, set.type, set.ttl);
      }
      w.bytes(set.data + i * size, size);
      rr.end();
      ++count;
    }
  };
  auto write_soa = [&](uint32_t ttl, uint16_t& count) {
    rr.begin(apex.label_count(), rr_type::SOA, ttl);
    rr.name(delegated ? sub->ns_host : zone_.nameservers.empty() ? zone_.apex : zone_.nameservers.front().name);
    rr.name(zone_.soa_rname);
    w.u32(zone_.serial);
    w.u32(zone_.refresh);
    w.u32(zone_.retry);
    w.u32(zone_.expire);
    w.u32(zone_.negative_ttl);
    rr.end();
    ++count;
  };
  // The NS RRset of a (sub-)zone apex in one section; its glue in additional.
  auto write_ns_set = [&](uint16_t& count) {
    if (delegated) {
      rr.begin(apex.label_count(), rr_type::NS, zone_.zone_ttl);
      rr.name(sub->ns_host);
      rr.end();
      ++count;
      return;
    }
    for (const NameServer& server : zone_.nameservers) {
      rr.begin(apex.label_count(), rr_type::NS, zone_.zone_ttl);
      rr.name(server.name);
      rr.end();
      ++count;
    }
  };
  auto write_glue = [&]() {
    if (plan.sub == store::SubZone::v4) {
      write_addresses(address_set(rr_type::A, ns_ipv4_, zone_.zone_ttl, &sub->ns_host), counts.additional);
      return;
    }
    if (plan.sub == store::SubZone::v6) {
      write_addresses(address_set(rr_type::AAAA, ns_ipv6_, zone_.zone_ttl, &sub->ns_host), counts.additional);
      return;
    }
    for (const NameServer& server : zone_.nameservers) {
      if (!server.name.ends_with(zone_.apex)) continue;  // glue only for in-zone names
      write_addresses(address_set(rr_type::A, server.ipv4, zone_.zone_ttl, &server.name), counts.additional);
      write_addresses(address_set(rr_type::AAAA, server.ipv6, zone_.zone_ttl, &server.name), counts.additional);
    }
  };

  if (plan.referral) {
    write_ns_set(counts.authority);
    write_glue();
    return;
  }
  switch (plan.answer) {
    case Answer::none: break;
    case Answer::soa: write_soa(zone_.zone_ttl, counts.answer); break;
    case Answer::ns_set: write_ns_set(counts.answer); break;
    case Answer::addresses: write_addresses(plan.addresses, counts.answer); break;
    case Answer::whoami_txt:
      write_whoami_txt(q, context, rr);
      ++counts.answer;
      break;
  }
  if (plan.glue) write_glue();
  if (plan.negative) write_soa(zone_.negative_ttl, counts.authority);
}

void Responder::write_opt(const dns::Query& q, const Plan& plan, const ServerCookie* cookie,
                          WireWriter& w) const noexcept {
  w.u8(0);  // root owner
  w.u16(rr_type::OPT);
  w.u16(zone_.max_udp_payload);
  const uint32_t extended_rcode = plan.outcome == Outcome::badvers ? (dns::rcode::BADVERS >> 4) : 0;
  // Version 0; the DO bit is copied from the query (RFC 3225 3), though nothing is signed.
  w.u32((extended_rcode << 24) | (q.edns.dnssec_ok ? 0x8000u : 0u));
  const size_t rdlength_at = w.size();
  w.u16(0);
  if (q.edns.has_client_subnet) {
    // RFC 7871 7.2.1: echo family, source prefix and address; the scope says how far the answer
    // depends on the subnet: whoami's answers carry it, everything else is the same for all.
    const dns::ClientSubnet& s = q.edns.client_subnet;
    const size_t octets = (s.source_prefix + 7u) / 8u;
    const bool scoped = plan.node == Node::whoami && !plan.referral;
    w.u16(dns::edns_option::CLIENT_SUBNET);
    w.u16(static_cast<uint16_t>(4 + octets));
    w.u16(s.family);
    w.u8(s.source_prefix);
    w.u8(scoped ? s.source_prefix : 0);
    w.bytes(s.address.data(), octets);
  }
  if (cookie != nullptr) {
    // RFC 7873 5.2: the client cookie back, with a server cookie for its next query.
    w.u16(dns::edns_option::COOKIE);
    w.u16(static_cast<uint16_t>(kClientCookieSize + kServerCookieSize));
    w.bytes(q.edns.client_cookie.data(), kClientCookieSize);
    w.bytes(cookie->data(), kServerCookieSize);
  }
  if (q.edns.wants_nsid && !zone_.nsid.empty()) {
    w.u16(dns::edns_option::NSID);
    w.u16(static_cast<uint16_t>(zone_.nsid.size()));
    w.bytes(reinterpret_cast<const uint8_t*>(zone_.nsid.data()), zone_.nsid.size());
  }
  w.patch_u16(rdlength_at, static_cast<uint16_t>(w.size() - rdlength_at - 2));
}

ResponseResult Responder::respond(std::span<const std::byte> packet, const QueryContext& context,
                                  std::span<std::byte> out, store::ResolverObservation& observation) const noexcept {
  dns::Query q;
  const dns::QueryParseStatus status = dns::parse_query(packet, q);
  ResponseResult result;
  switch (status) {
    case dns::QueryParseStatus::drop_too_short: result.outcome = Outcome::drop_too_short; return result;
    case dns::QueryParseStatus::drop_is_response: result.outcome = Outcome::drop_is_response; return result;
    default: break;
  }
  if (out.size() < dns::kHeaderSize) {
    result.outcome = Outcome::drop_no_room;
    return result;
  }
  Plan plan = classify(q, status, context, observation);
  // A malformed query's EDNS cannot be trusted; everything else gets OPT back if it sent one
  // (RFC 6891 7).
  const bool with_opt = q.edns.present && plan.outcome != Outcome::formerr && plan.outcome != Outcome::notimp;
  // RFC 7873 5.2.3: a missing or invalid server cookie is answered as if only the client cookie
  // had come, with a fresh server cookie either way (no BADCOOKIE: the answer is not withheld).
  ServerCookie server_cookie;
  const ServerCookie* cookie_out = nullptr;
  if (with_opt && q.edns.has_cookie) {
    const ClientCookie& client_cookie = q.edns.client_cookie;  // the parser's 8 octets, as they are
    const uint32_t now_s = static_cast<uint32_t>(context.now_ms / 1000);
    result.cookie = CookieState::client_only;
    if (cookies_ != nullptr) {
      if (q.edns.has_server_cookie) {
        const CookieCheck check = cookies_->check(
            client_cookie, {q.edns.server_cookie.data(), q.edns.server_cookie_length}, context.remote, now_s);
        result.cookie = check == CookieCheck::valid ? CookieState::valid : CookieState::invalid;
      }
      server_cookie = cookies_->make(client_cookie, context.remote, now_s);
      cookie_out = &server_cookie;
    }
  }

  WireWriter w(out);
  if (context.transport == net::Transport::udp) {
    size_t limit = kMinUdpPayload;
    if (q.edns.present && q.edns.udp_payload_size > limit) limit = q.edns.udp_payload_size;
    if (limit > zone_.max_udp_payload) limit = std::max<size_t>(zone_.max_udp_payload, kMinUdpPayload);
    w.limit(limit);
  }
  uint16_t flags = static_cast<uint16_t>(dns::flag::QR | (q.header.flags & 0x7800) |  // opcode
                                         (q.header.flags & dns::flag::RD));
  if ((plan.body || plan.truncate) && plan.authoritative) flags |= dns::flag::AA;
  if (plan.truncate) flags |= dns::flag::TC;
  flags |= plan.rcode & 0x0F;
  w.u16(q.header.id);
  w.u16(flags);
  w.u16(q.question_parsed ? 1 : 0);
  w.u32(0);  // ancount, nscount: patched below
  w.u16(0);  // arcount
  if (q.question_parsed) {
    w.bytes(q.qname.wire().data(), q.qname.length());
    w.u16(q.qtype);
    w.u16(q.qclass);
  }
  const size_t question_end = w.size();
  SectionCounts counts;
  if (plan.body) write_records(q, context, plan, w, counts);
  if (with_opt) {
    write_opt(q, plan, cookie_out, w);
    ++counts.additional;
  }
  if (!w.ok()) {
    // Did not fit the UDP payload size: an empty answer with TC set sends the resolver to TCP.
    w.rewind(question_end);
    counts = {};
    flags |= dns::flag::TC;
    w.patch_u16(2, flags);
    plan.outcome = Outcome::truncated_size;
    if (with_opt) {
      write_opt(q, plan, cookie_out, w);
      counts.additional = w.ok() ? 1 : 0;
      if (!w.ok()) w.rewind(question_end);
    }
  }
  w.patch_u16(6, counts.answer);
  w.patch_u16(8, counts.authority);
  w.patch_u16(10, counts.additional);
  result.length = w.size();
  result.outcome = plan.outcome;
  result.question_end = static_cast<uint16_t>(question_end);
  result.with_opt = with_opt;
  // The rate limiter's bucket: see rate_limit.h.
  switch (plan.outcome) {
    case Outcome::refused:
    case Outcome::formerr:
    case Outcome::notimp:
    case Outcome::badvers: result.rate_class = RateClass::error; break;
    case Outcome::nxdomain:
    case Outcome::nxdomain_bad_token:
    case Outcome::nxdomain_expired_token: result.rate_class = RateClass::nxdomain; break;
    default:
      if (plan.observe) {
        result.rate_class = RateClass::test;
        std::memcpy(&result.rate_key, observation.token.raw.data(), sizeof result.rate_key);
      } else if (plan.referral || plan.node == Node::none) {
        result.rate_class = RateClass::nxdomain;  // a referral for names below a cut, not checked
      } else {
        result.rate_class = RateClass::answer;
        result.rate_key = uint64_t{static_cast<uint8_t>(plan.node)} | uint64_t{static_cast<uint8_t>(plan.sub)} << 8 |
                          uint64_t{q.qtype} << 16;
      }
      break;
  }
  if (plan.observe) {
    fill_observation(q, context, plan, (flags & dns::flag::TC) != 0, observation);
    result.observed = true;
  }
  return result;
}

size_t Responder::slip(std::span<std::byte> out, const ResponseResult& result, size_t query_size) noexcept {
  constexpr size_t kEmptyOpt = 11;
  const size_t end = result.question_end;
  if (result.length < dns::kHeaderSize || end < dns::kHeaderSize || end > result.length) return 0;
  const size_t length = end + (result.with_opt ? kEmptyOpt : 0);
  if (length > out.size() || length > query_size) return 0;
  auto put16 = [&](size_t at, uint16_t v) {
    out[at] = static_cast<std::byte>(v >> 8);
    out[at + 1] = static_cast<std::byte>(v & 0xff);
  };
  out[2] |= static_cast<std::byte>(dns::flag::TC >> 8);
  put16(6, 0);
  put16(8, 0);
  put16(10, result.with_opt ? 1 : 0);
  if (result.with_opt) {
    // An empty OPT (root owner, type, payload size, TTL word, no RDATA): as few octets as the
    // query's own OPT took.
    std::memset(out.data() + end, 0, kEmptyOpt);
    put16(end + 1, rr_type::OPT);
    put16(end + 3, kMinUdpPayload);
  }
  return length;
}

void Responder::fill_observation(const dns::Query& q, const QueryContext& context, const Plan& plan, bool truncated,
                                 store::ResolverObservation& observation) noexcept {
  // token and probe were filled when the name was classified.
  observation.sub_zone = plan.sub;
  observation.time_ms = context.now_ms;
  observation.resolver = context.remote;
  observation.resolver_port = context.remote_port;
  observation.transport = context.transport;
  observation.qtype = q.qtype;
  // A referral that did not fit is truncated like any other answer.
  observation.answer = truncated                     ? store::AnswerKind::truncated
                       : plan.referral               ? store::AnswerKind::referral
                       : plan.answer == Answer::none ? store::AnswerKind::nodata
                                                     : store::AnswerKind::answer;
  observation.edns = q.edns.present;
  observation.edns_payload_size = q.edns.udp_payload_size;
  observation.dnssec_ok = q.edns.dnssec_ok;
  observation.cookie = q.edns.has_cookie;
  observation.has_client_subnet = q.edns.has_client_subnet;
  observation.client_subnet = q.edns.client_subnet;
  observation.qname = q.qname;
}

}  // namespace dnsleak::auth
