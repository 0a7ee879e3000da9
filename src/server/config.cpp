#include "server/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "store/redis_client.h"

namespace dnsleak::server {
namespace {

constexpr size_t kMinSecretLength = 16;

std::string where(const toml::node& node) {
  const auto& s = node.source().begin;
  return " (line " + std::to_string(s.line) + ")";
}

std::string get_string(const toml::node& node, const std::string& key) {
  if (const auto v = node.value<std::string>()) return *v;
  throw ConfigError("config: '" + key + "' must be a string" + where(node));
}

int64_t get_integer(const toml::node& node, const std::string& key) {
  // The type first: toml++'s value<int64_t>() casts a float such as 2e48 to int64_t, which is
  // undefined (the config fuzzer found it).
  if (const toml::value<int64_t>* v = node.as_integer()) return v->get();
  throw ConfigError("config: '" + key + "' must be an integer" + where(node));
}

std::vector<std::string> get_strings(const toml::node& node, const std::string& key) {
  const toml::array* array = node.as_array();
  if (array == nullptr) throw ConfigError("config: '" + key + "' must be an array of strings" + where(node));
  std::vector<std::string> out;
  for (const toml::node& item : *array) out.push_back(get_string(item, key));
  return out;
}

void read_section(const toml::table& table, const std::string& prefix, RawSettings& raw);

int64_t in_range(const std::optional<int64_t>& value, int64_t fallback, int64_t low, int64_t high,
                 const std::string& name) {
  const int64_t v = value.value_or(fallback);
  if (v < low || v > high) {
    throw ConfigError(name + ": " + std::to_string(v) + " is out of range (" + std::to_string(low) + " to " +
                      std::to_string(high) + ")");
  }
  return v;
}

// Names the zone serves under (the apex, its name servers) are host names: resolvers and browsers
// must be able to look them up. The SOA contact is a mailbox and may hold other characters.
enum class NameKind : uint8_t { host, mailbox };

dns::DnsName parse_name(const std::string& text, const std::string& name, NameKind kind = NameKind::host) {
  dns::DnsName out;
  if (text.empty() || !out.from_text(text) || out.label_count() == 0) {
    throw ConfigError(name + ": '" + text + "' is not a valid domain name");
  }
  if (kind == NameKind::host && !out.is_host_name()) {
    throw ConfigError(name + ": '" + text +
                      "' is not a host name (labels of letters, digits and inner hyphens, RFC 1123)");
  }
  return out.lowercased();
}

void add_address(const std::string& text, std::vector<auth::Ipv4Bytes>& v4, std::vector<auth::Ipv6Bytes>& v6,
                 const std::string& name) {
  auth::Ipv4Bytes a4;
  auth::Ipv6Bytes a6;
  if (inet_pton(AF_INET, text.c_str(), a4.data()) == 1)
    v4.push_back(a4);
  else if (inet_pton(AF_INET6, text.c_str(), a6.data()) == 1)
    v6.push_back(a6);
  else
    throw ConfigError(name + ": '" + text + "' is not an IPv4 or IPv6 address");
}

}  // namespace

namespace {
void read_section(const toml::table& table, const std::string& prefix, RawSettings& raw) {
  for (const auto& [key_view, node] : table) {
    const std::string key = prefix + std::string(key_view.str());
    if (key == "zone")
      raw.zone = get_string(node, key);
    else if (key == "node_id")
      raw.node_id = get_string(node, key);
    else if (key == "user")
      raw.user = get_string(node, key);
    else if (key == "dns_listen")
      raw.dns_listen = get_strings(node, key);
    else if (key == "web_address")
      raw.web_address = get_strings(node, key);
    else if (key == "secret_file")
      raw.secret_file = get_string(node, key);
    else if (key == "observations_log")
      raw.observations_log = get_string(node, key);
    else if (key == "contact")
      raw.contact = get_string(node, key);
    else if (key == "udp_workers")
      raw.udp_workers = get_integer(node, key);
    else if (key == "token_max_age")
      raw.token_max_age = get_integer(node, key);
    else if (key == "answer_ttl")
      raw.answer_ttl = get_integer(node, key);
    else if (key == "negative_ttl")
      raw.negative_ttl = get_integer(node, key);
    else if (key == "store.max_observations")
      raw.store_max_observations = get_integer(node, key);
    else if (key == "store.max_age")
      raw.store_max_age = get_integer(node, key);
    else if (key == "store.backend")
      raw.store_backend = get_string(node, key);
    else if (key == "store.password_file")
      raw.store_password_file = get_string(node, key);
    else if (key == "store.queue")
      raw.store_queue = get_integer(node, key);
    else if (key == "store.max_per_test")
      raw.store_max_per_test = get_integer(node, key);
    else if (key == "tcp.max_connections")
      raw.tcp_max_connections = get_integer(node, key);
    else if (key == "tcp.idle_timeout_ms")
      raw.tcp_idle_timeout = get_integer(node, key);
    else if (key == "rate_limit.mode")
      raw.rate_limit_mode = get_string(node, key);
    else if (key == "rate_limit.test")
      raw.rate_limit_test = get_integer(node, key);
    else if (key == "rate_limit.answer")
      raw.rate_limit_answer = get_integer(node, key);
    else if (key == "rate_limit.nxdomain")
      raw.rate_limit_nxdomain = get_integer(node, key);
    else if (key == "rate_limit.error")
      raw.rate_limit_error = get_integer(node, key);
    else if (key == "rate_limit.burst")
      raw.rate_limit_burst = get_integer(node, key);
    else if (key == "rate_limit.slip")
      raw.rate_limit_slip = get_integer(node, key);
    else if (key == "rate_limit.ipv4_prefix")
      raw.rate_limit_ipv4_prefix = get_integer(node, key);
    else if (key == "rate_limit.ipv6_prefix")
      raw.rate_limit_ipv6_prefix = get_integer(node, key);
    else if (key == "rate_limit.table_size")
      raw.rate_limit_table_size = get_integer(node, key);
    else if (key == "rate_limit.allow")
      raw.rate_limit_allow = get_strings(node, key);
    else if (key == "http.max_connections")
      raw.http_max_connections = get_integer(node, key);
    else if (key == "http.max_connections_per_client")
      raw.http_max_connections_per_client = get_integer(node, key);
    else if (key == "http.tests_per_second")
      raw.http_create_rate = get_integer(node, key);
    else if (key == "http.tests_burst")
      raw.http_create_burst = get_integer(node, key);
    else if ((key == "store" || key == "tcp" || key == "rate_limit" || key == "http") && node.is_table())
      read_section(*node.as_table(), key + ".", raw);
    else if (key == "nameserver" && node.is_array()) {
      raw.nameserver.clear();
      for (const toml::node& item : *node.as_array()) {
        const toml::table* ns = item.as_table();
        if (ns == nullptr) throw ConfigError("config: [[nameserver]] entries must be tables" + where(item));
        std::string name, addresses;
        for (const auto& [k, v] : *ns) {
          if (k.str() == "name")
            name = get_string(v, "nameserver.name");
          else if (k.str() == "addresses") {
            for (const std::string& a : get_strings(v, "nameserver.addresses"))
              addresses += (addresses.empty() ? "" : ",") + a;
          } else {
            throw ConfigError("config: unknown key 'nameserver." + std::string(k.str()) + "'" + where(v));
          }
        }
        if (name.empty()) throw ConfigError("config: a [[nameserver]] entry has no 'name'" + where(item));
        raw.nameserver.push_back(name.append("=").append(addresses));
      }
    } else {
      throw ConfigError("config: unknown key '" + key + "'" + where(node));
    }
  }
}
}  // namespace

RawSettings read_config_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError("config: cannot read '" + path + "'");
  std::stringstream text;
  text << file.rdbuf();
  return read_config_text(text.str(), path);
}

RawSettings read_config_text(std::string_view text, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError("config: " + path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                      std::string(e.description()));
  }
  RawSettings raw;
  read_section(table, "", raw);
  return raw;
}

RawSettings merge(RawSettings base, const RawSettings& over) {
  auto take = [](auto& into, const auto& from) {
    if (from) into = from;
  };
  auto take_list = [](std::vector<std::string>& into, const std::vector<std::string>& from) {
    if (!from.empty()) into = from;
  };
  take(base.zone, over.zone);
  take(base.node_id, over.node_id);
  take(base.user, over.user);
  take_list(base.dns_listen, over.dns_listen);
  take_list(base.web_address, over.web_address);
  take_list(base.nameserver, over.nameserver);
  take(base.secret_file, over.secret_file);
  take(base.observations_log, over.observations_log);
  take(base.contact, over.contact);
  take(base.udp_workers, over.udp_workers);
  take(base.store_max_observations, over.store_max_observations);
  take(base.store_max_age, over.store_max_age);
  take(base.store_backend, over.store_backend);
  take(base.store_password_file, over.store_password_file);
  take(base.store_queue, over.store_queue);
  take(base.store_max_per_test, over.store_max_per_test);
  take(base.tcp_max_connections, over.tcp_max_connections);
  take(base.tcp_idle_timeout, over.tcp_idle_timeout);
  take(base.token_max_age, over.token_max_age);
  take(base.answer_ttl, over.answer_ttl);
  take(base.negative_ttl, over.negative_ttl);
  take_list(base.http_listen, over.http_listen);
  take(base.web_root, over.web_root);
  take_list(base.asn_db, over.asn_db);
  take_list(base.country_db, over.country_db);
  take_list(base.resolver_operators, over.resolver_operators);
  take(base.reverse_dns, over.reverse_dns);
  take(base.http_max_connections, over.http_max_connections);
  take(base.http_max_connections_per_client, over.http_max_connections_per_client);
  take(base.http_create_rate, over.http_create_rate);
  take(base.http_create_burst, over.http_create_burst);
  take(base.rate_limit_mode, over.rate_limit_mode);
  take(base.rate_limit_test, over.rate_limit_test);
  take(base.rate_limit_answer, over.rate_limit_answer);
  take(base.rate_limit_nxdomain, over.rate_limit_nxdomain);
  take(base.rate_limit_error, over.rate_limit_error);
  take(base.rate_limit_burst, over.rate_limit_burst);
  take(base.rate_limit_slip, over.rate_limit_slip);
  take(base.rate_limit_ipv4_prefix, over.rate_limit_ipv4_prefix);
  take(base.rate_limit_ipv6_prefix, over.rate_limit_ipv6_prefix);
  take(base.rate_limit_table_size, over.rate_limit_table_size);
  take_list(base.rate_limit_allow, over.rate_limit_allow);
  return base;
}

namespace {

// A file's text without its trailing line ends; `key` names the setting in the error.
std::string read_text_file(const std::string& path, const std::string& key) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError(key + ": cannot read '" + path + "'");
  std::stringstream text;
  text << file.rdbuf();
  std::string content = text.str();
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

}  // namespace

std::string read_secret_file(const std::string& path) {
  std::string secret = read_text_file(path, "secret_file");
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  if (secret.size() < kMinSecretLength) {
    throw ConfigError("secret_file: '" + path + "' holds " + std::to_string(secret.size()) + " octets; at least " +
                      std::to_string(kMinSecretLength) + " are needed (e.g. head -c 32 /dev/urandom | base64 > " +
                      path + ")");
  }
  return secret;
}

ServerConfig resolve(const RawSettings& raw) {
  ServerConfig config;
  if (!raw.zone) throw ConfigError("zone: not set (--zone or 'zone' in the config file)");
  config.zone.apex = parse_name(*raw.zone, "zone");

  if (raw.web_address.empty()) {
    throw ConfigError("web_address: not set (--web-address or 'web_address'); test names must point somewhere");
  }
  for (const std::string& a : raw.web_address)
    add_address(a, config.zone.web_ipv4, config.zone.web_ipv6, "web_address");

  for (const std::string& spec : raw.nameserver) {
    const size_t eq = spec.find('=');
    auth::NameServer ns;
    ns.name = parse_name(spec.substr(0, eq), "nameserver");
    if (eq != std::string::npos) {
      std::stringstream list(spec.substr(eq + 1));
      std::string address;
      while (std::getline(list, address, ',')) {
        if (!address.empty()) add_address(address, ns.ipv4, ns.ipv6, "nameserver " + spec.substr(0, eq));
      }
    }
    const bool in_zone = ns.name.ends_with(config.zone.apex);
    if (in_zone && ns.name.label_count() != config.zone.apex.label_count() + 1) {
      throw ConfigError("nameserver: '" + spec.substr(0, eq) +
                        "' must be one label below the zone apex (or outside the zone)");
    }
    if (in_zone && ns.ipv4.empty() && ns.ipv6.empty()) {
      throw ConfigError("nameserver: '" + spec.substr(0, eq) +
                        "' is in the zone and needs addresses (NAME=ADDR[,ADDR])");
    }
    config.zone.nameservers.push_back(ns);
  }
  if (config.zone.nameservers.empty()) {
    // One host serving both DNS and HTTP: ns1.<zone> at the web addresses.
    auth::NameServer ns;
    ns.name = parse_name("ns1." + *raw.zone, "zone");
    ns.ipv4 = config.zone.web_ipv4;
    ns.ipv6 = config.zone.web_ipv6;
    config.zone.nameservers.push_back(ns);
  }
  config.zone.soa_rname = parse_name(raw.contact.value_or("hostmaster." + *raw.zone), "contact", NameKind::mailbox);

  config.zone.answer_ttl = static_cast<uint32_t>(in_range(raw.answer_ttl, 300, 0, 86400, "answer_ttl"));
  config.zone.negative_ttl = static_cast<uint32_t>(in_range(raw.negative_ttl, 60, 0, 86400, "negative_ttl"));

  // No DNS listener named: an API-only node if it serves HTTP, else the DNS defaults.
  const std::vector<std::string> listen = !raw.dns_listen.empty()   ? raw.dns_listen
                                          : raw.http_listen.empty() ? std::vector<std::string>{"0.0.0.0:53", "[::]:53"}
                                                                    : std::vector<std::string>{};
  for (const std::string& text : listen) {
    const auto address = net::parse_socket_address(text);
    if (!address) throw ConfigError("dns_listen: '" + text + "' is not ADDR:PORT (IPv6 as [ADDR]:PORT)");
    config.dns.listen.push_back(*address);
  }
  config.dns.udp_workers = static_cast<unsigned>(in_range(raw.udp_workers, 1, 1, 64, "udp_workers"));
  config.dns.tcp_max_connections =
      static_cast<unsigned>(in_range(raw.tcp_max_connections, 256, 1, 65536, "tcp.max_connections"));
  config.dns.tcp_idle_timeout_ms =
      static_cast<int>(in_range(raw.tcp_idle_timeout, 10'000, 100, 600'000, "tcp.idle_timeout_ms"));
  auth::RateLimitOptions& rrl = config.dns.rate_limit;
  const std::string mode = raw.rate_limit_mode.value_or("on");
  if (mode == "on")
    rrl.mode = auth::RateMode::on;
  else if (mode == "off")
    rrl.mode = auth::RateMode::off;
  else if (mode == "log-only")
    rrl.mode = auth::RateMode::log_only;
  else
    throw ConfigError("rate_limit.mode: '" + mode + "' is not on, off or log-only");
  constexpr int64_t kMaxRate = 10'000'000;
  const auto rate = [&](const std::optional<int64_t>& v, uint32_t fallback, const char* name) {
    return static_cast<uint32_t>(in_range(v, fallback, 0, kMaxRate, std::string("rate_limit.") + name));
  };
  rrl.test_rate = rate(raw.rate_limit_test, rrl.test_rate, "test");
  rrl.answer_rate = rate(raw.rate_limit_answer, rrl.answer_rate, "answer");
  rrl.nxdomain_rate = rate(raw.rate_limit_nxdomain, rrl.nxdomain_rate, "nxdomain");
  rrl.error_rate = rate(raw.rate_limit_error, rrl.error_rate, "error");
  rrl.burst_seconds =
      static_cast<uint32_t>(in_range(raw.rate_limit_burst, rrl.burst_seconds, 1, 60, "rate_limit.burst"));
  rrl.slip = static_cast<uint32_t>(in_range(raw.rate_limit_slip, rrl.slip, 0, 10, "rate_limit.slip"));
  rrl.ipv4_prefix =
      static_cast<uint8_t>(in_range(raw.rate_limit_ipv4_prefix, rrl.ipv4_prefix, 8, 32, "rate_limit.ipv4_prefix"));
  rrl.ipv6_prefix =
      static_cast<uint8_t>(in_range(raw.rate_limit_ipv6_prefix, rrl.ipv6_prefix, 16, 128, "rate_limit.ipv6_prefix"));
  rrl.table_size = static_cast<uint32_t>(
      in_range(raw.rate_limit_table_size, rrl.table_size, 1024, int64_t{1} << 24, "rate_limit.table_size"));
  for (const std::string& text : raw.rate_limit_allow) {
    Result<net::Prefix> prefix = net::parse_prefix(text);
    if (!prefix) throw ConfigError("rate_limit.allow: " + prefix.error().message);
    rrl.allow.push_back(*prefix);
  }
  config.store_max_observations = static_cast<uint32_t>(
      in_range(raw.store_max_observations, 1 << 20, 1024, (int64_t{1} << 26) - 1, "store.max_observations"));
  config.store_max_age_ms = 1000 * in_range(raw.store_max_age, 3600, 10, int64_t{30} * 86400, "store.max_age");
  // Default: an hour, or less if the store keeps observations for less.
  config.zone.token_max_age_seconds =
      static_cast<uint32_t>(in_range(raw.token_max_age, std::min<int64_t>(3600, config.store_max_age_ms / 1000), 10,
                                     int64_t{30} * 86400, "token_max_age"));
  if (int64_t{config.zone.token_max_age_seconds} * 1000 > config.store_max_age_ms) {
    // A test whose id still opens but whose observations are gone would show empty results.
    throw ConfigError("token_max_age (" + std::to_string(config.zone.token_max_age_seconds) +
                      " s) must not exceed store.max_age (" + std::to_string(config.store_max_age_ms / 1000) + " s)");
  }

  config.dns.max_observations_per_test =
      static_cast<uint32_t>(in_range(raw.store_max_per_test, 4096, 0, 1 << 24, "store.max_per_test"));
  config.dns.token_lifetime_s = config.zone.token_max_age_seconds;
  config.store_backend = raw.store_backend.value_or("memory");
  std::optional<store::RedisEndpoint> redis;
  if (config.store_backend.starts_with("redis")) {
    Result<store::RedisEndpoint> endpoint = store::parse_redis_url(config.store_backend);
    if (!endpoint) throw ConfigError("store.backend: " + endpoint.error().message);
    redis = std::move(*endpoint);
  } else if (config.store_backend != "memory") {
    throw ConfigError("store.backend: '" + config.store_backend +
                      "' is neither memory nor a redis://[USER:PASSWORD@]HOST:PORT[/DB] URL");
  }
  if (raw.store_password_file) {
    if (!redis) throw ConfigError("store.password_file: only a redis:// store has a password");
    config.store_password = read_text_file(*raw.store_password_file, "store.password_file");
    if (config.store_password.empty())
      throw ConfigError("store.password_file: '" + *raw.store_password_file + "' is empty");
  }
  if (redis && !redis->user.empty() && redis->password.empty() && config.store_password.empty()) {
    throw ConfigError("store.backend: the user '" + redis->user +
                      "' needs a password (USER:PASSWORD@ in the URL, or store.password_file)");
  }
  // Each waiting observation takes ~0.4 KiB, reserved at start: 1M is ~400 MiB.
  config.store_queue = static_cast<uint32_t>(in_range(raw.store_queue, 65'536, 1024, 1 << 20, "store.queue"));
  if (config.dns.listen.empty() && !redis) {
    throw ConfigError(
        "dns_listen: an API-only node (http_listen without dns_listen) needs a shared store (--store redis://…):"
        " with the memory store it would never see an observation");
  }

  if (!raw.secret_file)
    throw ConfigError("secret_file: not set (--secret-file or 'secret_file'); tokens need a secret");
  config.secret = read_secret_file(*raw.secret_file);
  config.node_id = raw.node_id.value_or("");
  if (config.node_id.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "dnsleakd");
    config.node_id = host;
  }
  // Written into observations, Redis entries and NSID answers: keep it a plain name.
  if (config.node_id.size() > 63 || config.node_id == "-" ||
      config.node_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos) {
    throw ConfigError("node_id: '" + config.node_id + "' must be 1-63 characters of [A-Za-z0-9._-]");
  }
  config.zone.nsid = config.node_id;
  if (raw.user && raw.user->empty()) throw ConfigError("user: empty (a user name, or \"root\" to stay root)");
  config.user = raw.user;
  config.observations_log = raw.observations_log.value_or("");
  for (const std::string& text : raw.http_listen) {
    const auto address = net::parse_socket_address(text);
    if (!address) throw ConfigError("http_listen: '" + text + "' is not ADDR:PORT (IPv6 as [ADDR]:PORT)");
    config.http_listen.push_back(*address);
  }
  config.web_root = raw.web_root.value_or("");
  config.http_max_connections =
      static_cast<size_t>(in_range(raw.http_max_connections, 4096, 1, 1'000'000, "http.max_connections"));
  config.http_max_connections_per_client = static_cast<size_t>(
      in_range(raw.http_max_connections_per_client, 32, 1, static_cast<int64_t>(config.http_max_connections),
               "http.max_connections_per_client"));
  config.http_create_rate =
      static_cast<uint32_t>(in_range(raw.http_create_rate, 2, 0, 100'000, "http.tests_per_second"));
  config.http_create_burst =
      static_cast<uint32_t>(in_range(raw.http_create_burst, 30, 1, 1'000'000, "http.tests_burst"));
  config.enrichment = {raw.asn_db, raw.country_db, raw.resolver_operators, raw.reverse_dns.value_or(true)};
  return config;
}

}  // namespace dnsleak::server
