// `dnsleak test`: one leak test against a dnsleakd, from creating it to the verdict. It reaches
// the network only through probe::HttpClient and probe::NameResolver, and the machine through a
// LocalObserver, so unit tests drive it with fakes (tests/unit/leak_test_test.cpp) and the lab
// with the real ones.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/local_evidence.h"
#include "probe/http_client.h"
#include "probe/lookups.h"
#include "verdict/verdict.h"

namespace dnsleak::cli {

struct LeakTestOptions {
  std::string server = "http://leak.test";  // dnsleakd's base URL
  bool extended = false;
  unsigned count = 0;        // plain names; 0: the type's (6 standard, 36 extended)
  long timeout_ms = 10'000;  // for the whole test, lookups and waiting included
  int family = 0;            // 4 / 6: lookups and probes of one family only
  std::string interface;     // bind HTTP probes to this interface
  verdict::Expectations expected;
  verdict::Baseline baseline;
  bool progress = false;  // a progress line on stderr
};

struct ProbeOutcome {
  long status = 0;
  std::string error;
};

struct LeakTestReport {
  std::string server;
  std::string error;  // set when the test could not run (then exit code kServerError)
  std::string test_id;
  std::vector<probe::LookupResult> lookups;
  ProbeOutcome probe4, probe6;
  boost::json::value results;    // the server's results (resolvers, egress), as received
  verdict::LocalEvidence local;  // what this machine showed (gathered = false with --no-local)
  verdict::Verdict verdict;      // judged here with the user's expectations and baseline
  long duration_ms = 0;
  [[nodiscard]] int exit_code() const noexcept;
};

// `local`, when given, is started before the lookups and finished before the verdict.
[[nodiscard]] LeakTestReport run_leak_test(const LeakTestOptions& options, probe::HttpClient& http,
                                           probe::NameResolver& resolver, LocalObserver* local = nullptr);

// The evidence in a results document (resolvers and egress with their networks).
[[nodiscard]] verdict::Evidence evidence_from_results(const boost::json::value& results);

}  // namespace dnsleak::cli
