#include "enrich/reverse_names.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>

#include <cstring>
#include <span>
#include <system_error>
#include <vector>

#include "dns/response.h"

namespace dnsleak::enrich {
namespace {

constexpr uint16_t kTypePtr = 12;

std::string key_of(const net::IpAddress& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()), a.family == 4 ? 4 : 16);
}

// One PTR query through the host's resolver configuration; "" when there is no name or the
// query failed (an unreachable resolver fails at once; a silent one after the 1 s timeout).
std::string query_ptr(res_state state, const std::string& name) {
  // The largest DNS message: glibc returns the full length of a TCP answer even when it had to
  // cut it to the buffer, so a smaller buffer would be read past its end.
  static thread_local std::vector<unsigned char> buffer(NS_MAXMSG);
  unsigned char* answer = buffer.data();
  const int length = res_nquery(state, name.c_str(), ns_c_in, ns_t_ptr, answer, static_cast<int>(buffer.size()));
  if (length <= 0 || static_cast<size_t>(length) > buffer.size()) return "";
  const Result<dns::Response> response =
      dns::parse_response(std::as_bytes(std::span(buffer.data(), static_cast<size_t>(length))));
  if (!response) return "";
  for (const dns::ResourceRecord& rr : response->records()) {
    if (rr.section != dns::Section::answer || rr.type != kTypePtr) continue;
    if (const Result<dns::DnsName> target = response->rdata_name(rr)) return target->to_text();
  }
  return "";
}

}  // namespace

std::string ReverseNames::reverse_zone_name(const net::IpAddress& a) {
  std::string name;
  if (a.family == 4) {
    for (int i = 3; i >= 0; --i) name += std::to_string(a.bytes[i]) + ".";
    return name + "in-addr.arpa";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    name += kHex[a.bytes[i] & 0xF];
    name += '.';
    name += kHex[a.bytes[i] >> 4];
    name += '.';
  }
  return name + "ip6.arpa";
}

ReverseNames::ReverseNames(bool enabled, std::optional<std::pair<std::string, uint16_t>> nameserver)
    : enabled_(enabled), nameserver_(std::move(nameserver)) {}

ReverseNames::~ReverseNames() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::optional<std::string> ReverseNames::lookup(const net::IpAddress& address) {
  if (!enabled_) return std::nullopt;
  const std::string key = key_of(address);
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  if (queue_.size() >= kMaxQueue) {
    ++queue_full_;
    return std::nullopt;  // asked again later
  }
  // The worker starts with the first lookup, not at construction: threads made before dnsleakd
  // drops its capabilities would keep them.
  if (!worker_.joinable() && !worker_failed_) {
    try {
      worker_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      worker_failed_ = true;  // names stay unknown; counted in queue_full
    }
  }
  if (worker_failed_) {
    ++queue_full_;
    return std::nullopt;
  }
  if (cache_.size() >= kMaxCache) cache_.clear();
  cache_.emplace(key, std::nullopt);
  queue_.push_back(address);
  wake_.notify_one();
  return std::nullopt;
}

void ReverseNames::run() {
  struct __res_state state {};
  if (res_ninit(&state) != 0) return;
  state.retrans = 1;  // seconds per try
  state.retry = 1;
  if (nameserver_) {
    sockaddr_in& server = state.nsaddr_list[0];
    server = sockaddr_in{};
    server.sin_family = AF_INET;
    server.sin_port = htons(nameserver_->second);
    inet_pton(AF_INET, nameserver_->first.c_str(), &server.sin_addr);
    state.nscount = 1;
  }
  while (true) {
    net::IpAddress address;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      address = queue_.front();
      queue_.pop_front();
    }
    const std::string name = query_ptr(&state, reverse_zone_name(address));
    std::lock_guard lock(mutex_);
    cache_[key_of(address)] = name;
  }
  res_nclose(&state);
}

}  // namespace dnsleak::enrich
