// dnsleak's command line into a typed action: what each flag becomes, and what is refused.
#include "cli/arguments.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>

namespace dnsleak::cli {
namespace {

class ArgumentsTest : public ::testing::Test {
 protected:
  ArgumentsTest() {
    // A private config dir: no user's baseline or dnsleak.toml leaks in, and none of another test
    // (ctest runs each test as a process of its own, side by side).
    home_ = ::testing::TempDir() + "/arguments-home-" + std::to_string(::getpid());
    std::filesystem::create_directories(home_ + "/dnsleak");
    ::setenv("XDG_CONFIG_HOME", home_.c_str(), 1);
    ::unsetenv("DNSLEAK_SERVER");
  }
  ~ArgumentsTest() override { ::unsetenv("XDG_CONFIG_HOME"); }

  static Action parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"dnsleak"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_arguments(static_cast<int>(argv.size()), argv.data());
  }
  static int exit_code_of(const Action& a) {
    const auto* exit = std::get_if<ExitAction>(&a);
    return exit != nullptr ? exit->code : -1;
  }
  std::string home_;
};

TEST_F(ArgumentsTest, ATestBecomesItsOptions) {
  const Action a = parse({"test", "--server", "https://leak.example.org", "--extended", "-4", "--timeout", "3",
                          "--expect-resolver", "10.8.0.1", "--expect-asn", "64501", "--json", "--interface", "wg0"});
  const auto* test = std::get_if<LeakTestAction>(&a);
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(test->output, OutputMode::json);
  EXPECT_EQ(test->options.server, "https://leak.example.org");
  EXPECT_TRUE(test->options.extended);
  EXPECT_EQ(test->options.family, 4);
  EXPECT_EQ(test->options.timeout_ms, 3000);
  EXPECT_EQ(test->options.interface, "wg0");
  ASSERT_EQ(test->options.expected.resolvers.size(), 1u);
  EXPECT_EQ(test->options.expected.resolvers[0].to_string(), "10.8.0.1");
  EXPECT_EQ(test->options.expected.asns, std::vector<uint32_t>{64501});
  EXPECT_FALSE(test->options.progress);  // never with --json
  EXPECT_FALSE(test->save_baseline_to);
}

TEST_F(ArgumentsTest, TheServerComesFromTheEnvironmentOrTheConfigFile) {
  EXPECT_EQ(exit_code_of(parse({"test"})), kUsage);  // none anywhere
  std::ofstream(home_ + "/dnsleak/dnsleak.toml") << "server = \"http://from-file.test\"\n";
  const Action from_file = parse({"test", "-q"});
  const auto* test = std::get_if<LeakTestAction>(&from_file);
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(test->options.server, "http://from-file.test");
  EXPECT_EQ(test->output, OutputMode::quiet);
  ::setenv("DNSLEAK_SERVER", "http://from-env.test", 1);
  const Action a = parse({"test"});
  ASSERT_TRUE(std::holds_alternative<LeakTestAction>(a));
  EXPECT_EQ(std::get<LeakTestAction>(a).options.server, "http://from-env.test");
  std::ofstream(home_ + "/dnsleak/dnsleak.toml") << "server = [broken\n";
  ::unsetenv("DNSLEAK_SERVER");
  EXPECT_EQ(exit_code_of(parse({"test"})), kUsage);  // a broken config file is a usage error
  std::filesystem::remove(home_ + "/dnsleak/dnsleak.toml");
}

TEST_F(ArgumentsTest, BaselinesAreLoadedOrSavedAsAsked) {
  const std::string file = home_ + "/dnsleak/baseline.json";
  std::ofstream(file) << R"({"resolvers":["192.0.2.53"],"asns":[64500]})"
                      << "\n";
  const Action loaded = parse({"test", "--server", "http://x.test"});
  ASSERT_TRUE(std::holds_alternative<LeakTestAction>(loaded));
  EXPECT_EQ(std::get<LeakTestAction>(loaded).options.baseline.asns, std::vector<uint32_t>{64500});
  const Action skipped = parse({"test", "--server", "http://x.test", "--no-baseline"});
  EXPECT_TRUE(std::get<LeakTestAction>(skipped).options.baseline.asns.empty());
  const Action saving = parse({"test", "--server", "http://x.test", "--save-baseline"});
  EXPECT_EQ(std::get<LeakTestAction>(saving).save_baseline_to, file);
  EXPECT_TRUE(std::get<LeakTestAction>(saving).options.baseline.asns.empty());  // not compared while saving
  std::ofstream(file) << "garbage";
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "http://x.test"})), kUsage);
  std::filesystem::remove(file);
}

TEST_F(ArgumentsTest, PublicModeTakesEchoNamesAndRefusesAsNumbers) {
  const Action a = parse({"test", "--public", "--echo-name", "whoami.leak.test", "--expect-resolver", "10.8.0.1"});
  const auto* pub = std::get_if<PublicTestAction>(&a);
  ASSERT_NE(pub, nullptr);
  ASSERT_EQ(pub->names.size(), 1u);
  EXPECT_EQ(pub->names[0].name, "whoami.leak.test");
  EXPECT_EQ(pub->expected.resolvers.size(), 1u);
  const Action defaults = parse({"test", "--public"});
  EXPECT_GE(std::get<PublicTestAction>(defaults).names.size(), 3u);
  // No network data in public mode: an expected AS number could never match.
  EXPECT_EQ(exit_code_of(parse({"test", "--public", "--expect-asn", "64501"})), kUsage);
}

TEST_F(ArgumentsTest, BadInputIsAUsageErrorAndHelpIsNot) {
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "ftp://x.test"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "http://x.test", "--expect-resolver", "nope"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "http://x.test", "--count", "0"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "http://x.test", "-4", "-6"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"test", "--server", "http://x.test", "--json", "--quiet"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"test", "--echo-name", "a.test"})), kUsage);  // needs --public
  EXPECT_EQ(exit_code_of(parse({})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"frobnicate"})), kUsage);
  EXPECT_EQ(exit_code_of(parse({"--help"})), 0);
  EXPECT_EQ(exit_code_of(parse({"--version"})), 0);
}

}  // namespace
}  // namespace dnsleak::cli
