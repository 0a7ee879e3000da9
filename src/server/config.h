// dnsleakd's configuration: a TOML file and command-line flags, validated once at start into an
// immutable ServerConfig.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/dns_service.h"
#include "auth/zone_config.h"
#include "enrich/enricher.h"

namespace dnsleak::server {

// A configuration problem, with a message naming the key or flag at fault.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Settings as given, before validation. Unset optionals keep the file's value or the default; the
// flags are applied over the file.
struct RawSettings {
  std::optional<std::string> zone;
  std::optional<std::string> node_id;
  std::optional<std::string> user;
  std::vector<std::string> dns_listen;
  std::vector<std::string> web_address;
  std::vector<std::string> nameserver;  // "NAME=ADDR[,ADDR...]"
  std::optional<std::string> secret_file;
  std::optional<std::string> observations_log;
  std::optional<std::string> contact;
  std::optional<int64_t> udp_workers;
  std::optional<int64_t> store_max_observations;
  std::optional<int64_t> store_max_age;
  std::optional<std::string> store_backend;        // "memory" or a redis:// URL
  std::optional<std::string> store_password_file;  // the Redis password, kept out of the URL
  std::optional<int64_t> store_queue;
  std::optional<int64_t> store_max_per_test;
  std::optional<int64_t> tcp_max_connections;
  std::optional<int64_t> tcp_idle_timeout;
  std::optional<int64_t> token_max_age;
  std::optional<int64_t> answer_ttl;
  std::optional<int64_t> negative_ttl;
  std::vector<std::string> http_listen;
  std::optional<std::string> web_root;
  std::vector<std::string> asn_db;
  std::vector<std::string> country_db;
  std::vector<std::string> resolver_operators;
  std::optional<bool> reverse_dns;
  // [http]
  std::optional<int64_t> http_max_connections, http_max_connections_per_client, http_create_rate, http_create_burst;
  // [rate_limit]
  std::optional<std::string> rate_limit_mode;  // on, off, log-only
  std::optional<int64_t> rate_limit_test, rate_limit_answer, rate_limit_nxdomain, rate_limit_error;
  std::optional<int64_t> rate_limit_burst, rate_limit_slip, rate_limit_ipv4_prefix, rate_limit_ipv6_prefix,
      rate_limit_table_size;
  std::vector<std::string> rate_limit_allow;
};

struct ServerConfig {
  auth::ZoneConfig zone;
  auth::DnsServiceOptions dns;
  std::string secret;
  std::string node_id;
  std::optional<std::string> user;  // switch to this user once ports are bound (see privileges.h)
  std::string observations_log;     // empty: none; "-": standard output
  uint32_t store_max_observations = 1u << 20;
  int64_t store_max_age_ms = 3'600'000;
  std::string store_backend = "memory";
  std::string store_password;  // from store.password_file; empty: the URL's, if any
  uint32_t store_queue = 65'536;
  // Node roles follow from the listeners: DNS only (no http_listen), API only (no dns_listen, a
  // shared store), or both.
  std::vector<net::SocketAddress> http_listen;  // empty: no HTTP server
  std::string web_root;
  size_t http_max_connections = 4096;
  size_t http_max_connections_per_client = 32;
  uint32_t http_create_rate = 2;  // tests a second per client; 0: unlimited
  uint32_t http_create_burst = 30;
  enrich::EnrichmentSources enrichment;
};

// Reads a TOML file into settings. Unknown keys are errors (a typo must not pass silently).
[[nodiscard]] RawSettings read_config_file(const std::string& path);
// The same from TOML text; `name` stands for the file in messages.
[[nodiscard]] RawSettings read_config_text(std::string_view text, const std::string& name);
// `over` wins where it sets something.
[[nodiscard]] RawSettings merge(RawSettings base, const RawSettings& over);
// Validates everything and reads the secret file.
[[nodiscard]] ServerConfig resolve(const RawSettings& raw);
// Reads and checks a secret file (at least 16 octets after trailing white space is cut).
[[nodiscard]] std::string read_secret_file(const std::string& path);

}  // namespace dnsleak::server
