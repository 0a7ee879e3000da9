#include "enrich/ip_data.h"

#include <arpa/inet.h>
#include <maxminddb.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <unordered_map>

namespace dnsleak::enrich {
namespace {

std::ifstream open_or_throw(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError("cannot read enrichment file '" + path + "'");
  return in;
}

[[noreturn]] void bad_line(const std::string& path, size_t line, const std::string& why) {
  throw DataError(path + ":" + std::to_string(line) + ": " + why);
}

// Calls `use(fields, line_number)` for every data line of a CSV file: blank lines and lines
// starting with # are skipped.
template <typename Use>
void for_each_csv_line(const std::string& path, Use use) {
  std::ifstream in = open_or_throw(path);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    use(split_csv_line(line), number);
  }
}

// Calls `use(first, last, fields, line_number)` for every line `first,last,...`; a line with fewer
// fields or a bad range throws DataError.
template <typename Use>
void for_each_range(const std::string& path, size_t min_fields, const char* expected, Use use) {
  for_each_csv_line(path, [&](const std::vector<std::string>& fields, size_t number) {
    if (fields.size() < min_fields) bad_line(path, number, std::string("expected ") + expected);
    const Result<net::IpAddress> first = net::parse_ip(fields[0]);
    const Result<net::IpAddress> last = net::parse_ip(fields[1]);
    if (!first || !last || first->family != last->family) bad_line(path, number, std::string("expected ") + expected);
    use(*first, *last, fields, number);
  });
}

}  // namespace

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

void AsnDatabase::load_csv(const std::string& path) {
  std::unordered_map<std::string, uint32_t> organisation_ids;
  for (size_t i = 0; i < organisations_.size(); ++i)
    organisation_ids.emplace(organisations_[i], static_cast<uint32_t>(i));
  for_each_range(
      path, 3, "first,last,asn[,organisation]",
      [&](const net::IpAddress& first, const net::IpAddress& last, const std::vector<std::string>& fields,
          size_t number) {
        uint32_t asn = 0;
        const auto [end, error] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), asn);
        if (error != std::errc{} || end != fields[2].data() + fields[2].size()) {
          bad_line(path, number, "bad AS number");
        }
        const std::string organisation = fields.size() > 3 ? fields[3] : "";
        auto [it, inserted] = organisation_ids.emplace(organisation, static_cast<uint32_t>(organisations_.size()));
        if (inserted) organisations_.push_back(organisation);
        ranges_.add(first, last, AsnRecord{asn, it->second});
      });
}

void AsnDatabase::freeze() { ranges_.freeze(); }

struct MmdbFile {
  MMDB_s db{};
  bool open = false;
  ~MmdbFile() {
    if (open) MMDB_close(&db);
  }
};

namespace {

bool is_mmdb(const std::string& path) { return path.size() >= 5 && path.compare(path.size() - 5, 5, ".mmdb") == 0; }

std::unique_ptr<MmdbFile> open_mmdb(const std::string& path) {
  auto mmdb = std::make_unique<MmdbFile>();
  const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb->db);
  if (status != MMDB_SUCCESS) throw DataError("cannot open '" + path + "': " + MMDB_strerror(status));
  mmdb->open = true;
  return mmdb;
}

// The entry for an address in a MaxMind DB, if it has one.
std::optional<MMDB_entry_s> mmdb_entry(const MmdbFile& mmdb, const net::IpAddress& address) {
  sockaddr_storage storage{};
  if (address.family == 4) {
    auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
    v4.sin_family = AF_INET;
    std::memcpy(&v4.sin_addr, address.bytes.data(), 4);
  } else {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
    v6.sin6_family = AF_INET6;
    std::memcpy(&v6.sin6_addr, address.bytes.data(), 16);
  }
  int error = 0;
  const MMDB_lookup_result_s result =
      MMDB_lookup_sockaddr(const_cast<MMDB_s*>(&mmdb.db), reinterpret_cast<sockaddr*>(&storage), &error);
  if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;
  return result.entry;
}

}  // namespace

AsnDatabase::AsnDatabase() = default;
AsnDatabase::~AsnDatabase() = default;
AsnDatabase::AsnDatabase(AsnDatabase&&) noexcept = default;
AsnDatabase& AsnDatabase::operator=(AsnDatabase&&) noexcept = default;

std::optional<AsnDatabase::Result> AsnDatabase::lookup(const net::IpAddress& address) const noexcept {
  const AsnRecord* r = ranges_.find(address);
  if (r != nullptr) return Result{r->asn, organisations_[r->organisation]};
  for (const auto& mmdb : mmdbs_) {
    auto entry = mmdb_entry(*mmdb, address);
    if (!entry) continue;
    MMDB_entry_data_s asn{}, organisation{};
    // GeoLite2-ASN: {"autonomous_system_number": 13335, "autonomous_system_organization": "..."}
    if (MMDB_get_value(&*entry, &asn, "autonomous_system_number", nullptr) != MMDB_SUCCESS || !asn.has_data ||
        asn.type != MMDB_DATA_TYPE_UINT32) {
      continue;
    }
    Result result{asn.uint32, ""};
    if (MMDB_get_value(&*entry, &organisation, "autonomous_system_organization", nullptr) == MMDB_SUCCESS &&
        organisation.has_data && organisation.type == MMDB_DATA_TYPE_UTF8_STRING) {
      result.organisation.assign(organisation.utf8_string, organisation.data_size);
    }
    return result;
  }
  return std::nullopt;
}

void AsnDatabase::load(const std::string& path) {
  if (is_mmdb(path))
    mmdbs_.push_back(open_mmdb(path));
  else
    load_csv(path);
}

CountryDatabase::CountryDatabase() = default;
CountryDatabase::~CountryDatabase() = default;
CountryDatabase::CountryDatabase(CountryDatabase&&) noexcept = default;
CountryDatabase& CountryDatabase::operator=(CountryDatabase&&) noexcept = default;

void CountryDatabase::load(const std::string& path) {
  if (is_mmdb(path)) {
    mmdbs_.push_back(open_mmdb(path));
    return;
  }
  for_each_range(path, 3, "first,last,country_code",
                 [&](const net::IpAddress& first, const net::IpAddress& last, const std::vector<std::string>& fields,
                     size_t number) {
                   if (fields[2].size() != 2) bad_line(path, number, "expected a two-letter country code");
                   ranges_.add(first, last, std::array<char, 2>{fields[2][0], fields[2][1]});
                 });
}

void CountryDatabase::freeze() { ranges_.freeze(); }

std::string CountryDatabase::lookup(const net::IpAddress& address) const {
  const std::array<char, 2>* code = ranges_.find(address);
  if (code != nullptr) return std::string(code->data(), 2);
  for (const auto& mmdb : mmdbs_) {
    auto entry = mmdb_entry(*mmdb, address);
    if (!entry) continue;
    MMDB_entry_data_s data{};
    // ip-location-db writes {"country_code": "AU"}; MaxMind GeoLite2 {"country": {"iso_code": "AU"}}.
    if ((MMDB_get_value(&*entry, &data, "country_code", nullptr) == MMDB_SUCCESS && data.has_data) ||
        (MMDB_get_value(&*entry, &data, "country", "iso_code", nullptr) == MMDB_SUCCESS && data.has_data)) {
      if (data.type == MMDB_DATA_TYPE_UTF8_STRING) return std::string(data.utf8_string, data.data_size);
    }
  }
  return "";
}

void ResolverOperators::load_csv(const std::string& path) {
  for_each_csv_line(path, [&](const std::vector<std::string>& fields, size_t number) {
    uint32_t asn = 0;
    if (fields.size() < 2 ||
        std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), asn).ec != std::errc{} ||
        fields[1].empty()) {
      bad_line(path, number, "expected asn,operator,source");
    }
    entries_.emplace_back(asn, fields[1]);
  });
  std::sort(entries_.begin(), entries_.end());
}

std::string_view ResolverOperators::lookup(uint32_t asn) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), asn,
                             [](const std::pair<uint32_t, std::string>& e, uint32_t a) { return e.first < a; });
  return it != entries_.end() && it->first == asn ? std::string_view(it->second) : std::string_view();
}

}  // namespace dnsleak::enrich
