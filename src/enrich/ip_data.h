// Enrichment data: address -> AS number and organisation, address -> country, and AS number ->
// known public-resolver operator. Loaded once at start (throwing on bad files), read-only after.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "enrich/range_table.h"
#include "net/ip_address.h"

namespace dnsleak::enrich {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AsnRecord {
  uint32_t asn = 0;
  uint32_t organisation = 0;  // index into the organisation names
};

struct MmdbFile;  // an open MaxMind DB

// IP -> ASN from CSV files in the ip-location-db layout: `first,last,asn,organisation` with
// dotted/colon addresses, IPv4 and IPv6 in one file or several (RFC 4180 quoting), or from
// MaxMind DB files in GeoLite2-ASN's layout (.mmdb).
class AsnDatabase {
 public:
  AsnDatabase();
  ~AsnDatabase();
  AsnDatabase(AsnDatabase&&) noexcept;
  AsnDatabase& operator=(AsnDatabase&&) noexcept;
  void load(const std::string& path);      // .mmdb or CSV; throws DataError
  void load_csv(const std::string& path);  // throws DataError naming the file and line
  void freeze();
  struct Result {
    uint32_t asn;
    std::string organisation;
  };
  [[nodiscard]] std::optional<Result> lookup(const net::IpAddress& address) const noexcept;
  [[nodiscard]] size_t size() const noexcept { return ranges_.size(); }

 private:
  AddressRanges<AsnRecord> ranges_;
  std::vector<std::string> organisations_;
  std::vector<std::unique_ptr<MmdbFile>> mmdbs_;
};

// IP -> ISO country code. From a MaxMind DB file (ip-location-db's `country_code`, or GeoLite2's
// `country.iso_code`) or a CSV file `first,last,country_code`.
class CountryDatabase {
 public:
  CountryDatabase();
  ~CountryDatabase();
  CountryDatabase(CountryDatabase&&) noexcept;
  CountryDatabase& operator=(CountryDatabase&&) noexcept;
  void load(const std::string& path);  // .mmdb or .csv; throws DataError
  void freeze();
  [[nodiscard]] std::string lookup(const net::IpAddress& address) const;  // "" when unknown

 private:
  std::vector<std::unique_ptr<MmdbFile>> mmdbs_;
  AddressRanges<std::array<char, 2>> ranges_;
};

// AS number -> public resolver operator ("Cloudflare"), from a CSV file `asn,operator,source`
// (lines starting with # are comments).
class ResolverOperators {
 public:
  void load_csv(const std::string& path);
  [[nodiscard]] std::string_view lookup(uint32_t asn) const noexcept;
  [[nodiscard]] size_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<std::pair<uint32_t, std::string>> entries_;  // sorted by ASN
};

// Splits one CSV line (RFC 4180 quoting, "" inside quotes). Exposed for tests.
[[nodiscard]] std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace dnsleak::enrich
