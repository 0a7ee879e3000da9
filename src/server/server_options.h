// dnsleakd's command line, resolved into what to do.
#pragma once

#include <string>
#include <variant>

#include "server/config.h"

namespace dnsleak::server {

struct ServeCommand {
  RawSettings settings;  // file and flags merged, not yet validated
};
struct TokenCommand {
  std::string secret;
  std::string zone;  // when set, print a whole test name
  std::string probe;
};
// Help or version was printed, or the arguments were wrong (message printed): exit with it.
struct ExitCommand {
  int code = 0;
};
using Command = std::variant<ServeCommand, TokenCommand, ExitCommand>;

// Parses argv. Throws ConfigError for a bad config file or secret.
[[nodiscard]] Command parse_command_line(int argc, char** argv);

}  // namespace dnsleak::server
