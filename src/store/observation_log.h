// The JSON-lines observation log: one object per observation, for operators to ship elsewhere.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

namespace dnsleak::store {

// Formats one observation as a single-line JSON object (no newline) into `out`; returns the length
// or 0 if it did not fit (2 KiB always does). No allocation: called on the packet path.
size_t format_observation_json(const ResolverObservation& o, std::string_view node_id, std::span<char> out) noexcept;

// Appends observations to a file ("-" = standard output), one JSON object a line, flushed after
// every batch so a reader sees each batch whole. An observation whose line could not be written
// is counted as lost (sink_stats(), /metrics), never thrown.
class ObservationLog final : public ObservationSink {
 public:
  // Fails naming the path if it cannot be opened for appending.
  [[nodiscard]] static Result<std::unique_ptr<ObservationLog>> open(const std::string& path, std::string node_id);
  ~ObservationLog() override;
  ObservationLog(const ObservationLog&) = delete;
  ObservationLog& operator=(const ObservationLog&) = delete;

  void record(std::span<const ResolverObservation> batch) noexcept override;
  [[nodiscard]] Stats sink_stats() const noexcept override;
  [[nodiscard]] const char* sink_name() const noexcept override { return "log"; }

 private:
  ObservationLog(std::FILE* file, bool owns_file, std::string node_id)
      : file_(file), owns_file_(owns_file), node_id_(std::move(node_id)) {}

  mutable std::mutex mutex_;
  std::FILE* file_;
  bool owns_file_;
  std::string node_id_;
  Stats stats_;
};

}  // namespace dnsleak::store
