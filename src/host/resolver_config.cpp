#include "host/resolver_config.h"

#include <algorithm>

namespace dnsleak::host {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Shown in a problem: printable ASCII only, cut to a readable length.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 80) out += "...";
  return out + "'";
}

// Calls `use(number, line)` for each line of at most kMaxConfigLine characters; reports the rest.
template <class Use>
void each_line(std::string_view text, std::vector<std::string>& problems, Use use) {
  if (text.size() > kMaxConfigFile) {
    problems.push_back("the file is larger than " + std::to_string(kMaxConfigFile) + " bytes; only its start is read");
    text = text.substr(0, kMaxConfigFile);
  }
  unsigned number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (line.size() > kMaxConfigLine) {
      problems.push_back("line " + std::to_string(number) + ": longer than " + std::to_string(kMaxConfigLine) +
                         " characters; ignored");
      continue;
    }
    if (line.find('\0') != std::string_view::npos) {
      problems.push_back("line " + std::to_string(number) + ": holds a NUL byte; ignored");
      continue;
    }
    use(number, line);
  }
}

}  // namespace

ResolvConf parse_resolv_conf(std::string_view text) {
  ResolvConf conf;
  each_line(text, conf.problems, [&](unsigned number, std::string_view line) {
    std::vector<std::string_view> w = words(line);
    if (w.empty() || w[0][0] == '#' || w[0][0] == ';') return;
    // A comment may follow the values (glibc stops reading a value at the first blank).
    for (size_t i = 1; i < w.size(); ++i) {
      if (w[i][0] == '#' || w[i][0] == ';') {
        w.resize(i);
        break;
      }
    }
    const std::string at = "line " + std::to_string(number) + ": ";
    const std::string_view key = w[0];
    if (key == "nameserver") {
      if (w.size() < 2) {
        conf.problems.push_back(at + "'nameserver' without an address; ignored");
        return;
      }
      std::string_view value = w[1];
      Nameserver server;
      server.line = number;
      if (const size_t percent = value.find('%'); percent != std::string_view::npos) {
        server.zone = std::string(value.substr(percent + 1));
        value = value.substr(0, percent);
      }
      const Result<net::IpAddress> address = net::parse_ip(value);
      if (!address) {
        conf.problems.push_back(at + quoted(w[1]) + " is not an IP address; ignored");
        return;
      }
      server.address = *address;
      conf.nameservers.push_back(std::move(server));
    } else if (key == "search" || key == "domain") {
      conf.search.clear();
      for (size_t i = 1; i < w.size(); ++i) conf.search.emplace_back(w[i]);
      if (key == "domain" && conf.search.size() > 1) conf.search.resize(1);
    } else if (key == "options") {
      for (size_t i = 1; i < w.size(); ++i) conf.options.emplace_back(w[i]);
    } else if (key != "sortlist") {
      conf.problems.push_back(at + "unknown keyword " + quoted(key) + "; ignored (glibc ignores it too)");
    }
  });
  return conf;
}

NsSwitchHosts parse_nsswitch_hosts(std::string_view text) {
  NsSwitchHosts hosts;
  each_line(text, hosts.problems, [&](unsigned, std::string_view line) {
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::vector<std::string_view> key = words(line.substr(0, colon));
    if (key.size() != 1 || key[0] != "hosts") return;
    hosts.found = true;
    hosts.sources.clear();  // the last hosts: line counts
    bool in_action = false;
    for (const std::string_view w : words(line.substr(colon + 1))) {
      // [NOTFOUND=return] and its kind are actions, not sources; they may hold blanks.
      if (w.front() == '[') in_action = true;
      if (!in_action) hosts.sources.emplace_back(w);
      if (w.back() == ']') in_action = false;
    }
  });
  return hosts;
}

}  // namespace dnsleak::host
