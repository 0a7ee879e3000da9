#include "server/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace dnsleak::server {
namespace {

// Per process: ctest runs each test as a process of its own, side by side, and one rewriting a
// file another is reading made a test fail now and then.
std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path) << text;
  return path;
}

RawSettings minimal() {
  RawSettings raw;
  raw.zone = "Leak.Test";
  raw.web_address = {"192.0.2.80", "2001:db8::80"};
  raw.secret_file = write_file("secret", "0123456789abcdef0123\n");
  raw.dns_listen = {"127.0.0.1:0"};
  return raw;
}

std::string error_of(const RawSettings& raw) {
  try {
    (void)resolve(raw);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ResolvesMinimalSettingsWithDefaults) {
  const ServerConfig c = resolve(minimal());
  EXPECT_EQ(c.zone.apex.to_text(), "leak.test");
  EXPECT_EQ(c.secret, "0123456789abcdef0123");
  ASSERT_EQ(c.zone.nameservers.size(), 1u);
  EXPECT_EQ(c.zone.nameservers[0].name.to_text(), "ns1.leak.test");
  EXPECT_EQ(c.zone.nameservers[0].ipv6.size(), 1u);
  EXPECT_EQ(c.dns.udp_workers, 1u);
  EXPECT_EQ(c.store_max_age_ms, 3'600'000);
}

TEST(Config, NamesTheBadSetting) {
  RawSettings raw = minimal();
  raw.zone = "bad..zone";
  EXPECT_NE(error_of(raw).find("zone"), std::string::npos);
  for (const char* not_a_host : {"bad zone", "leak_test.org", "-leak.test", "leak-.test", "le\\.ak.test"}) {
    raw = minimal();
    raw.zone = not_a_host;
    EXPECT_NE(error_of(raw).find("is not a host name"), std::string::npos) << not_a_host;
  }
  raw = minimal();
  raw.nameserver = {"ns_1.leak.test=192.0.2.1"};
  EXPECT_NE(error_of(raw).find("nameserver: 'ns_1.leak.test' is not a host name"), std::string::npos);
  raw = minimal();
  raw.contact = "dns_admin.leak.test";  // a mailbox: any octets in the first label
  EXPECT_EQ(error_of(raw), "");
  raw = minimal();
  raw.dns_listen = {"127.0.0.1"};
  EXPECT_NE(error_of(raw).find("dns_listen: '127.0.0.1'"), std::string::npos);
  raw = minimal();
  raw.web_address = {"not-an-ip"};
  EXPECT_NE(error_of(raw).find("web_address: 'not-an-ip'"), std::string::npos);
  raw = minimal();
  raw.udp_workers = 0;
  EXPECT_NE(error_of(raw).find("udp_workers"), std::string::npos);
  raw = minimal();
  raw.secret_file = write_file("short-secret", "short");
  EXPECT_NE(error_of(raw).find("at least 16"), std::string::npos);
  raw = minimal();
  raw.secret_file.reset();
  EXPECT_NE(error_of(raw).find("secret_file"), std::string::npos);
  raw = minimal();
  raw.token_max_age = 7200;  // results would outlive their observations (store.max_age 3600)
  EXPECT_NE(error_of(raw).find("must not exceed store.max_age"), std::string::npos);
  raw = minimal();
  raw.http_listen = {"nowhere"};
  EXPECT_NE(error_of(raw).find("http_listen: 'nowhere'"), std::string::npos);
  raw = minimal();
  raw.nameserver = {"a.b.leak.test=192.0.2.1"};
  EXPECT_NE(error_of(raw).find("one label below"), std::string::npos);
}

TEST(Config, TheStoreAndTheNodeRoles) {
  RawSettings raw = minimal();
  EXPECT_EQ(resolve(raw).store_backend, "memory");
  raw.store_backend = "redis://cache:secret@10.0.0.5:6380/1";
  EXPECT_EQ(resolve(raw).store_backend, "redis://cache:secret@10.0.0.5:6380/1");
  raw.store_backend = "redis://10.0.0.5:port";
  EXPECT_NE(error_of(raw).find("store.backend"), std::string::npos);
  raw.store_backend = "sqlite";
  EXPECT_NE(error_of(raw).find("neither memory nor"), std::string::npos);
  raw = minimal();
  raw.store_password_file = write_file("redis-password", "hunter2\n");
  EXPECT_NE(error_of(raw).find("only a redis:// store"), std::string::npos);
  raw.store_backend = "redis://10.0.0.5";
  EXPECT_EQ(resolve(raw).store_password, "hunter2");
  raw.store_password_file = write_file("empty-password", "\n");
  EXPECT_NE(error_of(raw).find("is empty"), std::string::npos);
  raw.store_password_file = "/nonexistent/password";
  EXPECT_NE(error_of(raw).find("cannot read"), std::string::npos);
  raw.store_password_file.reset();
  raw.store_backend = "redis://dnsleak@10.0.0.5";
  EXPECT_NE(error_of(raw).find("needs a password"), std::string::npos);
  raw.store_backend = "redis://10.0.0.5";
  raw.store_queue = 10;
  EXPECT_NE(error_of(raw).find("store.queue"), std::string::npos);

  // No dns_listen: DNS on the defaults, unless it serves HTTP: then an API-only node, which needs
  // a shared store to see anything.
  raw = minimal();
  raw.dns_listen.clear();
  EXPECT_EQ(resolve(raw).dns.listen.size(), 2u);
  raw.http_listen = {"127.0.0.1:0"};
  EXPECT_NE(error_of(raw).find("API-only node"), std::string::npos);
  raw.store_backend = "redis://127.0.0.1:6379";
  EXPECT_TRUE(resolve(raw).dns.listen.empty());

  // The node id goes into NSID answers and shared entries: a plain name.
  raw = minimal();
  raw.node_id = "fra-1.example";
  EXPECT_EQ(resolve(raw).zone.nsid, "fra-1.example");
  for (const std::string& bad : {std::string("has space"), std::string("tab\there"), std::string("quote\""),
                                 std::string("-"), std::string(64, 'a')}) {
    raw.node_id = bad;
    EXPECT_NE(error_of(raw).find("node_id"), std::string::npos) << bad;
  }
}

TEST(Config, ReadsTomlAndFlagsWin) {
  const std::string path = write_file("dnsleakd.toml", R"(
zone = "leak.example.org"
web_address = ["192.0.2.10"]
dns_listen = ["127.0.0.1:5353", "[::1]:5353"]
udp_workers = 2
[[nameserver]]
name = "ns1.leak.example.org"
addresses = ["192.0.2.1", "2001:db8::1"]
[store]
max_observations = 4096
max_age = 600
backend = "redis://dnsleak@10.0.0.5:6380/2"
password_file = "PASSWORD_FILE"
queue = 2048
[tcp]
max_connections = 10
)");
  {
    // The password file's path, known only now.
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find("PASSWORD_FILE"), 13, write_file("toml-redis-password", "from the file\n"));
    std::ofstream(path) << text;
  }
  RawSettings file = read_config_file(path);
  RawSettings flags;
  flags.udp_workers = 3;
  flags.secret_file = minimal().secret_file;
  const ServerConfig c = resolve(merge(file, flags));
  EXPECT_EQ(c.zone.apex.to_text(), "leak.example.org");
  EXPECT_EQ(c.dns.listen.size(), 2u);
  EXPECT_EQ(c.dns.udp_workers, 3u);
  EXPECT_EQ(c.dns.tcp_max_connections, 10u);
  EXPECT_EQ(c.store_max_observations, 4096u);
  EXPECT_EQ(c.store_max_age_ms, 600'000);
  EXPECT_EQ(c.zone.token_max_age_seconds, 600u);  // the default follows a shorter store
  EXPECT_EQ(c.zone.nameservers.at(0).ipv4.size(), 1u);
  EXPECT_EQ(c.store_backend, "redis://dnsleak@10.0.0.5:6380/2");
  EXPECT_EQ(c.store_password, "from the file");
  EXPECT_EQ(c.store_queue, 2048u);
  flags.store_backend = "memory";  // the flag wins; then a password file is an error
  EXPECT_NE(error_of(merge(file, flags)).find("only a redis:// store"), std::string::npos);
}

TEST(Config, UnknownKeysAndSyntaxErrorsAreReported) {
  try {
    (void)read_config_file(write_file("typo.toml", "zone = \"a.test\"\nudp_worker = 2\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'udp_worker' (line 2)"), std::string::npos) << e.what();
  }
  try {
    (void)read_config_file(write_file("broken.toml", "zone = \n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.toml:1"), std::string::npos) << e.what();
  }
  try {
    (void)read_config_file(write_file("type.toml", "udp_workers = \"two\"\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'udp_workers' must be an integer"), std::string::npos) << e.what();
  }
  // A float too large for any integer is refused as a float, not cast (undefined, found by fuzzing).
  for (const char* text : {"udp_workers = 2e48\n", "udp_workers = 2.0\n", "udp_workers = nan\n"}) {
    try {
      (void)read_config_file(write_file("float.toml", text));
      FAIL() << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("'udp_workers' must be an integer"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, RateLimitUserAndPerTestCap) {
  RawSettings raw = minimal();
  ServerConfig c = resolve(raw);
  EXPECT_EQ(c.dns.rate_limit.mode, auth::RateMode::on);
  EXPECT_EQ(c.dns.rate_limit.test_rate, 50u);
  EXPECT_EQ(c.dns.rate_limit.nxdomain_rate, 20u);
  EXPECT_EQ(c.dns.max_observations_per_test, 4096u);
  EXPECT_FALSE(c.user.has_value());

  const std::string path = write_file("rrl.toml",
                                      "user = \"dnsleak\"\n"
                                      "[rate_limit]\nmode = \"log-only\"\ntest = 7\nanswer = 0\nslip = 0\n"
                                      "ipv4_prefix = 22\nallow = [\"10.0.0.0/8\", \"fd00::/8\"]\n"
                                      "[store]\nmax_per_test = 0\n");
  RawSettings file = read_config_file(path);
  RawSettings flags;
  flags.rate_limit_error = 3;
  c = resolve(merge(merge(minimal(), file), flags));
  EXPECT_EQ(c.user, "dnsleak");
  EXPECT_EQ(c.dns.rate_limit.mode, auth::RateMode::log_only);
  EXPECT_EQ(c.dns.rate_limit.test_rate, 7u);
  EXPECT_EQ(c.dns.rate_limit.answer_rate, 0u);
  EXPECT_EQ(c.dns.rate_limit.error_rate, 3u);
  EXPECT_EQ(c.dns.rate_limit.slip, 0u);
  EXPECT_EQ(c.dns.rate_limit.ipv4_prefix, 22);
  ASSERT_EQ(c.dns.rate_limit.allow.size(), 2u);
  EXPECT_EQ(c.dns.rate_limit.allow[1].to_string(), "fd00::/8");
  EXPECT_EQ(c.dns.max_observations_per_test, 0u);

  raw = minimal();
  raw.rate_limit_mode = "maybe";
  EXPECT_NE(error_of(raw).find("rate_limit.mode: 'maybe' is not on, off or log-only"), std::string::npos);
  raw = minimal();
  raw.rate_limit_ipv6_prefix = 129;
  EXPECT_NE(error_of(raw).find("rate_limit.ipv6_prefix"), std::string::npos);
  raw = minimal();
  raw.rate_limit_allow = {"10.0.0.1/8"};
  EXPECT_NE(error_of(raw).find("rate_limit.allow"), std::string::npos);
  raw = minimal();
  raw.user = "";
  EXPECT_NE(error_of(raw).find("user: empty"), std::string::npos);
  EXPECT_NE(error_of([] {
              RawSettings r = minimal();
              r.rate_limit_test = -1;
              return r;
            }())
                .find("rate_limit.test"),
            std::string::npos);
}

}  // namespace
}  // namespace dnsleak::server
