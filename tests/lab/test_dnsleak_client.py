"""`dnsleak test` in the lab's client namespace: each scenario's verdict and exit code, the
baseline flow, expectations, and bad servers, flags and timeouts. Needs root."""
import json
import os
import time
import unittest

import scenarios
from leaklab import DNSLEAK, Lab
from scenarios import SCENARIOS

EXIT = {"no_leak": 0, "leak": 1, "inconclusive": 2, "server_error": 3, "usage": 64}


class DnsleakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.lab.up()
        cls.home = os.path.join(cls.lab.dir, "home")
        os.makedirs(cls.home, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def setUp(self):
        self.lab.reset_client()

    def dnsleak(self, *args, timeout=60):
        # A private HOME: the baseline and config files of this run only.
        return self.lab.sh("client", "env", "HOME=" + self.home, "NO_COLOR=1", DNSLEAK, *args, check=False,
                           timeout=timeout)

    def json_run(self, *args):
        result = self.dnsleak("test", "--server", "http://leak.test", "--json", *args)
        return result.returncode, json.loads(result.stdout)

    def test_every_scenario_gets_its_ground_truth_and_exit_code(self):
        for s in SCENARIOS:
            with self.subTest(scenario=s.key):
                self.lab.reset_client()
                s.apply(self.lab)
                started = time.monotonic()
                code, report = self.json_run("--no-baseline")
                elapsed = time.monotonic() - started
                want = "leak" if s.leak else "no_leak"
                self.assertEqual(report["verdict"]["outcome"], want, report["verdict"])
                self.assertEqual(code, EXIT[want])
                self.assertEqual(report["exit_code"], code)
                seen = {r["address"] for r in report["resolvers"] if r["family"] == "ipv4"}
                self.assertEqual(seen, {address for address, _, _ in s.expected})
                self.assertTrue(all(not l["error"] for l in report["lookups"] if "-v6." not in l["name"]))
                self.assertEqual(report["probes"]["ipv4"]["status"], 204)
                self.assertLess(elapsed, 3.0)  # a standard test in the lab takes well under a second of work
        self.lab.reset_client()

    def test_resolvers_come_with_their_ptr_names(self):
        code, report = self.json_run("--no-baseline")
        self.assertEqual([(r["address"], r["reverse_name"]) for r in report["resolvers"] if r["family"] == "ipv4"],
                         [("10.77.20.53", "resolver.vpn.example")])

    def test_ipv4_only(self):
        code, report = self.json_run("--no-baseline", "-4")
        self.assertEqual(code, 0)
        self.assertEqual(report["probes"]["ipv6"]["status"], 0)  # not made
        self.assertEqual([e["address"] for e in report["egress"]], ["10.77.0.3"])
        self.assertTrue(all(":" not in a for l in report["lookups"] for a in l["addresses"]))

    def test_table_output_names_resolvers_and_verdict(self):
        scenarios.by_key("full-leak").apply(self.lab)
        result = self.dnsleak("test", "--server", "http://leak.test", "--no-baseline")
        self.assertEqual(result.returncode, 1)
        self.assertIn("10.77.10.53", result.stdout)
        self.assertIn("AS64500 Example ISP", result.stdout)
        self.assertIn("Verdict: DNS LEAK", result.stdout)
        self.assertNotIn("\033[", result.stdout)  # NO_COLOR and not a terminal
        quiet = self.dnsleak("test", "--server", "http://leak.test", "--no-baseline", "--quiet")
        self.assertEqual((quiet.returncode, quiet.stdout, quiet.stderr), (1, "", ""))

    def test_baseline_flags_the_isp_resolver_when_it_reappears(self):
        baseline = os.path.join(self.home, "isp-baseline.json")
        # Tunnel down: the ISP's resolver is what the system uses.
        scenarios.by_key("split-tunnel").apply(self.lab)
        result = self.dnsleak("test", "--server", "http://leak.test", "--save-baseline", baseline, "--quiet")
        with open(baseline) as f:
            saved = json.load(f)
        self.assertIn("10.77.10.53", saved["resolvers"])
        self.assertIn(64500, saved["asns"])
        # Tunnel up, the ISP resolver reached through it: the baseline says it is the ISP's.
        self.lab.reset_client()
        scenarios.by_key("isp-via-tunnel").apply(self.lab)
        code, report = self.json_run("--baseline", baseline)
        self.assertEqual(code, 1)
        self.assertIn("baseline_resolver_seen", [f["code"] for f in report["verdict"]["findings"]])
        # A public resolver seen with the tunnel down is not the ISP's: it stays out of a baseline.
        self.lab.reset_client()
        scenarios.by_key("public-via-tunnel").apply(self.lab)
        public_baseline = os.path.join(self.home, "public-baseline.json")
        self.dnsleak("test", "--server", "http://leak.test", "--save-baseline", public_baseline, "--quiet")
        with open(public_baseline) as f:
            self.assertEqual(json.load(f), {"resolvers": [], "asns": []})
        # The clean scenario is not flagged by the same baseline.
        self.lab.reset_client()
        code, report = self.json_run("--baseline", baseline)
        self.assertEqual(code, 0, report["verdict"])
        del result

    def test_expectations_override_the_heuristics(self):
        scenarios.by_key("public-via-tunnel").apply(self.lab)
        code, report = self.json_run("--no-baseline", "--expect-asn", "64501")
        self.assertEqual(code, 1)
        self.assertIn("unexpected_resolver", [f["code"] for f in report["verdict"]["findings"]])
        code, report = self.json_run("--no-baseline", "--expect-resolver", "10.77.30.53", "--expect-resolver",
                                     "fd77:0:0:30::53")
        self.assertEqual(code, 0)

    def test_dns_failing_for_every_name_is_inconclusive(self):
        # No resolver answers: the VPN resolver's route is gone and it is the only one.
        self.lab.ip("client", "route", "add", "unreachable", "10.77.20.53/32", "proto", "static")
        # The server by address: only the test names need DNS.
        result = self.dnsleak("test", "--server", "http://10.77.0.80", "--json", "--no-baseline", "--timeout", "6")
        code, report = result.returncode, json.loads(result.stdout)
        self.assertEqual(code, EXIT["inconclusive"])
        self.assertEqual(report["verdict"]["outcome"], "inconclusive")
        self.assertTrue(all(l["error"] for l in report["lookups"]))

    def test_unreachable_garbage_and_silent_servers(self):
        # Nothing listens there: said plainly, with the address tried, exit 3.
        result = self.dnsleak("test", "--server", "http://10.77.0.53:8")
        self.assertEqual(result.returncode, EXIT["server_error"])
        self.assertIn("cannot reach dnsleakd at http://10.77.0.53:8", result.stderr)
        # A server that answers garbage, and one that never answers, on the client's loopback.
        script = ("import socket,sys,time\n"
                  "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
                  "while True:\n"
                  "  c,_=s.accept(); c.recv(4096)\n"
                  "  if sys.argv[2]=='garbage': c.sendall(b'HTTP/1.1 201 Created\\r\\nContent-Length: 5\\r\\n\\r\\n<xml>'); c.close()\n"
                  "  elif sys.argv[2]=='badshape': c.sendall(b'HTTP/1.1 201 Created\\r\\nContent-Length: 8\\r\\n\\r\\n{\"id\":1}'); c.close()\n"
                  "  else: time.sleep(60)\n")
        for port, mode in ((18081, "garbage"), (18082, "silent"), (18083, "badshape")):
            self.lab.start("fake-" + mode, "client", "python3", "-c", script, str(port), mode)
        time.sleep(0.5)
        result = self.dnsleak("test", "--server", "http://127.0.0.1:18081")
        self.assertEqual(result.returncode, EXIT["server_error"])
        self.assertIn("not a test", result.stderr)
        # JSON of the wrong shape: a clear error, not a crash.
        result = self.dnsleak("test", "--server", "http://127.0.0.1:18083")
        self.assertEqual(result.returncode, EXIT["server_error"], result.stderr)
        self.assertIn("not a test", result.stderr)
        started = time.monotonic()
        result = self.dnsleak("test", "--server", "http://127.0.0.1:18082", "--timeout", "3")
        self.assertEqual(result.returncode, EXIT["server_error"])
        self.assertLess(time.monotonic() - started, 6)  # no hang past --timeout

    def test_bad_flags_are_usage_errors(self):
        for args, text in ((["test", "--server", "ftp://x"], "must start with http"),
                           (["test", "--server", "http://leak.test", "--expect-resolver", "nope"], "not an IP address"),
                           (["test", "--server", "http://leak.test", "-4", "-6"], "excludes"),
                           (["test", "--no-such-flag"], "no-such-flag"),
                           (["frobnicate"], "subcommand")):
            result = self.dnsleak(*args)
            self.assertEqual(result.returncode, EXIT["usage"], args)
            self.assertIn(text, result.stderr + result.stdout, args)
        result = self.lab.sh("client", "env", "HOME=" + self.home, "DNSLEAK_SERVER=", DNSLEAK, "test", check=False)
        self.assertEqual(result.returncode, EXIT["usage"])
        self.assertIn("no server", result.stderr)

    def test_count_sets_the_number_of_plain_names(self):
        code, report = self.json_run("--no-baseline", "--count", "3")
        self.assertEqual(code, 0)
        self.assertEqual(len(report["lookups"]), 3 + 3)  # and the v6., v4., tcp. names

    def test_public_mode_with_dnsleakd_whoami_standing_in(self):
        # The public echo names need the internet; in the lab dnsleakd's whoami answers the same way.
        def public(*extra):
            result = self.dnsleak("test", "--public", "--echo-name", "whoami.leak.test", "--json", *extra)
            return result.returncode, json.loads(result.stdout)
        code, report = public()
        self.assertEqual(code, EXIT["inconclusive"])  # no expectation: it can only report
        self.assertEqual(report["mode"], "public")
        self.assertEqual(report["echo"][0]["resolvers"], ["10.77.20.53"])
        self.assertIn("public_mode_limits", [f["code"] for f in report["verdict"]["findings"]])
        self.assertEqual(public("--expect-resolver", "10.77.20.53")[0], EXIT["no_leak"])
        self.assertEqual(public("--expect-resolver", "10.77.10.53")[0], EXIT["leak"])
        scenarios.by_key("full-leak").apply(self.lab)
        code, report = public("--expect-resolver", "10.77.20.53")
        self.assertEqual(code, EXIT["leak"])
        self.assertEqual(report["echo"][0]["resolvers"], ["10.77.10.53"])

    def test_config_file_names_the_default_server(self):
        os.makedirs(os.path.join(self.home, ".config", "dnsleak"), exist_ok=True)
        with open(os.path.join(self.home, ".config", "dnsleak", "dnsleak.toml"), "w") as f:
            f.write('server = "http://leak.test"\n')
        try:
            result = self.dnsleak("test", "--json", "--no-baseline")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(json.loads(result.stdout)["server"], "http://leak.test")
        finally:
            os.remove(os.path.join(self.home, ".config", "dnsleak", "dnsleak.toml"))


if __name__ == "__main__":
    unittest.main()
