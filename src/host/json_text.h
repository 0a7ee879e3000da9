// A string member of a JSON object, or empty: the one lookup the host readers of JSON documents
// (nftables, systemd-resolved, NetworkManager) all need.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace dnsleak::host {

[[nodiscard]] inline std::string json_text(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace dnsleak::host
