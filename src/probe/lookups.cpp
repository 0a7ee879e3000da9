#include "probe/lookups.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace dnsleak::probe {
namespace {

struct Shared {
  std::mutex mutex;
  std::condition_variable done;
  std::vector<LookupResult> results;
  size_t finished = 0;
};

}  // namespace

std::vector<LookupResult> resolve_all(const std::vector<std::string>& names, int family, long timeout_ms) {
  // Shared state outlives this call: a thread still in getaddrinfo at the deadline finishes later.
  auto shared = std::make_shared<Shared>();
  shared->results.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    shared->results[i].name = names[i];
    shared->results[i].error = "timed out";
    std::thread([shared, i, name = names[i], family] {
      const auto started = std::chrono::steady_clock::now();
      addrinfo hints{};
      hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* list = nullptr;
      const int rc = getaddrinfo(name.c_str(), "80", &hints, &list);
      std::set<std::string> addresses;
      for (addrinfo* a = list; rc == 0 && a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* where = a->ai_family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if (inet_ntop(a->ai_family, where, text, sizeof text) != nullptr) addresses.insert(text);
      }
      if (list != nullptr) freeaddrinfo(list);
      const long ms = static_cast<long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
      std::lock_guard lock(shared->mutex);
      LookupResult& r = shared->results[i];
      r.addresses.assign(addresses.begin(), addresses.end());
      r.error = rc == 0 ? "" : gai_strerror(rc);
      r.milliseconds = ms;
      ++shared->finished;
      shared->done.notify_all();
    }).detach();
  }
  std::unique_lock lock(shared->mutex);
  shared->done.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return shared->finished == names.size(); });
  return shared->results;
}

}  // namespace dnsleak::probe
