// libFuzzer target: any bytes as dnsleakd's TOML configuration, read and then validated as at
// start. Checks what a crash would not show: a problem is a ConfigError (exit 2 with a message),
// never another exception; what validates holds the ranges the rest of dnsleakd relies on.
// Files the text names (secret_file, store.password_file) are replaced by a fixture first: the
// fuzzer must not read the machine's files.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server/config.h"

namespace {

using namespace dnsleak;
using fuzzing::check;

const std::string& secret_path() {
  static const std::string path = [] {
    std::string p = "/tmp/dnsleak-fuzz-config-secret-" + std::to_string(::getpid());
    std::atexit([] { (void)std::remove(("/tmp/dnsleak-fuzz-config-secret-" + std::to_string(::getpid())).c_str()); });
    if (FILE* f = std::fopen(p.c_str(), "w")) {
      std::fputs("a fuzzing secret of enough octets\n", f);
      std::fclose(f);
    }
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  server::RawSettings raw;
  try {
    raw = server::read_config_text(text, "fuzz.toml");
  } catch (const server::ConfigError& e) {
    check(std::string_view(e.what()).starts_with("config: "));
    return 0;
  }
  if (raw.secret_file) raw.secret_file = secret_path();
  raw.store_password_file.reset();
  try {
    const server::ServerConfig c = server::resolve(raw);
    check(c.zone.apex.label_count() > 0);
    check(!c.zone.web_ipv4.empty() || !c.zone.web_ipv6.empty());
    check(!c.node_id.empty() && c.node_id.size() <= 63);
    check(c.dns.rate_limit.ipv4_prefix <= 32 && c.dns.rate_limit.ipv6_prefix <= 128);
    check(c.dns.rate_limit.slip <= 10);
    check(int64_t{c.zone.token_max_age_seconds} * 1000 <= c.store_max_age_ms);
    check(c.http_max_connections_per_client <= c.http_max_connections);
    check(!c.dns.listen.empty() || !c.http_listen.empty());
  } catch (const server::ConfigError&) {
  }
  return 0;
}
