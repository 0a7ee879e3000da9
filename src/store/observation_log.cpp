#include "store/observation_log.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "net/clock.h"

namespace dnsleak::store {
namespace {

// A bounded appender into a caller's buffer; `ok` turns false on overflow.
struct TextOut {
  std::span<char> buffer;
  size_t size = 0;
  bool ok = true;

  void put(std::string_view s) noexcept {
    if (!ok || s.size() > buffer.size() - size) {
      ok = false;
      return;
    }
    std::memcpy(buffer.data() + size, s.data(), s.size());
    size += s.size();
  }
  void put_uint(uint64_t v) noexcept {
    char digits[24];
    int n = std::snprintf(digits, sizeof digits, "%" PRIu64, v);
    put({digits, static_cast<size_t>(n)});
  }
  // A JSON string; the text is already printable ASCII except for what we escape here.
  void put_string(std::string_view s) noexcept {
    put("\"");
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        const char escaped[2] = {'\\', c};
        put({escaped, 2});
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
        put({escaped, 6});
      } else {
        put({&c, 1});
      }
    }
    put("\"");
  }
};

void put_subnet(TextOut& out, const dns::ClientSubnet& s) noexcept {
  net::IpAddress address;
  address.family = s.family == 2 ? 6 : 4;
  address.bytes = s.address;
  char text[64];
  const size_t n = address.to_text(text);
  char prefix[8];
  const int p = std::snprintf(prefix, sizeof prefix, "/%u", static_cast<unsigned>(s.source_prefix));
  out.put("\"");
  out.put({text, n});
  out.put({prefix, static_cast<size_t>(p)});
  out.put("\"");
}

}  // namespace

size_t format_observation_json(const ResolverObservation& o, std::string_view node_id,
                               std::span<char> buffer) noexcept {
  TextOut out{buffer};
  char time_text[64];
  const size_t tn = net::format_time_ms(o.time_ms, time_text);
  out.put("{\"time\":\"");
  out.put({time_text, tn});
  out.put("\",\"test_id\":\"");
  char id_hex[2 * testname::kTestIdSize];
  testname::write_hex(std::span<const uint8_t>(o.token.raw.data(), testname::kTestIdSize), id_hex);
  out.put({id_hex, sizeof id_hex});
  out.put("\",\"probe\":");
  out.put_string(o.probe.view());
  out.put(",\"sub_zone\":");
  if (o.sub_zone == SubZone::none)
    out.put("null");
  else
    out.put_string(to_string(o.sub_zone));
  out.put(",\"node\":");
  out.put_string(node_id);
  char address[64];
  out.put(",\"resolver\":");
  out.put_string({address, o.resolver.to_text(address)});
  out.put(",\"port\":");
  out.put_uint(o.resolver_port);
  out.put(o.resolver.family == 6 ? ",\"family\":\"ipv6\"" : ",\"family\":\"ipv4\"");
  out.put(",\"transport\":");
  out.put_string(net::to_string(o.transport));
  char scratch[12];
  out.put(",\"qtype\":");
  out.put_string(dns::qtype_name(o.qtype, std::span<char, 12>(scratch)));
  std::array<char, dns::DnsName::kMaxTextLength> qname;
  out.put(",\"qname\":");
  out.put_string({qname.data(), o.qname.to_text(qname)});
  out.put(",\"answer\":");
  out.put_string(to_string(o.answer));
  if (o.edns) {
    out.put(",\"edns\":{\"payload\":");
    out.put_uint(o.edns_payload_size);
    out.put(o.dnssec_ok ? ",\"do\":true" : ",\"do\":false");
    out.put(o.cookie ? ",\"cookie\":true}" : ",\"cookie\":false}");
  } else {
    out.put(",\"edns\":null");
  }
  out.put(",\"ecs\":");
  if (o.has_client_subnet)
    put_subnet(out, o.client_subnet);
  else
    out.put("null");
  out.put("}");
  return out.ok ? out.size : 0;
}

Result<std::unique_ptr<ObservationLog>> ObservationLog::open(const std::string& path, std::string node_id) {
  if (path == "-") return std::unique_ptr<ObservationLog>(new ObservationLog(stdout, false, std::move(node_id)));
  std::FILE* file = std::fopen(path.c_str(), "ae");
  if (file == nullptr) return fail(system_error("cannot open observation log '" + path + "' for appending"));
  return std::unique_ptr<ObservationLog>(new ObservationLog(file, true, std::move(node_id)));
}

ObservationLog::~ObservationLog() {
  if (owns_file_)
    std::fclose(file_);
  else
    std::fflush(file_);
}

void ObservationLog::record(std::span<const ResolverObservation> batch) noexcept {
  std::array<char, 2048> line;
  std::lock_guard lock(mutex_);
  uint64_t written = 0;
  for (const ResolverObservation& o : batch) {
    const size_t n = format_observation_json(o, node_id_, std::span<char>(line.data(), line.size() - 1));
    if (n == 0) {
      ++stats_.lost;
      continue;
    }
    line[n] = '\n';
    if (std::fwrite(line.data(), 1, n + 1, file_) == n + 1) {
      ++written;
    } else {
      ++stats_.lost;
    }
  }
  // What the flush could not write out is lost, and it may be any of the batch's lines.
  if (std::fflush(file_) == 0) {
    stats_.recorded += written;
  } else {
    stats_.lost += written;
  }
}

ObservationSink::Stats ObservationLog::sink_stats() const noexcept {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace dnsleak::store
