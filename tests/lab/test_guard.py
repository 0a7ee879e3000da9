"""`dnsleak guard` in the lab's client namespace: with it on, each scenario's leak stops (dnsleakd
records no resolver outside the tunnel, `dnsleak watch` sees nothing leave on eth0, the counters
rise, blocked lookups fail at once) while DNS through the tunnel works; `guard off` brings the
scenario back exactly. Needs root."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

import scenarios
from leaklab import CLIENT6, DNSLEAK, ISP_DNS4, NOBODY, PUB_DNS4, VPN_DNS4, WEB4, WEB6, Lab, public_dnsleak, run
from scenarios import SCENARIOS

OUTSIDE_RESOLVERS = {ISP_DNS4, PUB_DNS4, "fd77:0:0:10::53", "fd77:0:0:30::53"}


def blocked(status):
    """Packets the guard's blocking rules matched, from `guard status --json`."""
    return sum(r["packets"] + r["forwarded_packets"] for r in status["rules"] if r["blocks"])


class Guard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.lab.up()
        cls.dir, cls.unprivileged = public_dnsleak("dnsleak-guard-")
        cls.state_dir = os.path.join(cls.dir, "run")
        cls.unit_dir = os.path.join(cls.dir, "systemd")

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.lab.reset_client()

    def tearDown(self):
        self.dnsleak("guard", "off", "--persist")
        self.lab.reset_client()

    def dnsleak(self, *args, user=None, env=(), timeout=60):
        program = self.unprivileged if user else DNSLEAK
        return self.lab.sh("client", *(user or []), "env", "DNSLEAK_STATE_DIR=" + self.state_dir,
                           "DNSLEAK_UNIT_DIR=" + self.unit_dir, "NO_COLOR=1", *env, program, *args, check=False,
                           timeout=timeout)

    def guard(self, *args, env=()):
        result = self.dnsleak("guard", *args, "--json", env=env)
        self.assertIn(result.returncode, (0, 1), result.stderr)
        return json.loads(result.stdout)

    def nft_list(self):
        return self.lab.sh("client", "nft", "list", "ruleset").stdout

    def timed_lookup(self, name):
        started = time.monotonic()
        code, _ = self.lab.lookup(name)
        return code, time.monotonic() - started

    def outside_resolvers(self, name):
        return {o["resolver"] for o in self.lab.settle(name, expect_at_least=0)} & OUTSIDE_RESOLVERS

    def tunnel_lookup_works(self):
        name = self.lab.test_name()
        out = self.lab.sh("client", "kdig", "@" + VPN_DNS4, name, "A", "+timeout=2", "+retry=0", check=False).stdout
        return "status: NOERROR" in out

    def test_dry_run_prints_what_nft_accepts_for_each_option_combination(self):
        for args in ([], ["--block-ipv6"], ["--allow-resolver", VPN_DNS4], ["--allow-resolver", "fd77:0:0:1::1%eth0"],
                     ["--allow-resolver", VPN_DNS4, "--block-ipv6", "--tunnel", "wg0"]):
            with self.subTest(args=args):
                result = self.dnsleak("guard", "on", "--dry-run", "--tunnel", "tun0", *args, user=NOBODY)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("table inet dnsleak {", result.stdout)
                run("ip", "netns", "exec", self.lab.ns["client"], "nft", "-c", "-f", "-", input_text=result.stdout)
        self.assertNotIn("dnsleak", self.nft_list())  # a dry run changes nothing

    def test_guard_stops_each_leak_and_off_brings_it_back(self):
        for s in SCENARIOS:
            if not s.leaves_on_eth0:
                continue
            with self.subTest(scenario=s.key):
                self.lab.reset_client()
                s.apply(self.lab)
                ruleset_before = self.nft_list()
                on = self.guard("on")
                self.assertEqual((on["on"], on["tunnels"]), (True, ["tun0"]), on)
                name = self.lab.test_name()
                code, seconds = self.timed_lookup(name)
                self.assertEqual(self.outside_resolvers(name), set(), "a resolver outside the tunnel was reached")
                if s.key == "parallel":
                    self.assertEqual(code, 0)  # the forwarder's VPN upstream still answers
                    result = self.dnsleak("test", "--server", "http://leak.test", "--json", "--no-baseline")
                    self.assertEqual((json.loads(result.stdout)["verdict"]["outcome"], result.returncode),
                                     ("no_leak", 0), result.stdout)
                else:
                    self.assertNotEqual(code, 0)
                    self.assertLess(seconds, 1.0, "a blocked lookup must fail at once, not time out")
                    # No DNS at all (every resolver is outside the tunnel): the server is given by
                    # address, and the test says no leak, proven by the capture, and why names fail.
                    result = self.dnsleak("test", "--server", "http://" + WEB4, "-4", "--json", "--no-baseline")
                    verdict = json.loads(result.stdout)["verdict"]
                    self.assertEqual((verdict["outcome"], verdict["certainty"], result.returncode),
                                     ("no_leak", "proven", 0), verdict)
                    self.assertIn("dns_blocked_outside_tunnel", {f["code"] for f in verdict["findings"]})
                watched = self.dnsleak("watch", "--json", "--", "getent", "ahosts", "watch-" + name, timeout=30)
                self.assertEqual(watched.returncode, 0, watched.stdout)
                self.assertEqual(watched.stdout.strip(), "")
                # inspect reads the guard in the firewall: a resolver outside is stopped, not a leak.
                findings = json.loads(self.dnsleak("inspect", "--json").stdout)["findings"]
                self.assertNotIn("resolver_outside_tunnel", {f["code"] for f in findings})
                if s.key in ("full-leak", "ipv6-leak", "split-tunnel", "public-over-eth0"):
                    self.assertIn("resolver_blocked_outside_tunnel", {f["code"] for f in findings})
                self.assertIn("firewall_stops_dns_outside", {f["code"] for f in findings})
                status = self.guard("status")
                self.assertTrue(status["on"])
                self.assertGreater(blocked(status), 0, status["rules"])
                if "dev tun0" in self.lab.sh("client", "ip", "route", "get", VPN_DNS4, check=False).stdout:
                    self.assertTrue(self.tunnel_lookup_works())  # (not where the scenario routes it elsewhere)
                off = self.guard("off")
                self.assertFalse(off["on"])
                self.assertEqual(self.nft_list(), ruleset_before)
                # The scenario is back exactly: the leak too.
                name = self.lab.test_name()
                self.lab.lookup(name)
                seen = scenarios.resolvers_seen(self.lab.settle(name))
                self.assertEqual(seen, s.expected)

    def test_a_resolver_reached_through_the_tunnel_needs_allow_resolver(self):
        scenarios.by_key("isp-via-tunnel").apply(self.lab)
        status = self.guard("on")
        self.assertTrue(status["tunnel_open_to_any_resolver"])
        status = self.guard("status")
        self.assertIn("cannot stop a resolver outside the VPN", status["caveat"])
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertIn("guard_tunnel_open", {f["code"] for f in report["findings"]})
        name = self.lab.test_name()
        self.lab.lookup(name)
        self.assertEqual(self.outside_resolvers(name), {ISP_DNS4})  # through tun0: the interface rule lets it by
        on = self.guard("on", "--allow-resolver", VPN_DNS4)
        self.assertFalse(on["tunnel_open_to_any_resolver"])
        name = self.lab.test_name()
        code, seconds = self.timed_lookup(name)
        self.assertNotEqual(code, 0)
        self.assertLess(seconds, 1.0)
        self.assertEqual(self.outside_resolvers(name), set())
        self.assertTrue(self.tunnel_lookup_works())
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertNotIn("guard_tunnel_open", {f["code"] for f in report["findings"]})

    def test_on_twice_is_on_once_off_twice_is_off_and_a_bystander_table_is_untouched(self):
        self.lab.nft("client", "table inet bystander {\n chain out {\n  type filter hook output priority 10;\n"
                               "  udp dport 9999 accept\n }\n}\n")
        bystander = self.lab.sh("client", "nft", "list", "table", "inet", "bystander").stdout
        first = self.guard("on")
        self.assertTrue(first["changed"])
        ruleset = self.nft_list()
        second = self.guard("on")
        self.assertFalse(second["changed"])
        self.assertEqual(self.nft_list(), ruleset)
        self.assertEqual(self.nft_list().count("table inet dnsleak"), 1)
        self.assertEqual(self.guard("off")["undone"], ["removed the table inet dnsleak"])
        self.assertEqual(self.guard("off")["undone"], [])
        self.assertNotIn("table inet dnsleak", self.nft_list())
        self.assertEqual(self.lab.sh("client", "nft", "list", "table", "inet", "bystander").stdout, bystander)
        status = self.dnsleak("guard", "status")
        self.assertEqual(status.returncode, 1)
        self.assertIn("guard is off", status.stdout)
        self.lab.sh("client", "nft", "delete", "table", "inet", "bystander")

    def connect(self, address, port=80):
        """A TCP connection from the client: 'ok', or the error, and the seconds it took."""
        code = ("import socket,sys,time\nt=time.monotonic()\ntry:\n socket.create_connection((%r,%d),timeout=5)"
                "\n print('ok',time.monotonic()-t)\nexcept OSError as e:\n print(type(e).__name__,time.monotonic()-t)"
                % (address, port))
        word, seconds = self.lab.sh("client", "python3", "-c", code).stdout.split()
        return word, float(seconds)

    def test_ipv6_outside_the_tunnel_is_blocked_with_block_ipv6_and_not_without(self):
        self.guard("on")
        self.assertEqual(self.connect(WEB6)[0], "ok")
        self.guard("on", "--block-ipv6")
        word, seconds = self.connect(WEB6)
        self.assertNotEqual(word, "ok")
        self.assertLess(seconds, 1.0)
        self.assertEqual(self.connect(WEB4)[0], "ok")  # IPv4 goes through the tunnel
        # Link-local IPv6 and neighbour discovery still work: the router answers on its fe80:: address.
        router = [a["local"] for a in json.loads(self.lab.sh("isp", "ip", "-j", "-6", "addr", "show", "dev", "lan0")
                                                  .stdout)[0]["addr_info"] if a["local"].startswith("fe80:")][0]
        self.lab.sh("client", "ip", "-6", "neigh", "flush", "dev", "eth0")
        word, _ = self.connect(router + "%eth0", 9)  # nothing listens: the router's reset comes back
        self.assertEqual(word, "ConnectionRefusedError")
        self.assertIn(router + " lladdr", self.lab.sh("client", "ip", "-6", "neigh", "show", "dev", "eth0").stdout)
        passed = {r["id"]: r["packets"] for r in self.guard("status")["rules"]}
        self.assertGreater(passed["ipv6-link-local"], 0)
        self.assertEqual(self.guard("status")["rules"][-1]["id"], "ipv6-rejected")
        # This host's replies to a connection made to it over IPv6 still leave (an SSH session).
        self.lab.start("v6-listener", "client", "python3", "-m", "http.server", "--bind", CLIENT6, "8080")
        try:
            self.lab.wait_for("the listener", lambda: self.lab.sh("client", "ss", "-ltn").stdout.count(":8080") > 0)
            code = ("import http.client\nc=http.client.HTTPConnection(%r,8080,timeout=5)\nc.request('GET','/')\n"
                    "print(c.getresponse().status)" % CLIENT6)
            fetched = self.lab.sh("isp", "python3", "-c", code, check=False)
            self.assertEqual(fetched.stdout.strip(), "200", fetched.stderr)
        finally:
            self.lab.stop("v6-listener")
        self.guard("off")
        self.assertEqual(self.connect(WEB6)[0], "ok")

    def resolved_state(self):
        links = {l["ifname"]: l["ifindex"] for l in json.loads(self.lab.sh("client", "ip", "-j", "link").stdout)}
        return links, {"resolv_conf_mode": "stub", "links": [
            {"ifindex": links["tun0"], "dns": [VPN_DNS4], "domains": [{"domain": "vpn.example", "routing_only": False}],
             "default_route": True},
            {"ifindex": links["eth0"], "dns": [ISP_DNS4], "domains": [], "default_route": True}]}

    def test_with_systemd_resolved_every_domain_goes_to_the_tunnel_and_off_puts_it_back(self):
        links, state = self.resolved_state()
        state_file, address = self.lab.start_fake_resolved(state, self.dir)
        bus = ["DBUS_SYSTEM_BUS_ADDRESS=" + address]
        try:
            on = self.guard("on", env=bus)
            self.assertEqual({c["link"] for c in on["resolved_changes"]}, {"tun0", "eth0"}, on)
            with open(state_file) as f:
                changed = json.load(f)
            by_index = {l["ifindex"]: l for l in changed["links"]}
            self.assertIn({"domain": ".", "routing_only": True}, by_index[links["tun0"]]["domains"])
            self.assertIn({"domain": "vpn.example", "routing_only": False}, by_index[links["tun0"]]["domains"])
            self.assertFalse(by_index[links["eth0"]]["default_route"])
            self.assertFalse(self.guard("on", env=bus)["changed"])  # on twice: the first originals are kept
            self.guard("off", env=bus)
            with open(state_file) as f:
                restored = json.load(f)
            restored.pop("calls")
            self.assertEqual(restored, state)
        finally:
            self.lab.stop("fake-resolved")
            self.lab.stop("dbus-daemon")

    def test_a_guard_left_by_a_killed_process_is_removed_by_off(self):
        links, state = self.resolved_state()
        state["hang_once"] = True  # resolved never answers: `guard on` is stuck after the table is in
        state_file, address = self.lab.start_fake_resolved(state, self.dir)
        try:
            proc = subprocess.Popen(["ip", "netns", "exec", self.lab.ns["client"], "env",
                                     "DNSLEAK_STATE_DIR=" + self.state_dir, "DBUS_SYSTEM_BUS_ADDRESS=" + address,
                                     DNSLEAK, "guard", "on"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while "table inet dnsleak" not in self.nft_list() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("table inet dnsleak", self.nft_list())
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            self.assertTrue(os.path.exists(os.path.join(self.state_dir, "guard.json")))
            self.assertEqual(self.guard("status", env=["DBUS_SYSTEM_BUS_ADDRESS=" + address])["on"], True)
            off = self.guard("off", env=["DBUS_SYSTEM_BUS_ADDRESS=" + address])
            self.assertIn("removed the table inet dnsleak", off["undone"])
            self.assertEqual(off["failed"], [])
            self.assertNotIn("table inet dnsleak", self.nft_list())
            self.assertFalse(os.path.exists(os.path.join(self.state_dir, "guard.json")))
            with open(state_file) as f:
                restored = json.load(f)
            self.assertEqual([l["domains"] for l in restored["links"]], [l["domains"] for l in state["links"]])
            self.assertEqual([l["default_route"] for l in restored["links"]], [True, True])
        finally:
            self.lab.stop("fake-resolved")
            self.lab.stop("dbus-daemon")

    def test_without_cap_net_admin_it_says_so_and_changes_nothing(self):
        for verb in ("on", "off", "status"):
            with self.subTest(verb=verb):
                result = self.dnsleak("guard", verb, user=NOBODY)
                self.assertEqual(result.returncode, 4, result.stderr)
                self.assertIn("CAP_NET_ADMIN", result.stderr)
        self.assertNotIn("dnsleak", self.nft_list())
        self.lab.ip("client", "link", "set", "tun0", "down")
        try:
            result = self.dnsleak("guard", "on")
            self.assertEqual(result.returncode, 64)
            self.assertIn("no tunnel is up", result.stderr)
        finally:
            self.lab.ip("client", "link", "set", "tun0", "up")

    def test_persist_installs_a_boot_unit_that_off_persist_removes(self):
        on = self.guard("on", "--persist", "--allow-resolver", VPN_DNS4)
        self.assertTrue(on["persist"])
        unit = os.path.join(self.unit_dir, "dnsleak-guard.service")
        with open(unit) as f:
            text = f.read()
        self.assertIn("ExecStart=%s guard on --no-resolved --tunnel tun0 --allow-resolver %s" % (DNSLEAK, VPN_DNS4), text)
        self.assertIn("Before=network-pre.target", text)
        self.assertEqual(os.readlink(os.path.join(self.unit_dir, "sysinit.target.wants", "dnsleak-guard.service")), unit)
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(verify.returncode, 0, verify.stderr)
        # What the unit runs at boot works: the table from nothing, no resolved, no tunnel detection.
        self.guard("off")
        self.assertIn("stays", self.dnsleak("guard", "off").stdout + self.dnsleak("guard", "status").stdout)
        command = text.split("ExecStart=")[1].splitlines()[0].split()
        result = self.dnsleak(*command[1:])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("table inet dnsleak", self.nft_list())
        off = self.guard("off", "--persist")
        self.assertFalse(off["persist"])
        self.assertFalse(os.path.exists(unit))
        self.assertFalse(os.path.lexists(os.path.join(self.unit_dir, "sysinit.target.wants", "dnsleak-guard.service")))


if __name__ == "__main__":
    unittest.main()
