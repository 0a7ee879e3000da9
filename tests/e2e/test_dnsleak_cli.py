"""The dnsleak client's command line without a network: --help and the man page agree; usage
errors and an unreachable server give the documented exit codes."""
import os
import re
import subprocess
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DNSLEAK = os.environ.get("DNSLEAK", os.path.join(ROOT, "build", "dnsleak"))
MAN_PAGE = os.path.join(ROOT, "docs", "dnsleak.1")


def run(*args):
    return subprocess.run([DNSLEAK, *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "DNSLEAK_SERVER": "", "HOME": "/nonexistent"})


class DnsleakCommandLine(unittest.TestCase):
    def test_help_and_man_page_name_the_same_options(self):
        help_text = run("test", "--help").stdout
        help_options = set()
        for command in (["test"], ["inspect"], ["watch"], ["guard", "on"], ["guard", "off"], ["guard", "status"]):
            help_options |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[46q])\b", run(*command, "--help").stdout))
        with open(MAN_PAGE) as f:
            man = f.read().replace("\\-", "-")
        man_options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[46q])\b", man))
        self.assertEqual(help_options - {"--help"}, man_options - {"--help", "--version"})
        for code in ("0 no leak", "1 leak found", "2 could not tell", "3 the server", "4 a capability", "64 usage"):
            self.assertIn(code, " ".join(help_text.split()) + " " + run("--help").stdout.replace("\n", " "))
            self.assertIn(code, " ".join(man.split()))

    def test_usage_errors_exit_64(self):
        self.assertEqual(run().returncode, 64)
        self.assertEqual(run("test", "--timeout", "0").returncode, 64)
        result = run("test")
        self.assertEqual(result.returncode, 64)
        self.assertIn("no server", result.stderr)

    def test_unreachable_server_exits_3_and_names_it(self):
        result = run("test", "--server", "http://127.0.0.1:9", "--timeout", "3")
        self.assertEqual(result.returncode, 3)
        self.assertIn("cannot reach dnsleakd at http://127.0.0.1:9", result.stderr)
        result = run("test", "--server", "http://127.0.0.1:9", "--json", "--timeout", "3")
        self.assertEqual(result.returncode, 3)
        self.assertIn('"exit_code":3', result.stdout)


if __name__ == "__main__":
    unittest.main()
