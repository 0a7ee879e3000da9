#include "probe/echo_names.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <span>

#include "dns/response.h"
#include "net/ip_address.h"

namespace dnsleak::probe {
namespace {

bool is_ip(const std::string& text) { return net::parse_ip(text).has_value(); }

void add_unique(std::vector<std::string>& list, const std::string& value) {
  for (const std::string& v : list) {
    if (v == value) return;
  }
  list.push_back(value);
}

}  // namespace

std::vector<EchoName> public_echo_names() {
  return {{"whoami.ds.akahelp.net", true}, {"o-o.myaddr.l.google.com", true}, {"whoami.akamai.net", false}};
}

EchoAnswer parse_echo_txt(const std::vector<std::vector<std::string>>& records) {
  EchoAnswer answer;
  for (const std::vector<std::string>& strings : records) {
    if (strings.size() >= 2 && strings[0] == "ns" && is_ip(strings[1])) {
      add_unique(answer.resolvers, strings[1]);
    } else if (strings.size() >= 2 && strings[0] == "ecs") {
      answer.subnet = strings[1].substr(
          0, strings[1].rfind('/') > strings[1].find('/') ? strings[1].rfind('/') : strings[1].size());
    } else {
      for (const std::string& s : strings) {
        if (is_ip(s)) {
          add_unique(answer.resolvers, s);
        } else if (s.rfind("edns0-client-subnet ", 0) == 0) {
          answer.subnet = s.substr(20);
        } else if (s.rfind("resolver=", 0) == 0) {
          const std::string address =
              s.substr(9, s.find(' ') == std::string::npos ? std::string::npos : s.find(' ') - 9);
          if (is_ip(address)) add_unique(answer.resolvers, address);
        } else if (s.rfind("ecs=", 0) == 0) {
          answer.subnet = s.substr(4);
        }
      }
    }
  }
  if (answer.resolvers.empty()) answer.error = "the answer names no resolver";
  return answer;
}

std::optional<std::vector<std::vector<std::string>>> query_txt(const std::string& name, std::string& error) {
  struct __res_state state {};
  if (res_ninit(&state) != 0) {
    error = "cannot read the resolver configuration";
    return std::nullopt;
  }
  std::vector<unsigned char> buffer(NS_MAXMSG);  // the largest message (see reverse_names.cpp)
  unsigned char* answer = buffer.data();
  const int length = res_nquery(&state, name.c_str(), ns_c_in, ns_t_txt, answer, static_cast<int>(buffer.size()));
  res_nclose(&state);
  if (length > static_cast<int>(buffer.size())) {
    error = "an oversized answer for " + name;
    return std::nullopt;
  }
  if (length < 0) {
    error = "no answer for " + name + " (" + hstrerror(h_errno) + ")";
    return std::nullopt;
  }
  const Result<dns::Response> response =
      dns::parse_response(std::as_bytes(std::span(buffer.data(), static_cast<size_t>(length))));
  if (!response) {
    error = "a malformed answer for " + name + " (" + response.error().message + ")";
    return std::nullopt;
  }
  std::vector<std::vector<std::string>> records;
  for (const dns::ResourceRecord& rr : response->records()) {
    if (rr.section != dns::Section::answer || rr.type != dns::rr_type::TXT) continue;
    Result<std::vector<std::string>> strings = response->txt_strings(rr);
    if (strings) records.push_back(std::move(*strings));
  }
  return records;
}

EchoAnswer ask_echo(const EchoName& echo) {
  if (echo.txt) {
    std::string error;
    const auto records = query_txt(echo.name, error);
    if (!records) return {{}, "", error};
    return parse_echo_txt(*records);
  }
  EchoAnswer answer;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(echo.name.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    answer.error = std::string("no answer for ") + echo.name + " (" + gai_strerror(rc) + ")";
    return answer;
  }
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
    add_unique(answer.resolvers, text);
  }
  freeaddrinfo(list);
  return answer;
}

}  // namespace dnsleak::probe
