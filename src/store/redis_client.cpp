#include "store/redis_client.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace dnsleak::store {
namespace {

template <class... Parts>
std::string cat(const Parts&... parts) {
  return concat({std::string_view(parts)...});
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return fail(cat("store: bad %-escape in the ", what));
    const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return fail(cat("store: bad %-escape in the ", what));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

timeval to_timeval(int ms) noexcept { return timeval{ms / 1000, static_cast<suseconds_t>(ms % 1000) * 1000}; }

}  // namespace

std::string RedisEndpoint::display() const {
  std::string url = "redis://";
  if (!user.empty()) {
    url += user;
    url += '@';
  }
  if (host.find(':') != std::string::npos) {
    url += '[';
    url += host;
    url += ']';
  } else {
    url += host;
  }
  url += ':';
  url += std::to_string(port);
  if (db != 0) {
    url += '/';
    url += std::to_string(db);
  }
  return url;
}

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  const auto bad = [&](std::string_view why) {
    return fail(cat("store: '", kScheme, "…' URL: ", why, " (expected redis://[USER:PASSWORD@]HOST:PORT[/DB])"));
  };
  if (!url.starts_with(kScheme)) return bad("it must start with redis:// (rediss:// TLS is not supported)");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint e;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // USER:PASSWORD, :PASSWORD (the default user), or USER@ with the password from a file.
    const size_t colon = credentials.find(':');
    Result<std::string> user = percent_decode(credentials.substr(0, colon), "user name");
    if (!user) return std::unexpected(user.error());
    Result<std::string> password = colon == std::string_view::npos
                                       ? Result<std::string>(std::string())
                                       : percent_decode(credentials.substr(colon + 1), "password");
    if (!password) return std::unexpected(password.error());
    if (colon != std::string_view::npos && password->empty()) return bad("the password is empty");
    if (colon == std::string_view::npos && user->empty()) return bad("an empty user name before @");
    e.user = std::move(*user);
    e.password = std::move(*password);
  }
  std::string_view hostport = rest;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), e.db);
      if (ec != std::errc{} || end != db.data() + db.size() || e.db > 1'000'000)
        return bad("the database must be a number (0 to the server's 'databases' - 1)");
    }
  }
  std::string_view port_text;
  if (hostport.starts_with('[')) {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 host needs its closing ]");
    e.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return bad("junk after the IPv6 host");
    if (!after.empty()) port_text = after.substr(1);
  } else {
    const size_t colon = hostport.find(':');
    e.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port_text = hostport.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  for (const char c : e.host) {
    if (c <= ' ' || c == '/' || c == '?' || c == '#') return bad("the host has characters a host cannot have");
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return bad("the port must be a number from 1 to 65535");
    e.port = static_cast<uint16_t>(port);
  }
  return e;
}

void RedisReply::Free::operator()(redisReply* r) const noexcept { freeReplyObject(r); }
bool RedisReply::is_error() const noexcept { return reply_ && reply_->type == REDIS_REPLY_ERROR; }
bool RedisReply::is_nil() const noexcept { return !reply_ || reply_->type == REDIS_REPLY_NIL; }
bool RedisReply::is_array() const noexcept { return reply_ && reply_->type == REDIS_REPLY_ARRAY; }
bool RedisReply::is_integer() const noexcept { return reply_ && reply_->type == REDIS_REPLY_INTEGER; }
std::string_view RedisReply::text() const noexcept { return reply_text(reply_.get()); }
long long RedisReply::integer() const noexcept { return is_integer() ? reply_->integer : 0; }

size_t reply_size(const redisReply* r) noexcept {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}
const redisReply* reply_at(const redisReply* r, size_t i) noexcept {
  return i < reply_size(r) ? r->element[i] : nullptr;
}
std::string_view reply_text(const redisReply* r) noexcept {
  if (r == nullptr || r->str == nullptr) return {};
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_ERROR) return {};
  return {r->str, r->len};
}

void RedisConnection::Free::operator()(redisContext* c) const noexcept { redisFree(c); }

Error RedisConnection::broken(std::string_view what) {
  broken_ = true;
  const char* detail = context_ && context_->errstr[0] != '\0' ? context_->errstr : "connection lost";
  return Error{cat("redis ", where_, ": ", what, ": ", detail), 0};
}

Result<RedisConnection> RedisConnection::open(const RedisEndpoint& endpoint, int timeout_ms) {
  RedisConnection c;
  c.where_ = endpoint.display();
  c.context_.reset(redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout_ms)));
  if (!c.context_) return fail(cat("redis ", c.where_, ": cannot allocate a connection"));
  if (c.context_->err != 0) return std::unexpected(c.broken("cannot connect"));
  if (redisSetTimeout(c.context_.get(), to_timeval(timeout_ms)) != REDIS_OK)
    return std::unexpected(c.broken("cannot set the timeout"));
  (void)redisEnableKeepAlive(c.context_.get());  // best effort: a dead peer is found by the timeouts anyway
  if (!endpoint.user.empty() && endpoint.password.empty())
    return fail(
        cat("redis ", c.where_, ": user '", endpoint.user, "' has no password (in the URL or a password file)"));
  if (!endpoint.password.empty()) {
    std::vector<std::string_view> auth{"AUTH"};
    if (!endpoint.user.empty()) auth.emplace_back(endpoint.user);
    auth.emplace_back(endpoint.password);
    Result<RedisReply> r = c.command(auth);
    if (!r) return std::unexpected(r.error());
    if (r->is_error()) return fail(cat("redis ", c.where_, ": AUTH refused: ", r->text()));
  }
  if (endpoint.db != 0) {
    const std::string db = std::to_string(endpoint.db);
    const std::string_view select[] = {"SELECT", db};
    Result<RedisReply> r = c.command(select);
    if (!r) return std::unexpected(r.error());
    if (r->is_error()) return fail(cat("redis ", c.where_, ": SELECT ", db, " refused: ", r->text()));
  }
  // Without AUTH a protected server answers the first command with NOAUTH: find out now.
  const std::string_view ping[] = {"PING"};
  Result<RedisReply> r = c.command(ping);
  if (!r) return std::unexpected(r.error());
  if (r->is_error()) return fail(cat("redis ", c.where_, ": ", r->text()));
  return c;
}

void RedisConnection::append(std::span<const std::string_view> args) {
  if (!usable()) return;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
    broken_ = true;
}

void RedisConnection::append_formatted(std::string_view resp) {
  if (!usable()) return;
  if (redisAppendFormattedCommand(context_.get(), resp.data(), resp.size()) != REDIS_OK) broken_ = true;
}

Result<RedisReply> RedisConnection::reply() {
  if (!usable()) return std::unexpected(broken("not connected"));
  void* raw = nullptr;
  if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
    timed_out_ = errno == EAGAIN || errno == EWOULDBLOCK;  // hiredis's read timed out (SO_RCVTIMEO)
    return std::unexpected(broken("no reply"));
  }
  return RedisReply(static_cast<redisReply*>(raw));
}

Result<RedisReply> RedisConnection::command(std::span<const std::string_view> args) {
  append(args);
  return reply();
}

bool RedisConnection::usable() const noexcept { return context_ && !broken_ && context_->err == 0; }

void RedisConnection::set_timeout(int timeout_ms) noexcept {
  if (usable() && redisSetTimeout(context_.get(), to_timeval(timeout_ms)) != REDIS_OK) broken_ = true;
}

}  // namespace dnsleak::store
