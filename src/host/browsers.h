// Browsers that resolve names themselves over DNS over HTTPS and so bypass the system's resolver:
// a web leak test then shows the browser's resolver, `dnsleak test` the system's. Read from their
// own settings files (no browser runs): Firefox's profiles (profiles.ini, prefs.js, user.js:
// network.trr.mode and network.trr.uri) and Chromium-family "Local State" (dns_over_https).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/source.h"

namespace dnsleak::host {

struct BrowserDns {
  std::string browser;   // "Firefox", "Chromium", "Google Chrome", "Brave"
  std::string profile;   // Firefox's profile directory; empty for Chromium's Local State
  std::string mode;      // as the browser names it: Firefox "2" / "3", Chromium "secure" / "automatic"
  std::string resolver;  // the DoH URI or template, when set
  // True when the browser's lookups skip the system resolver: Firefox modes 2 (falls back to the
  // system's on failure) and 3 (never), Chromium "secure".
  bool bypasses_system = false;
  std::string settings;  // the file that says so
};

// Firefox's network.trr.* prefs from prefs.js / user.js text (user.js wins, as in Firefox).
struct TrrPrefs {
  int mode = -1;  // -1: not set (Firefox's default: off unless a rollout enables it)
  std::string uri;
};
void read_trr_prefs(std::string_view prefs_js, TrrPrefs& into);
// The profile directories profiles.ini lists, absolute (relative ones resolved against `base`).
[[nodiscard]] std::vector<std::string> firefox_profiles(std::string_view profiles_ini, const std::string& base);
// Chromium's "Local State": the dns_over_https mode and templates; nothing when not JSON.
[[nodiscard]] bool read_chromium_doh(std::string_view local_state, std::string& mode, std::string& templates);

// Every browser setting found under `home`, through `source` (read_file only).
[[nodiscard]] std::vector<BrowserDns> browser_dns(HostSource& source, const std::string& home);

}  // namespace dnsleak::host
