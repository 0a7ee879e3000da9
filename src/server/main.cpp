// dnsleakd: parse the command line, run the server until SIGTERM/SIGINT, clean up.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "auth/cookies.h"
#include "auth/dns_service.h"
#include "auth/responder.h"
#include "enrich/enricher.h"
#include "http/api.h"
#include "http/http_server.h"
#include "net/random.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/privileges.h"
#include "server/server_options.h"
#include "store/observation_log.h"
#include "store/redis_client.h"
#include "store/store.h"
#include "testname/test_token.h"

namespace {

using namespace dnsleak;

// One line, written at once: readers of stderr (tests, the benchmark) never see half of it.
void print_store_stats(const store::StoreStats& s, const std::vector<store::ObservationSink*>& sinks) {
  const auto n = [](uint64_t v) { return std::to_string(v); };
  std::string line = "dnsleakd: store held=" + n(s.held) + " recorded=" + n(s.recorded) +
                     " evicted=" + n(s.evicted_capacity + s.evicted_expired) + " lost=" + n(s.lost);
  if (s.queue_capacity != 0) {
    line += " queued=" + n(s.queued);
    line += s.backend_up ? " backend=up" : " backend=down";
  }
  for (const store::ObservationSink* sink : sinks) {
    if (std::string_view(sink->sink_name()) == "store") continue;
    line += "; ";
    line += sink->sink_name();
    line += " recorded=" + n(sink->sink_stats().recorded) + " lost=" + n(sink->sink_stats().lost);
  }
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

// The store as logs may show it: a Redis URL without its password.
std::string store_display(const std::string& backend) {
  const Result<store::RedisEndpoint> endpoint = store::parse_redis_url(backend);
  return endpoint ? endpoint->display() : backend;
}

// A failure at start: said once, the exit code 1.
int startup_error(const Error& e) {
  std::fprintf(stderr, "dnsleakd: %s\n", e.message.c_str());
  return 1;
}

int print_token(const server::TokenCommand& command) {
  const testname::TokenAuthority authority(command.secret);
  const Result<testname::TestToken> issued = authority.issue(static_cast<uint32_t>(std::time(nullptr)));
  if (!issued) {
    std::fprintf(stderr, "dnsleakd: %s\n", issued.error().message.c_str());
    return 1;
  }
  const testname::TestToken& token = *issued;
  if (command.probe.empty()) {
    std::printf("%s\n", token.text().c_str());
    return 0;
  }
  const auto probe =
      testname::ProbeLabel::parse({reinterpret_cast<const uint8_t*>(command.probe.data()), command.probe.size()});
  if (!probe) {
    std::fprintf(stderr, "dnsleakd: --probe '%s' must be 1-8 characters of [a-z0-9]\n", command.probe.c_str());
    return 2;
  }
  std::string zone = command.zone;
  if (!zone.empty() && zone.back() == '.') zone.pop_back();
  std::printf("%s-%.*s.%s\n", token.text().c_str(), static_cast<int>(probe->length), probe->chars.data(), zone.c_str());
  return 0;
}

int serve(const server::ServerConfig& config) {
  // Signals are taken synchronously by this thread; block them before any worker starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Connections are capped by the configuration, not by the soft descriptor limit (often 1024):
  // raise it to the hard limit. Failing leaves the soft limit, which the caps then meet earlier.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) {
      std::fprintf(stderr, "dnsleakd: cannot raise the descriptor limit to %llu; connections may be refused earlier\n",
                   static_cast<unsigned long long>(files.rlim_max));
    }
  }
  const testname::TokenAuthority tokens(config.secret, config.zone.token_max_age_seconds);
  const auth::CookieAuthority cookies(config.secret);
  const auth::Responder responder(config.zone, tokens, &cookies);

  // What needs privileges comes first: the observation log opened (its directory may be root's),
  // the enrichment data read, every port bound. Then privileges go, before any thread starts (a
  // thread keeps the capabilities it was made with), and the rest is built unprivileged.
  std::unique_ptr<store::ObservationLog> log;
  if (!config.observations_log.empty()) {
    Result<std::unique_ptr<store::ObservationLog>> opened =
        store::ObservationLog::open(config.observations_log, config.node_id);
    if (!opened) return startup_error(opened.error());
    log = std::move(*opened);
  }
  std::unique_ptr<enrich::Enricher> enricher;
  if (!config.http_listen.empty()) {
    Result<std::unique_ptr<enrich::Enricher>> loaded = enrich::Enricher::load(config.enrichment);
    if (!loaded) return startup_error(loaded.error());
    enricher = std::move(*loaded);
  }
  // No DNS listener: an API-only node, reading what the DNS nodes write to the shared store.
  std::unique_ptr<auth::DnsService> service;
  if (!config.dns.listen.empty()) {
    Result<std::unique_ptr<auth::DnsService>> made_service = auth::DnsService::create(config.dns, responder);
    if (!made_service) return startup_error(made_service.error());
    service = std::move(*made_service);
  }
  std::unique_ptr<http::HttpServer> http_server;
  if (!config.http_listen.empty()) {
    http::HttpServerOptions http_options;
    http_options.listen = config.http_listen;
    http_options.max_connections = config.http_max_connections;
    http_options.max_connections_per_client = config.http_max_connections_per_client;
    Result<std::unique_ptr<http::HttpServer>> made_http = http::HttpServer::create(http_options);
    if (!made_http) return startup_error(made_http.error());
    http_server = std::move(*made_http);
  }
  Result<server::PrivilegeReport> privileges = server::drop_privileges(config.user);
  if (!privileges) return startup_error(privileges.error());
  if (!privileges->message.empty()) std::fprintf(stderr, "dnsleakd: %s\n", privileges->message.c_str());

  store::StoreOptions store_options;
  store_options.max_observations = config.store_max_observations;
  store_options.max_age_ms = config.store_max_age_ms;
  store_options.zone = config.zone.apex;
  store_options.backend = config.store_backend;
  store_options.password = config.store_password;
  store_options.node_id = config.node_id;
  store_options.queue = config.store_queue;
  Result<std::unique_ptr<store::ObservationStore>> made_store = store::make_store(std::move(store_options));
  if (!made_store) return startup_error(made_store.error());
  store::ObservationStore& observation_store = **made_store;
  std::vector<store::ObservationSink*> sinks{&observation_store};
  if (log) sinks.push_back(log.get());
  const auto counters = [&service] { return service ? service->counters() : auth::CounterTotals{}; };

  // HTTP: the API, the page, the probes.
  std::unique_ptr<http::Api> api;
  if (http_server) {
    http::ApiConfig api_config;
    api_config.zone = config.zone.apex;
    api_config.web_root = config.web_root.empty() ? DNSLEAK_DEFAULT_WEB_ROOT : config.web_root;
    api_config.create_rate = config.http_create_rate;
    api_config.create_burst = config.http_create_burst;
    if (Result<void> seeded = net::system_random().fill(api_config.client_seed); !seeded) {
      return startup_error(seeded.error());
    }
    api = std::make_unique<http::Api>(api_config, tokens, observation_store, *enricher, [&]() {
      server::CapStats caps;
      caps.ptr_lookups_refused = enricher->reverse_lookups_refused();
      if (service && service->rate_limiter() != nullptr)
        caps.rate_limit_evictions = service->rate_limiter()->evictions();
      return server::prometheus_text(counters(), observation_store.stats(), sinks, &http_server->stats(), caps);
    });
  }

  if (service) {
    if (Result<void> started = service->start(sinks); !started) return startup_error(started.error());
  }
  if (http_server) {
    if (Result<void> started = http_server->start(*api); !started) return startup_error(started.error());
  }
  std::string where;
  if (service) {
    for (const net::SocketAddress& a : service->bound()) {
      if (!where.empty()) where += ' ';
      where += a.to_string();
    }
  }
  std::string http_where;
  if (http_server) {
    for (const net::SocketAddress& a : http_server->bound()) {
      http_where += ' ';
      http_where += a.to_string();
    }
  }
  std::fprintf(stderr, "dnsleakd: serving %s on %s%s (node %s, store %s)%s%s\n", config.zone.apex.to_text().c_str(),
               service ? "udp+tcp " : "", service ? where.c_str() : "no DNS (API only)", config.node_id.c_str(),
               store_display(config.store_backend).c_str(), http_where.empty() ? "" : "; http", http_where.c_str());

  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGUSR1) {
      std::fprintf(stderr, "dnsleakd: counters %s\n", auth::to_json(counters()).c_str());
      print_store_stats(observation_store.stats(), sinks);
      continue;
    }
    break;
  }
  if (http_server) http_server->stop();
  if (service) service->stop();
  std::fprintf(stderr, "dnsleakd: stopped; counters %s\n", auth::to_json(counters()).c_str());
  print_store_stats(observation_store.stats(), sinks);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const server::Command command = server::parse_command_line(argc, argv);
    if (const auto* exit = std::get_if<server::ExitCommand>(&command)) return exit->code;
    if (const auto* token = std::get_if<server::TokenCommand>(&command)) return print_token(*token);
    return serve(server::resolve(std::get<server::ServeCommand>(command).settings));
  } catch (const server::ConfigError& e) {
    std::fprintf(stderr, "dnsleakd: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dnsleakd: %s\n", e.what());
    return 1;
  }
}
