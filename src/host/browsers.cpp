#include "host/browsers.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>

namespace dnsleak::host {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The value of `user_pref("NAME", VALUE);` on this line, if it sets NAME.
std::optional<std::string_view> pref_value(std::string_view line, std::string_view name) {
  line = trim(line);
  for (const std::string_view call : {"user_pref(", "pref("}) {
    if (!line.starts_with(call)) continue;
    line.remove_prefix(call.size());
    line = trim(line);
    if (line.size() < name.size() + 2 || line[0] != '"' || line.substr(1, name.size()) != name ||
        line[name.size() + 1] != '"') {
      return std::nullopt;
    }
    line.remove_prefix(name.size() + 2);
    line = trim(line);
    if (line.empty() || line.front() != ',') return std::nullopt;
    line.remove_prefix(1);
    const size_t close = line.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    return trim(line.substr(0, close));
  }
  return std::nullopt;
}

// The settings directories of the Chromium family, under HOME.
struct ChromiumFlavour {
  const char* browser;
  const char* local_state;
};
constexpr ChromiumFlavour kChromiums[] = {
    {"Chromium", "/.config/chromium/Local State"},
    {"Google Chrome", "/.config/google-chrome/Local State"},
    {"Brave", "/.config/BraveSoftware/Brave-Browser/Local State"},
    {"Chromium (snap)", "/snap/chromium/common/chromium/Local State"},
};
// Firefox's profile roots: the deb's, the snap's, the flatpak's.
constexpr const char* kFirefoxRoots[] = {"/.mozilla/firefox", "/snap/firefox/common/.mozilla/firefox",
                                         "/.var/app/org.mozilla.firefox/.mozilla/firefox"};

}  // namespace

void read_trr_prefs(std::string_view text, TrrPrefs& into) {
  size_t lines = 0;
  while (!text.empty() && lines++ < 200'000) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (const auto mode = pref_value(line, "network.trr.mode")) {
      char* stop = nullptr;
      const std::string digits(*mode);
      const long value = std::strtol(digits.c_str(), &stop, 10);
      if (stop != digits.c_str() && *stop == '\0' && value >= 0 && value <= 5) into.mode = static_cast<int>(value);
    } else if (const auto uri = pref_value(line, "network.trr.uri")) {
      if (uri->size() >= 2 && uri->front() == '"' && uri->back() == '"')
        into.uri = std::string(uri->substr(1, uri->size() - 2));
    }
  }
}

std::vector<std::string> firefox_profiles(std::string_view ini, const std::string& base) {
  std::vector<std::string> out;
  std::string path;
  bool relative = true;
  auto flush = [&] {
    if (!path.empty()) out.push_back(relative ? base + "/" + path : path);
    path.clear();
    relative = true;
  };
  while (!ini.empty()) {
    const size_t end = ini.find('\n');
    const std::string_view line = trim(ini.substr(0, end));
    ini = end == std::string_view::npos ? std::string_view() : ini.substr(end + 1);
    if (line.starts_with("[")) {
      flush();
    } else if (line.starts_with("Path=")) {
      path = std::string(line.substr(5));
    } else if (line.starts_with("IsRelative=")) {
      relative = line.substr(11) != "0";
    }
  }
  flush();
  // A path with ".." is not followed: profiles live below the root.
  std::erase_if(out, [](const std::string& p) { return p.find("..") != std::string::npos || p.empty(); });
  return out;
}

bool read_chromium_doh(std::string_view local_state, std::string& mode, std::string& templates) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(local_state, ec);
  if (ec || !v.is_object()) return false;
  const boost::json::value* doh = v.as_object().if_contains("dns_over_https");
  if (doh == nullptr || !doh->is_object()) return true;
  if (const auto* m = doh->as_object().if_contains("mode"); m && m->is_string()) mode = std::string(m->as_string());
  if (const auto* t = doh->as_object().if_contains("templates"); t && t->is_string()) {
    templates = std::string(t->as_string());
  }
  return true;
}

std::vector<BrowserDns> browser_dns(HostSource& source, const std::string& home) {
  std::vector<BrowserDns> out;
  if (home.empty() || home.front() != '/') return out;
  for (const char* root : kFirefoxRoots) {
    const std::string base = home + root;
    Result<std::string> ini = source.read_file(base + "/profiles.ini");
    if (!ini) continue;
    for (const std::string& profile : firefox_profiles(*ini, base)) {
      TrrPrefs prefs;
      std::string settings;
      for (const char* file : {"/prefs.js", "/user.js"}) {  // user.js is applied last
        if (Result<std::string> text = source.read_file(profile + file); text) {
          const int before = prefs.mode;
          read_trr_prefs(*text, prefs);
          if (prefs.mode != before) settings = profile + file;
        }
      }
      if (prefs.mode != 2 && prefs.mode != 3) continue;
      BrowserDns b;
      b.browser = "Firefox";
      b.profile = profile.substr(profile.rfind('/') + 1);
      b.mode = std::to_string(prefs.mode);
      b.resolver = prefs.uri.empty() ? "https://mozilla.cloudflare-dns.com/dns-query (Firefox's default)" : prefs.uri;
      b.bypasses_system = true;
      b.settings = settings;
      out.push_back(std::move(b));
    }
  }
  for (const ChromiumFlavour& c : kChromiums) {
    const std::string path = home + c.local_state;
    Result<std::string> text = source.read_file(path);
    if (!text) continue;
    std::string mode, templates;
    if (!read_chromium_doh(*text, mode, templates) || mode != "secure") continue;
    out.push_back({c.browser, "", mode, templates, true, path});
  }
  return out;
}

}  // namespace dnsleak::host
