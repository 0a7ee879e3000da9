#include "host/firewall.h"

#include <nftables/libnftables.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <memory>
#include <optional>

#include "host/json_text.h"

namespace dnsleak::host {
namespace json = boost::json;
namespace {

// A match's truth for the packet: yes, no, or not known.
enum class Truth : uint8_t { yes, no, unknown };

Truth negate(Truth t) { return t == Truth::unknown ? t : t == Truth::yes ? Truth::no : Truth::yes; }

bool wildcard_equal(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == name;
}

// The values a match's right side holds: one value, a list, or {"set": [...]}.
std::vector<const json::value*> values_of(const json::value& right) {
  std::vector<const json::value*> out;
  const json::value* list = &right;
  if (right.is_object()) {
    if (const json::value* set = right.as_object().if_contains("set")) list = set;
  }
  if (list->is_array()) {
    for (const json::value& v : list->as_array()) out.push_back(&v);
  } else {
    out.push_back(list);
  }
  return out;
}

// Whether one right-side value holds the packet's field.
Truth value_holds(const json::value& v, const std::string& field, const DnsPacketSpec& p) {
  const bool udp = p.transport == net::Transport::udp;
  if (field == "oifname") return v.is_string() && wildcard_equal(v.as_string(), p.interface) ? Truth::yes : Truth::no;
  if (field == "l4proto") {
    if (v.is_string()) return v.as_string() == (udp ? "udp" : "tcp") ? Truth::yes : Truth::no;
    if (v.is_int64()) return v.as_int64() == (udp ? 17 : 6) ? Truth::yes : Truth::no;
    return Truth::unknown;
  }
  if (field == "nfproto") {
    if (!v.is_string()) return Truth::unknown;
    return v.as_string() == (p.destination.family == 6 ? "ipv6" : "ipv4") ? Truth::yes : Truth::no;
  }
  if (field == "dport") {
    if (v.is_int64()) return v.as_int64() == p.port ? Truth::yes : Truth::no;
    if (v.is_string()) return v.as_string() == (p.port == 53 ? "domain" : "") ? Truth::yes : Truth::no;
    if (v.is_object() && v.as_object().if_contains("range")) {
      const json::value& r = v.at("range");
      if (r.is_array() && r.as_array().size() == 2 && r.at(0).is_int64() && r.at(1).is_int64()) {
        return r.at(0).as_int64() <= p.port && p.port <= r.at(1).as_int64() ? Truth::yes : Truth::no;
      }
    }
    return Truth::unknown;
  }
  if (field == "daddr") {
    std::string address;
    int length = -1;
    if (v.is_string()) {
      address = std::string(v.as_string());
    } else if (v.is_object() && v.as_object().if_contains("prefix")) {
      const json::value& pre = v.at("prefix");
      if (!pre.is_object()) return Truth::unknown;
      address = json_text(pre.as_object(), "addr");
      const json::value* len = pre.as_object().if_contains("len");
      if (len == nullptr || !len->is_int64()) return Truth::unknown;
      length = static_cast<int>(len->as_int64());
    } else {
      return Truth::unknown;
    }
    const Result<net::IpAddress> a = net::parse_ip(address);
    if (!a) return Truth::unknown;
    if (a->family != p.destination.family) return Truth::no;
    const unsigned bits = length < 0 ? a->bits() : static_cast<unsigned>(std::min<int>(length, 128));
    return net::prefix_of(*a, bits) == net::prefix_of(p.destination, bits) ? Truth::yes : Truth::no;
  }
  if (field == "ctstate") {
    if (!v.is_string()) return Truth::unknown;
    return v.as_string() == "new" ? Truth::yes : Truth::no;  // a DNS query opens a new flow
  }
  return Truth::unknown;
}

// The packet field a match's left side reads, or empty when not one we know. Payload fields of a
// family that is not the packet's make the match false.
std::string field_of(const json::value& left, const DnsPacketSpec& p, bool& other_family) {
  other_family = false;
  if (!left.is_object()) return {};
  const json::object& o = left.as_object();
  if (const json::value* meta = o.if_contains("meta"); meta && meta->is_object()) {
    std::string key = json_text(meta->as_object(), "key");
    if (key == "oifname" || key == "l4proto" || key == "nfproto") return key;
    return {};
  }
  if (const json::value* ct = o.if_contains("ct"); ct && ct->is_object()) {
    return json_text(ct->as_object(), "key") == "state" ? "ctstate" : std::string();
  }
  if (const json::value* payload = o.if_contains("payload"); payload && payload->is_object()) {
    const std::string protocol = json_text(payload->as_object(), "protocol");
    const std::string field = json_text(payload->as_object(), "field");
    const bool udp = p.transport == net::Transport::udp;
    if (field == "dport" && (protocol == "udp" || protocol == "tcp")) {
      other_family = (protocol == "udp") != udp;  // a udp match on a TCP packet: false
      return "dport";
    }
    if (field == "dport" && protocol == "th") return "dport";
    if (field == "daddr" && (protocol == "ip" || protocol == "ip6")) {
      other_family = (protocol == "ip6") != (p.destination.family == 6);
      return "daddr";
    }
    if ((protocol == "ip" && field == "protocol") || (protocol == "ip6" && field == "nexthdr")) {
      other_family = (protocol == "ip6") != (p.destination.family == 6);
      return "l4proto";
    }
  }
  return {};
}

Truth match_truth(const json::object& match, const DnsPacketSpec& p, std::string& why) {
  const json::value* left = match.if_contains("left");
  const json::value* right = match.if_contains("right");
  const std::string op = json_text(match, "op");
  if (left == nullptr || right == nullptr) {
    why = "a match without both sides";
    return Truth::unknown;
  }
  bool other_family = false;
  const std::string field = field_of(*left, p, other_family);
  if (field.empty()) {
    why = "a match on " + json::serialize(*left);
    return Truth::unknown;
  }
  if (other_family) return Truth::no;
  Truth any = Truth::no;
  for (const json::value* v : values_of(*right)) {
    const Truth t = value_holds(*v, field, p);
    if (t == Truth::yes) {
      any = Truth::yes;
      break;
    }
    if (t == Truth::unknown) any = Truth::unknown;
  }
  if (any == Truth::unknown) why = "a match on " + field + " against " + json::serialize(*right);
  if (op == "==" || op == "in" || op.empty()) return any;
  if (op == "!=") return negate(any);
  why = "a match with the operator '" + op + "'";
  return Truth::unknown;
}

enum class Step : uint8_t { next, accept, stop, unknown, ret };

struct Walk {
  const Ruleset& ruleset;
  const DnsPacketSpec& packet;
  FirewallAnswer answer;
  int depth = 0;
};

// Runs a chain's rules in order: a verdict, or next/ret when it ends without one.
Step run_chain(Walk& w, const FirewallChain& chain);

Step run_rule(Walk& w, const FirewallChain& chain, const FirewallRule& rule) {
  boost::system::error_code ec;
  const json::value expr = json::parse(rule.expressions, ec);
  const std::string where =
      "table " + chain.family + " " + chain.table + ", chain " + chain.name + ", rule " + std::to_string(rule.handle);
  if (ec || !expr.is_array()) {
    w.answer = {FirewallOutcome::unknown, where, "its expressions are not a list"};
    return Step::unknown;
  }
  for (const json::value& e : expr.as_array()) {
    if (!e.is_object() || e.as_object().empty()) continue;
    const auto& [key, value] = *e.as_object().begin();
    if (key == "match") {
      std::string why;
      const Truth t = value.is_object() ? match_truth(value.as_object(), w.packet, why) : Truth::unknown;
      if (t == Truth::no) return Step::next;
      if (t == Truth::unknown) {
        w.answer = {FirewallOutcome::unknown, where, why.empty() ? "a match it cannot read" : why};
        return Step::unknown;
      }
    } else if (key == "counter" || key == "log" || key == "comment" || key == "mangle" || key == "notrack") {
      continue;  // no decision
    } else if (key == "accept") {
      return Step::accept;
    } else if (key == "drop" || key == "reject") {
      w.answer = {FirewallOutcome::stopped, where, ""};
      return Step::stop;
    } else if (key == "return") {
      return Step::ret;
    } else if (key == "continue") {
      return Step::next;
    } else if (key == "jump" || key == "goto") {
      const std::string target = value.is_object() ? json_text(value.as_object(), "target") : std::string();
      const FirewallChain* sub = w.ruleset.chain(chain.family, chain.table, target);
      if (sub == nullptr || ++w.depth > 16) {
        w.answer = {FirewallOutcome::unknown, where, "a jump to a chain it cannot follow: " + target};
        return Step::unknown;
      }
      const Step s = run_chain(w, *sub);
      --w.depth;
      if (s == Step::accept || s == Step::stop || s == Step::unknown) return s;
      // Back from a jump: the next rule. A goto replaced this chain: its end ends this one too.
      return key == "jump" ? Step::next : Step::ret;
    } else {
      w.answer = {FirewallOutcome::unknown, where, "the statement '" + std::string(key) + "'"};
      return Step::unknown;
    }
  }
  return Step::next;  // matched, no verdict: on to the next rule
}

Step run_chain(Walk& w, const FirewallChain& chain) {
  for (const FirewallRule& rule : chain.rules) {
    const Step s = run_rule(w, chain, rule);
    if (s != Step::next) return s;
  }
  return Step::next;
}

}  // namespace

const FirewallChain* Ruleset::chain(const std::string& family, const std::string& table,
                                    const std::string& name) const noexcept {
  for (const FirewallChain& c : chains) {
    if (c.family == family && c.table == table && c.name == name) return &c;
  }
  return nullptr;
}

Result<Ruleset> parse_ruleset(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return fail("the nftables ruleset is not JSON: " + ec.message());
  const json::value* list = v.is_object() ? v.as_object().if_contains("nftables") : nullptr;
  if (list == nullptr || !list->is_array()) return fail("not an nftables JSON listing (no \"nftables\" list)");
  Ruleset r;
  for (const json::value& item : list->as_array()) {
    if (!item.is_object()) continue;
    const json::object& o = item.as_object();
    if (const json::value* c = o.if_contains("chain"); c && c->is_object()) {
      FirewallChain chain;
      chain.family = json_text(c->as_object(), "family");
      chain.table = json_text(c->as_object(), "table");
      chain.name = json_text(c->as_object(), "name");
      chain.hook = json_text(c->as_object(), "hook");
      if (const std::string policy = json_text(c->as_object(), "policy"); !policy.empty()) chain.policy = policy;
      r.chains.push_back(std::move(chain));
    } else if (const json::value* rule = o.if_contains("rule"); rule && rule->is_object()) {
      const json::object& ro = rule->as_object();
      FirewallChain* chain = nullptr;
      for (FirewallChain& candidate : r.chains) {
        if (candidate.family == json_text(ro, "family") && candidate.table == json_text(ro, "table") &&
            candidate.name == json_text(ro, "chain")) {
          chain = &candidate;
        }
      }
      if (chain == nullptr) continue;  // a rule before its chain: not how nft lists them
      FirewallRule fr;
      if (const json::value* h = ro.if_contains("handle"); h && h->is_int64())
        fr.handle = static_cast<uint64_t>(h->as_int64());
      const json::value* expr = ro.if_contains("expr");
      fr.expressions = expr ? json::serialize(*expr) : "[]";
      fr.comment = json_text(ro, "comment");
      chain->rules.push_back(std::move(fr));
    }
  }
  return r;
}

FirewallAnswer evaluate(const Ruleset& ruleset, const DnsPacketSpec& packet) {
  FirewallAnswer overall;  // passes unless a chain stops it
  const char* own_family = packet.destination.family == 6 ? "ip6" : "ip";
  for (const FirewallChain& chain : ruleset.chains) {
    if (chain.hook != "output" || (chain.family != "inet" && chain.family != own_family)) continue;
    Walk w{ruleset, packet, {}, 0};
    const Step s = run_chain(w, chain);
    if (s == Step::stop) return w.answer;
    if (s == Step::unknown) {
      overall = w.answer;
      continue;
    }
    if ((s == Step::next || s == Step::ret) && (chain.policy == "drop")) {
      return {FirewallOutcome::stopped,
              "table " + chain.family + " " + chain.table + ", chain " + chain.name + " (policy drop)", ""};
    }
  }
  return overall;
}

std::optional<std::string> stops_dns(const Ruleset& ruleset, const std::string& interface,
                                     const net::IpAddress& destination) {
  std::string where;
  for (const net::Transport t : {net::Transport::udp, net::Transport::tcp}) {
    const FirewallAnswer a = evaluate(ruleset, DnsPacketSpec{interface, t, 53, destination});
    if (a.outcome != FirewallOutcome::stopped) return std::nullopt;
    if (where.empty()) where = a.where;
  }
  return where;
}

Result<std::string> list_ruleset_json() {
  struct Closer {
    void operator()(nft_ctx* c) const noexcept { nft_ctx_free(c); }
  };
  const std::unique_ptr<nft_ctx, Closer> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return fail("cannot start libnftables");
  nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return fail("cannot buffer libnftables' output");
  }
  if (nft_run_cmd_from_buffer(ctx.get(), "list ruleset") != 0) {
    const std::string error = nft_ctx_get_error_buffer(ctx.get());
    if (error.find("Operation not permitted") != std::string::npos) {
      Error e{"reading the firewall ruleset needs CAP_NET_ADMIN (run as root)", EPERM};
      return fail(std::move(e));
    }
    return fail("cannot list the firewall ruleset: " + error);
  }
  return std::string(nft_ctx_get_output_buffer(ctx.get()));
}

}  // namespace dnsleak::host
