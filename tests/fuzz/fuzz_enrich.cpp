// libFuzzer target: any bytes as an enrichment data file: the ip-location-db CSVs (ASN, country),
// the resolver operators' CSV, and MaxMind DB files read through libmaxminddb (first octet picks
// which). The readers take paths: the input is written to a file of this process first. Checks what a
// crash would not show: a bad file is a DataError, never another exception, and a file that loads
// answers lookups.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "enrich/ip_data.h"
#include "fuzz_check.h"

namespace {

using namespace dnsleak;
using fuzzing::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int kind = data[0] % 5;
  // The readers take paths and tell CSV from MMDB by the name's ending: one file per process.
  static const std::string base = [] {
    std::atexit([] {
      const std::string b = "/tmp/dnsleak-fuzz-enrich-" + std::to_string(::getpid());
      (void)std::remove((b + ".csv").c_str());
      (void)std::remove((b + ".mmdb").c_str());
    });
    return "/tmp/dnsleak-fuzz-enrich-" + std::to_string(::getpid());
  }();
  const std::string path = base + (kind >= 3 ? ".mmdb" : ".csv");
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    const bool written = size == 1 || std::fwrite(data + 1, 1, size - 1, f) == size - 1;
    std::fclose(f);
    if (!written) return 0;
  } else {
    return 0;
  }
  const net::IpAddress probes[] = {net::parse_ip("192.0.2.1").value(), net::parse_ip("2001:db8::1").value(),
                                   net::parse_ip("0.0.0.0").value(), net::parse_ip("255.255.255.255").value()};
  try {
    if (kind == 0 || kind == 3) {
      enrich::AsnDatabase db;
      db.load(path);
      db.freeze();
      for (const net::IpAddress& a : probes) {
        if (const auto r = db.lookup(a)) check(r->organisation.size() < (size_t{1} << 20));
      }
    } else if (kind == 1 || kind == 4) {
      enrich::CountryDatabase db;
      db.load(path);
      db.freeze();
      for (const net::IpAddress& a : probes) check(db.lookup(a).size() <= 64);
    } else {
      enrich::ResolverOperators operators;
      operators.load_csv(path);
      (void)operators.lookup(15169);
    }
  } catch (const enrich::DataError&) {
  }
  return 0;
}
