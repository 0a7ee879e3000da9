// The JSON-lines observation log: one object per observation, for operators to ship elsewhere.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "store/observation.h"

namespace dnsleak::store {

// Formats one observation as a single-line JSON object (no newline) into `out`; returns the length
// or 0 if it did not fit (2 KiB always does). No allocation: called on the packet path.
size_t format_observation_json(const ResolverObservation& o, std::string_view node_id, std::span<char> out) noexcept;

// The name of a query type as dig prints it ("A", "AAAA", "TYPE65").
std::string_view qtype_name(uint16_t qtype, std::span<char, 12> scratch) noexcept;

// Appends observations to a file ("-" = standard output), one JSON object a line, flushed after
// every batch so a reader sees each batch whole. A failed write is counted, never thrown.
class ObservationLog final : public ObservationSink {
 public:
  // Throws std::runtime_error naming the path if it cannot be opened for appending.
  ObservationLog(const std::string& path, std::string node_id);
  ~ObservationLog() override;
  ObservationLog(const ObservationLog&) = delete;
  ObservationLog& operator=(const ObservationLog&) = delete;

  void record(std::span<const ResolverObservation> batch) noexcept override;
  [[nodiscard]] uint64_t write_failures() const noexcept;

 private:
  mutable std::mutex mutex_;
  std::FILE* file_;
  bool owns_file_;
  std::string node_id_;
  uint64_t write_failures_ = 0;
};

}  // namespace dnsleak::store
