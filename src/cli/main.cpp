// dnsleak: the client. Its commands (test, inspect, watch, guard) arrive with their issues; until
// then it says so honestly instead of pretending.
#include <CLI/CLI.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{
      "dnsleak: the DNS leak test client (test, inspect, watch, guard).\n"
      "No command is available in this version yet; see the README for dnsleakd."};
  app.set_version_flag("--version", "dnsleak 0.1.0");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::fprintf(stderr, "dnsleak: no command is implemented in this version yet (see --help)\n");
  return 2;
}
