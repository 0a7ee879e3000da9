#include "server/server_options.h"

#include <CLI/CLI.hpp>

namespace dnsleak::server {
namespace {

void add_int(CLI::App& app, const std::string& flag, std::optional<int64_t>& into, const std::string& help) {
  app.add_option_function<int64_t>(
      flag, [&into](const int64_t& v) { into = v; }, help);
}

}  // namespace

Command parse_command_line(int argc, char** argv) {
  CLI::App app{
      "dnsleakd: the authoritative DNS server of a DNS leak test. It serves one test zone and records\n"
      "which recursive resolver asks for each unique test name (<token>-<probe>.<zone>).\n"
      "Settings come from --config (TOML) and the flags below; a flag wins over the file."};
  app.set_version_flag("--version", "dnsleakd 0.1.0");
  std::string config_file;
  RawSettings flags;
  app.add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  app.add_option_function<std::string>(
      "--zone", [&](const std::string& v) { flags.zone = v; }, "the test zone, e.g. leak.example.org");
  app.add_option("--dns-listen", flags.dns_listen,
                 "ADDR:PORT for UDP and TCP, repeatable ([ADDR]:PORT for IPv6; port 0 = any free port)"
                 " [default: 0.0.0.0:53 and [::]:53; none when --http-listen is given: an API-only node]");
  app.add_option("--web-address", flags.web_address,
                 "address that the apex and test names resolve to (the web server), repeatable");
  app.add_option("--nameserver", flags.nameserver,
                 "NAME=ADDR[,ADDR] a name server of the zone with its addresses, repeatable"
                 " [default: ns1.<zone> at the web addresses]");
  app.add_option_function<std::string>(
      "--secret-file", [&](const std::string& v) { flags.secret_file = v; },
      "file holding the token secret shared by all nodes (>= 16 octets)");
  app.add_option_function<std::string>(
      "--observations-log", [&](const std::string& v) { flags.observations_log = v; },
      "append every observation as a JSON line to FILE ('-' = stdout)");
  app.add_option_function<std::string>(
      "--node-id", [&](const std::string& v) { flags.node_id = v; },
      "this node's name in observations [default: host name]");
  app.add_option_function<std::string>(
      "--user", [&](const std::string& v) { flags.user = v; },
      "started as root: switch to this user (and its group) once the ports are bound, keeping no capability;"
      " 'root' stays root [default: stay root, with a warning]");
  add_int(app, "--udp-workers", flags.udp_workers,
          "UDP receive threads per listen address, each on its own socket [default: 1]");
  add_int(app, "--store-max-observations", flags.store_max_observations,
          "observations held in memory at most; the oldest go first [default: 1048576]");
  add_int(app, "--store-max-age", flags.store_max_age, "seconds an observation is kept [default: 3600]");
  app.add_option_function<std::string>(
      "--store", [&](const std::string& v) { flags.store_backend = v; },
      "where observations and egress are kept: memory (this node alone) or redis://[USER:PASSWORD@]HOST:PORT[/DB],"
      " shared by every node [default: memory]");
  app.add_option_function<std::string>(
      "--store-password-file", [&](const std::string& v) { flags.store_password_file = v; },
      "file holding the Redis password (instead of putting it in the URL)");
  add_int(app, "--store-max-per-test", flags.store_max_per_test,
          "observations one test may add (refilled over --token-max-age); more are counted, not kept; 0 = no cap"
          " [default: 4096]");
  add_int(app, "--store-queue", flags.store_queue,
          "observations waiting for the Redis writer at most; more are dropped and counted [default: 65536]");
  add_int(app, "--tcp-max-connections", flags.tcp_max_connections, "open TCP connections at most [default: 256]");
  add_int(app, "--tcp-idle-timeout-ms", flags.tcp_idle_timeout,
          "close TCP connections idle (or stalled mid-message) this long [default: 10000]");
  add_int(
      app, "--token-max-age", flags.token_max_age,
      "seconds a test (its names and results) stays valid; at most --store-max-age [default: 3600 or --store-max-age]");
  add_int(app, "--answer-ttl", flags.answer_ttl, "TTL of the apex's and test names' A/AAAA [default: 300]");
  add_int(app, "--negative-ttl", flags.negative_ttl, "SOA minimum: how long NXDOMAIN/NODATA is cached [default: 60]");
  app.add_option("--http-listen", flags.http_listen,
                 "ADDR:PORT for the HTTP API, the page and the HTTP probes, repeatable [default: none]");
  add_int(app, "--http-max-connections", flags.http_max_connections,
          "open HTTP connections at most (an idle one costs a few KiB) [default: 4096]");
  add_int(app, "--http-max-connections-per-client", flags.http_max_connections_per_client,
          "open HTTP connections of one client (IPv4 address, IPv6 /64) at most [default: 32]");
  add_int(app, "--http-tests-per-second", flags.http_create_rate,
          "tests one client may create a second (then 429 with Retry-After); 0 = unlimited [default: 2]");
  add_int(app, "--http-tests-burst", flags.http_create_burst, "tests one client may create at once [default: 30]");
  app.add_option_function<std::string>(
      "--web-root", [&](const std::string& v) { flags.web_root = v; },
      "directory of the page (index.html, app.js, style.css) [default: web/ of the source tree]");
  app.add_option("--asn-db", flags.asn_db, "IP-to-ASN CSV (ip-location-db layout) or GeoLite2-ASN .mmdb, repeatable");
  app.add_option("--country-db", flags.country_db,
                 "IP-to-country .mmdb (ip-location-db or GeoLite2) or .csv, repeatable");
  app.add_flag_function(
      "--no-reverse-dns", [&](int64_t) { flags.reverse_dns = false; },
      "do not look up resolvers' PTR names (through the host's resolver, in the background)");
  app.add_option("--resolver-operators", flags.resolver_operators,
                 "CSV asn,operator,source of known public resolvers, repeatable");
  app.add_option_function<std::string>(
      "--rate-limit", [&](const std::string& v) { flags.rate_limit_mode = v; },
      "response rate limiting of UDP answers: on, off or log-only (count and log, limit nothing) [default: on]");
  add_int(app, "--rate-limit-test", flags.rate_limit_test,
          "answers a second for one test token to one resolver prefix; 0 = unlimited [default: 50]");
  add_int(app, "--rate-limit-answer", flags.rate_limit_answer,
          "answers a second for one other name of the zone to one prefix; 0 = unlimited [default: 100]");
  add_int(app, "--rate-limit-nxdomain", flags.rate_limit_nxdomain,
          "NXDOMAIN (and forged or expired token) answers a second to one prefix; 0 = unlimited [default: 20]");
  add_int(app, "--rate-limit-error", flags.rate_limit_error,
          "REFUSED/FORMERR/NOTIMP answers a second to one prefix; 0 = unlimited [default: 10]");
  add_int(app, "--rate-limit-slip", flags.rate_limit_slip,
          "every Nth limited answer is sent empty with TC=1 (the resolver retries over TCP); 0 = none [default: 2]");
  app.add_option("--rate-limit-allow", flags.rate_limit_allow,
                 "a prefix (ADDR/LEN) never rate limited, repeatable [default: none]");
  app.add_option_function<std::string>(
      "--contact", [&](const std::string& v) { flags.contact = v; },
      "the SOA's contact name [default: hostmaster.<zone>]");

  CLI::App* token = app.add_subcommand("token", "print a fresh valid test token for the configured secret");
  std::string token_config, token_secret, token_probe;
  token->add_option("--config", token_config, "TOML configuration file (its secret_file and zone)")
      ->check(CLI::ExistingFile);
  token->add_option("--secret-file", token_secret, "file holding the token secret");
  token->add_option("--probe", token_probe, "also print the test name <token>-<probe>.<zone> (1-8 of [a-z0-9])");
  std::string token_zone;
  token->add_option("--zone", token_zone, "zone for the test name [default: the config's zone]");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ExitCommand{app.exit(e)};
  }

  if (*token) {
    RawSettings file = token_config.empty() ? RawSettings{} : read_config_file(token_config);
    const std::string secret_path = !token_secret.empty() ? token_secret : file.secret_file.value_or("");
    if (secret_path.empty()) throw ConfigError("token: give --secret-file or --config with secret_file");
    TokenCommand command;
    command.secret = read_secret_file(secret_path);
    command.zone = !token_zone.empty() ? token_zone : file.zone.value_or("");
    command.probe = token_probe;
    if (!command.probe.empty() && command.zone.empty()) throw ConfigError("token: --probe needs --zone or --config");
    return command;
  }
  RawSettings settings = config_file.empty() ? RawSettings{} : read_config_file(config_file);
  return ServeCommand{merge(std::move(settings), flags)};
}

}  // namespace dnsleak::server
