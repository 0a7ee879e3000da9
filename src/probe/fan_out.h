// Many blocking lookups at once, with a deadline: getaddrinfo and res_query cannot be cancelled,
// so each runs on a detached thread of its own, and a lookup stuck in the resolver past the
// deadline must not hold the test (a std::async future would wait for it when destroyed).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace dnsleak::probe {

// Runs `work(i)` for every i below `count`, each on its own thread, and returns the results when
// all are done or at the deadline; a slot still running then (or whose thread could not start)
// holds `unfinished`. The state the threads write into outlives this call.
template <class T, class Work>
[[nodiscard]] std::vector<T> fan_out(size_t count, long timeout_ms, const Work& work, const T& unfinished) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<T> results;
    size_t finished = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.assign(count, unfinished);
  for (size_t i = 0; i < count; ++i) {
    try {
      std::thread([shared, i, work] {
        T result = work(i);
        std::lock_guard lock(shared->mutex);
        shared->results[i] = std::move(result);
        ++shared->finished;
        shared->done.notify_all();
      }).detach();
    } catch (const std::system_error&) {  // no more threads: that lookup stays unfinished
      std::lock_guard lock(shared->mutex);
      ++shared->finished;
    }
  }
  std::unique_lock lock(shared->mutex);
  shared->done.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return shared->finished == count; });
  return shared->results;
}

}  // namespace dnsleak::probe
