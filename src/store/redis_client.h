// A small synchronous Redis client over hiredis: where the server is (the URL), one connection
// with a timeout on every call, AUTH and SELECT on connect. Internal to store/; hiredis stays in
// redis_client.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"

struct redisContext;
struct redisReply;

namespace dnsleak::store {

// redis://[USER:PASSWORD@]HOST[:PORT][/DB]; HOST may be [IPv6]. User and password may be
// percent-encoded; a password given without a user authenticates as the default user.
struct RedisEndpoint {
  std::string host;
  uint16_t port = 6379;
  unsigned db = 0;
  std::string user;
  std::string password;
  // The URL without the password, for messages and logs.
  [[nodiscard]] std::string display() const;
};
[[nodiscard]] Result<RedisEndpoint> parse_redis_url(std::string_view url);

// One reply, owned. Views into it live as long as it does.
class RedisReply {
 public:
  RedisReply() = default;
  explicit RedisReply(redisReply* r) noexcept : reply_(r) {}
  [[nodiscard]] bool is_error() const noexcept;
  [[nodiscard]] bool is_nil() const noexcept;
  [[nodiscard]] bool is_array() const noexcept;
  [[nodiscard]] bool is_integer() const noexcept;
  [[nodiscard]] std::string_view text() const noexcept;  // string, status or error
  [[nodiscard]] long long integer() const noexcept;
  [[nodiscard]] const redisReply* raw() const noexcept { return reply_.get(); }

 private:
  struct Free {
    void operator()(redisReply* r) const noexcept;
  };
  std::unique_ptr<redisReply, Free> reply_;
};

// Views of a reply's parts, for walking nested arrays (XRANGE, XREAD, HGETALL).
[[nodiscard]] size_t reply_size(const redisReply* r) noexcept;
[[nodiscard]] const redisReply* reply_at(const redisReply* r, size_t i) noexcept;
[[nodiscard]] std::string_view reply_text(const redisReply* r) noexcept;

class RedisConnection {
 public:
  // Connects, authenticates and selects the database, each within `timeout_ms`; every later call
  // has the same timeout. A refused AUTH and an unreachable server are errors that say which.
  [[nodiscard]] static Result<RedisConnection> open(const RedisEndpoint& endpoint, int timeout_ms);
  RedisConnection() = default;
  RedisConnection(RedisConnection&&) noexcept = default;
  RedisConnection& operator=(RedisConnection&&) noexcept = default;

  // One command and its reply. An error reply is a reply (is_error()); a failed connection is an
  // Error, after which the connection is broken (usable() is false).
  [[nodiscard]] Result<RedisReply> command(std::span<const std::string_view> args);
  // Pipelining: append commands, then take their replies in order.
  void append(std::span<const std::string_view> args);
  // Commands already in RESP (one or many, back to back), for a writer that formats its own.
  void append_formatted(std::string_view resp);
  [[nodiscard]] Result<RedisReply> reply();
  [[nodiscard]] bool usable() const noexcept;
  // The last failure was a timeout (the server did not answer in time), not a lost connection.
  [[nodiscard]] bool timed_out() const noexcept { return timed_out_; }
  // Changes the timeout of every call from now on (an XREAD BLOCK needs longer).
  void set_timeout(int timeout_ms) noexcept;

 private:
  struct Free {
    void operator()(redisContext* c) const noexcept;
  };
  [[nodiscard]] Error broken(std::string_view what);
  std::unique_ptr<redisContext, Free> context_;
  std::string where_;
  bool broken_ = false;
  bool timed_out_ = false;
};

}  // namespace dnsleak::store
