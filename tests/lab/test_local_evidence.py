"""The machine's own evidence in the lab's client namespace: `dnsleak inspect` names each
scenario's risk, `dnsleak test` as root proves leaks by capturing its own names on eth0, `dnsleak
watch` shows what leaves, and unprivileged runs still judge by routes and say what they could not
check. Needs root."""
import json
import os
import re
import shutil
import tempfile
import time
import unittest

import scenarios
from leaklab import DNSLEAK, ISP_DNS4, ISP_DNS6, NOBODY, PUB_DNS4, VPN_DNS4, Lab, public_dnsleak
from scenarios import SCENARIOS

# The resolver each scenario's client sends its queries to outside the tunnel (as routed), if any.
OUTSIDE = {"full-leak": ISP_DNS4, "ipv6-leak": ISP_DNS6, "fallback-leak": ISP_DNS6, "split-tunnel": ISP_DNS4,
           "public-over-eth0": PUB_DNS4}


def codes(findings, severity=None):
    return {f["code"] for f in findings if severity is None or f["severity"] == severity}


class LocalEvidence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.lab.up()
        cls.public, cls.unprivileged_dnsleak = public_dnsleak("dnsleak-local-")
        cls.home = os.path.join(cls.public, "home")
        os.makedirs(cls.home, exist_ok=True)
        os.chmod(cls.home, 0o777)

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()
        shutil.rmtree(cls.public, ignore_errors=True)

    def setUp(self):
        self.lab.reset_client()

    def dnsleak(self, *args, user=None, timeout=60):
        program = self.unprivileged_dnsleak if user else DNSLEAK
        return self.lab.sh("client", *(user or []), "env", "-u", "SUDO_USER", "HOME=" + self.home, "NO_COLOR=1", program, *args,
                           check=False, timeout=timeout)

    def test_inspect_names_each_scenarios_risk_and_none_where_there_is_none(self):
        for s in SCENARIOS:
            with self.subTest(scenario=s.key):
                self.lab.reset_client()
                s.apply(self.lab)
                result = self.dnsleak("inspect", "--json")
                report = json.loads(result.stdout)
                self.assertEqual(report["tunnels"], ["tun0"])
                leaks = codes(report["findings"], "leak")
                if s.key in OUTSIDE:
                    self.assertIn("resolver_outside_tunnel", leaks, report["findings"])
                    outside = [r for r in report["resolvers"] if r["path"] == "outside"]
                    self.assertEqual([(r["address"], r["interface"]) for r in outside], [(OUTSIDE[s.key], "eth0")])
                    self.assertEqual(result.returncode, 1)
                else:
                    self.assertEqual(leaks, set(), report["findings"])
                    self.assertEqual(result.returncode, 0)
                # The lab's IPv6 is never tunnelled: said in every scenario, as a warning.
                self.assertIn("ipv6_outside_tunnel", codes(report["findings"], "warning"))
                fixes = [f.get("fix", "") for f in report["findings"] if f["code"] == "resolver_outside_tunnel"]
                self.assertTrue(all("dev tun0" in fix for fix in fixes), fixes)
        self.lab.reset_client()
        # Each scenario's own mark.
        scenarios.by_key("parallel").apply(self.lab)
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertIn("local_stub_upstreams_unknown", codes(report["findings"]))
        self.lab.reset_client()
        scenarios.by_key("local-forwarder").apply(self.lab)
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertIn("local_stub_upstreams_unknown", codes(report["findings"], "warning"))
        self.lab.reset_client()
        scenarios.by_key("fallback-leak").apply(self.lab)
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertIn("resolver_unreachable", codes(report["findings"]))
        self.assertEqual([r["path"] for r in report["resolvers"]], ["unreachable", "outside"])
        self.lab.reset_client()
        scenarios.by_key("split-tunnel").apply(self.lab)
        self.assertIn("default_route_outside_tunnel", codes(json.loads(self.dnsleak("inspect", "--json").stdout)["findings"]))
        self.lab.reset_client()
        scenarios.by_key("no-leak").apply(self.lab)
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertEqual([(r["address"], r["path"], r["interface"]) for r in report["resolvers"]],
                         [(VPN_DNS4, "tunnel", "tun0")])
        table = self.dnsleak("inspect").stdout
        self.assertIn("through the tunnel, tun0", table)

    def test_as_root_the_test_proves_or_clears_each_scenario(self):
        for s in SCENARIOS:
            with self.subTest(scenario=s.key):
                self.lab.reset_client()
                s.apply(self.lab)
                result = self.dnsleak("test", "--server", "http://leak.test", "--json", "--no-baseline")
                report = json.loads(result.stdout)
                verdict = report["verdict"]
                want = "leak" if s.leak else "no_leak"
                self.assertEqual(verdict["outcome"], want, verdict)
                self.assertEqual(result.returncode, 1 if s.leak else 0)
                local = report["local"]
                self.assertTrue(local["captured"], local)
                self.assertEqual(local["capture_interfaces"], ["eth0"])
                self.assertEqual(local["tunnels"], ["tun0"])
                if s.leaves_on_eth0:
                    self.assertTrue(local["leaks"], local)
                    self.assertTrue(all(l["interface"] == "eth0" for l in local["leaks"]))
                    self.assertEqual(verdict["certainty"], "proven")
                    self.assertIn("test_names_seen_leaving", codes(verdict["findings"], "leak"))
                else:
                    self.assertEqual(local["leaks"], [])
                    self.assertIn("nothing_seen_leaving", codes(verdict["findings"]))
                # The ISP's network, learnt from eth0 (its default route at metric 600) without a
                # tunnel-down step, over IPv4 and IPv6.
                self.assertEqual({(u["interface"], u["family"], u["asn"]) for u in local["underlay"]},
                                 {("eth0", "ipv4", 64500), ("eth0", "ipv6", 64500)}, local["underlay"])
                self.assertIn("isp_network_seen", codes(verdict["findings"]))
                if s.key == "isp-via-tunnel":  # the tunnel carries it; the ISP's network still tells
                    self.assertEqual(verdict["certainty"], "likely")
                    self.assertIn("resolver_in_isp_network", codes(verdict["findings"], "leak"))
                if s.key == "vpn-resolver-farm":  # not the exit's network, nor the ISP's: the provider's
                    self.assertIn("resolver_elsewhere_through_tunnel", codes(verdict["findings"]))
                if s.key == "no-leak":
                    self.assertEqual(verdict["certainty"], "proven")
                for f in verdict["findings"]:
                    self.assertIn(f["certainty"], ("proven", "likely", "unknown"))
                    if f["severity"] == "leak":
                        self.assertTrue(f.get("fix"), f)
        self.lab.reset_client()

    def test_without_a_route_out_of_the_uplink_the_isp_network_is_said_to_be_unknown(self):
        # No default route on eth0 at all: the underlay probe cannot run, and the test says so; the
        # VPN provider's second resolver can then be neither cleared nor blamed.
        scenarios.by_key("vpn-resolver-farm").apply(self.lab)
        self.lab.ip("client", "route", "del", "default", "via", "10.77.1.1", "dev", "eth0", "metric", "600")
        self.lab.ip("client", "-6", "route", "del", "default", "via", "fd77:0:0:1::1", "dev", "eth0")
        result = self.dnsleak("test", "--server", "http://leak.test", "-4", "--json", "--no-baseline")
        report = json.loads(result.stdout)
        self.assertEqual(report["local"]["underlay"], [])
        self.assertTrue(any("no interface outside the tunnel has a default route" in u
                            for u in report["local"]["unchecked"]), report["local"])
        self.assertEqual((report["verdict"]["outcome"], result.returncode), ("inconclusive", 2), report["verdict"])
        self.assertIn("resolver_network_unexplained", codes(report["verdict"]["findings"]))
        # With a baseline taken with the tunnel down, the ISP's network is known again.
        baseline = os.path.join(self.home, "isp.json")
        with open(baseline, "w") as f:
            json.dump({"resolvers": [], "asns": [64500]}, f)
        result = self.dnsleak("test", "--server", "http://leak.test", "-4", "--json", "--baseline", baseline)
        self.assertEqual(json.loads(result.stdout)["verdict"]["outcome"], "no_leak", result.stdout)

    def test_the_server_alone_cannot_see_a_public_resolver_reached_outside(self):
        # The case the whole local evidence is for: dnsleakd sees the same public resolver whether
        # it was reached through the tunnel or over eth0. --no-local judges as the server does.
        scenarios.by_key("public-over-eth0").apply(self.lab)
        result = self.dnsleak("test", "--server", "http://leak.test", "--json", "--no-baseline", "--no-local")
        report = json.loads(result.stdout)
        self.assertIsNone(report["local"])
        self.assertEqual((report["verdict"]["outcome"], report["verdict"]["certainty"]), ("no_leak", "unknown"))
        public = [f for f in report["verdict"]["findings"] if f["code"] == "public_resolver"]
        self.assertIn("dnsleak test", public[0]["fix"])
        result = self.dnsleak("test", "--server", "http://leak.test", "--json", "--no-baseline")
        self.assertEqual(json.loads(result.stdout)["verdict"]["outcome"], "leak")
        self.assertEqual(result.returncode, 1)

    def test_watch_shows_the_leaked_name_on_eth0_and_nothing_in_clean_scenarios(self):
        for s in SCENARIOS:
            with self.subTest(scenario=s.key):
                self.lab.reset_client()
                s.apply(self.lab)
                name = "watch-%s.leak.test" % s.key
                result = self.dnsleak("watch", "--json", "--", "getent", "ahosts", name, timeout=30)
                lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
                seen = [l for l in lines if l.get("name", "").lower() == name]
                if s.leaves_on_eth0:
                    self.assertTrue(seen, result.stdout + result.stderr)
                    self.assertTrue(all(l["interface"] == "eth0" and l["destination_port"] == 53 for l in seen))
                    self.assertEqual(result.returncode, 1)
                else:
                    self.assertEqual(lines, [], result.stdout)
                    self.assertEqual(result.returncode, 0, result.stderr)
        self.lab.reset_client()
        scenarios.by_key("full-leak").apply(self.lab)
        result = self.dnsleak("watch", "--duration", "1.5", "--interface", "eth0")
        self.assertEqual(result.returncode, 0, result.stderr)  # nothing looked up meanwhile
        self.assertIn("watching DNS leaving on eth0", result.stderr)
        result = self.dnsleak("watch", "--interface", "nosuch0", "--duration", "1")
        self.assertEqual(result.returncode, 64)
        self.assertIn("no such interface", result.stderr)

    def test_unprivileged_runs_judge_by_routes_and_say_what_they_could_not_check(self):
        for key in ("full-leak", "no-leak", "public-over-eth0"):
            with self.subTest(scenario=key):
                self.lab.reset_client()
                s = scenarios.by_key(key)
                s.apply(self.lab)
                result = self.dnsleak("test", "--server", "http://leak.test", "--json", "--no-baseline", user=NOBODY)
                report = json.loads(result.stdout)
                self.assertEqual(report["verdict"]["outcome"], "leak" if s.leak else "no_leak", report["verdict"])
                self.assertFalse(report["local"]["captured"])
                self.assertTrue(any("CAP_NET_RAW" in u for u in report["local"]["unchecked"]), report["local"])
                self.assertIn("not_checked", codes(report["verdict"]["findings"]))
                if s.leak:
                    self.assertEqual(report["verdict"]["certainty"], "likely")
                    self.assertIn("resolver_outside_tunnel", codes(report["verdict"]["findings"], "leak"))
        result = self.dnsleak("watch", "--duration", "1", user=NOBODY)
        self.assertEqual(result.returncode, 4)
        self.assertIn("needs CAP_NET_RAW", result.stderr)
        self.assertIn("dnsleak inspect", result.stderr)
        result = self.dnsleak("inspect", "--json", user=NOBODY)
        self.assertEqual(json.loads(result.stdout)["tunnels"], ["tun0"])
        self.lab.reset_client()

    def test_a_browser_with_its_own_doh_is_named(self):
        profile = os.path.join(self.home, ".mozilla", "firefox", "lab.default")
        os.makedirs(profile, exist_ok=True)
        with open(os.path.join(self.home, ".mozilla", "firefox", "profiles.ini"), "w") as f:
            f.write("[Profile0]\nName=default\nIsRelative=1\nPath=lab.default\n")
        with open(os.path.join(profile, "prefs.js"), "w") as f:
            f.write('user_pref("network.trr.mode", 3);\nuser_pref("network.trr.uri", "https://doh.lab.example/q");\n')
        try:
            report = json.loads(self.dnsleak("inspect", "--json").stdout)
            self.assertEqual([(b["browser"], b["mode"], b["resolver"]) for b in report["browsers"]],
                             [("Firefox", "3", "https://doh.lab.example/q")])
            doh = [f for f in report["findings"] if f["code"] == "browser_own_doh"]
            self.assertEqual(len(doh), 1)
            self.assertIn("network.trr.mode", doh[0]["fix"])
        finally:
            shutil.rmtree(os.path.join(self.home, ".mozilla"))

    def test_inspect_says_whether_the_firewall_stops_dns_outside_the_tunnel(self):
        scenarios.by_key("full-leak").apply(self.lab)
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertEqual({c["outcome"] for c in report["firewall"]["checks"]}, {"passes"})
        lets = [f for f in report["findings"] if f["code"] == "firewall_lets_dns_outside"]
        self.assertEqual(len(lets), 1, report["findings"])
        # The fix it gives works: applied as printed, DNS over eth0 is rejected at once.
        block, undo = re.findall(r"`([^`]+)`", lets[0]["fix"])[:2]
        self.assertEqual((block, undo), ("sudo dnsleak guard on --tunnel tun0", "sudo dnsleak guard off"))
        as_typed = "env DNSLEAK_STATE_DIR=%s %s" % (os.path.join(self.public, "run"), DNSLEAK)
        block, undo = block.replace("sudo dnsleak", as_typed), undo.replace("sudo dnsleak", as_typed)
        self.lab.sh("client", "sh", "-c", block)
        try:
            report = json.loads(self.dnsleak("inspect", "--json").stdout)
            self.assertEqual({c["outcome"] for c in report["firewall"]["checks"]}, {"stopped"})
            self.assertIn("firewall_stops_dns_outside", codes(report["findings"]))
            started = time.monotonic()
            lookup = self.lab.sh("client", "getent", "ahosts", "blocked.leak.test", check=False)
            self.assertNotEqual(lookup.returncode, 0)
            self.assertLess(time.monotonic() - started, 2.0)  # rejected, not a timeout
        finally:
            self.lab.sh("client", "sh", "-c", undo)
        # A rule it cannot read is said to be unclear, not guessed.
        self.lab.nft("client", "table inet bystander {\n chain out {\n  type filter hook output priority 0;\n"
                               "  meta skuid 0 udp dport 53 drop\n }\n}\n")
        try:
            report = json.loads(self.dnsleak("inspect", "--json").stdout)
            self.assertIn("firewall_unclear", codes(report["findings"]))
        finally:
            self.lab.sh("client", "nft", "delete", "table", "inet", "bystander")
        # Reading the ruleset needs CAP_NET_ADMIN.
        report = json.loads(self.dnsleak("inspect", "--json", user=NOBODY).stdout)
        self.assertIn("CAP_NET_ADMIN", report["firewall"]["error"])
        self.assertIn("firewall_not_read", codes(report["findings"]))

    def test_systemd_resolved_over_dbus_names_its_leaks(self):
        links = {l["ifname"]: l["ifindex"] for l in json.loads(self.lab.sh("client", "ip", "-j", "link").stdout)}
        eth0, tun0 = links["eth0"], links["tun0"]
        # As a VPN client that forgot resolved leaves it: both links DefaultRoute, no '~.' on tun0,
        # LLMNR on the uplink; /etc/resolv.conf at the stub.
        state = {"resolv_conf_mode": "stub", "dns_over_tls": "no", "llmnr": "yes", "mdns": "no",
                 "dns": [{"ifindex": eth0, "address": ISP_DNS4}, {"ifindex": tun0, "address": VPN_DNS4}],
                 "fallback_dns": [{"ifindex": 0, "address": "10.77.30.53"}],
                 "current_dns": {"ifindex": tun0, "address": VPN_DNS4},
                 # NetworkManager merging the VPN's servers with the uplink's (dns-priority 50, 100).
                 "network_manager": {"mode": "systemd-resolved", "rc_manager": "symlink", "configuration": [
                     {"interface": "tun0", "nameservers": [VPN_DNS4], "priority": 50, "vpn": True},
                     {"interface": "eth0", "nameservers": [ISP_DNS4], "priority": 100, "vpn": False}]},
                 # eth0's IPv6 server as router advertisements (RDNSS) hand it out.
                 "links": [{"ifindex": eth0, "default_route": True, "dns": [ISP_DNS4, ISP_DNS6], "llmnr": "yes"},
                           {"ifindex": tun0, "default_route": True, "dns": [VPN_DNS4], "domains": []}]}
        state_file, address = self.lab.start_fake_resolved(state, self.public)
        self.lab.write_resolv_conf(["127.0.0.53"])

        def inspect():
            result = self.lab.sh("client", "env", "-u", "SUDO_USER", "DBUS_SYSTEM_BUS_ADDRESS=" + address,
                                 "HOME=" + self.home, DNSLEAK, "inspect", "--json", check=False)
            return result.returncode, json.loads(result.stdout)
        try:
            code, report = inspect()
            self.assertEqual(code, 1)
            self.assertEqual([l["interface"] for l in report["resolved"]["links"]], ["eth0", "tun0"])
            found = codes(report["findings"])
            self.assertIn("resolved_default_route_outside", codes(report["findings"], "leak"), report["findings"])
            self.assertIn("llmnr_outside_tunnel", found)
            self.assertEqual(report["network_manager"]["mode"], "systemd-resolved")
            self.assertEqual([(c["interface"], c["priority"], c["vpn"]) for c in report["network_manager"]["configuration"]],
                             [("tun0", 50, True), ("eth0", 100, False)])
            self.assertIn("nm_dns_not_exclusive", found)
            upstreams = {(r["address"], r["path"], r["interface"]) for r in report["resolvers"] if r["stub_upstream"]}
            self.assertEqual(upstreams, {(ISP_DNS4, "outside", "eth0"), (ISP_DNS6, "outside", "eth0"),
                                         (VPN_DNS4, "tunnel", "tun0")})
            outside = [f for f in report["findings"] if f["code"] == "resolver_outside_tunnel"]
            self.assertEqual(len(outside), 2, report["findings"])
            fix = [f["fix"] for f in report["findings"] if f["code"] == "resolved_default_route_outside"][0]
            self.assertIn("resolvectl domain tun0 '~.'", fix)
            self.assertIn("resolvectl default-route eth0 false", fix)
            # The fixes applied (as resolvectl and nmcli would): the leak is gone.
            state["network_manager"]["configuration"][0]["priority"] = -50
            state["links"] = [{"ifindex": eth0, "default_route": False, "dns": [ISP_DNS4], "llmnr": "no"},
                              {"ifindex": tun0, "default_route": True, "dns": [VPN_DNS4],
                               "domains": [{"domain": ".", "routing_only": True}]}]
            with open(state_file, "w") as f:
                json.dump(state, f)
            code, report = inspect()
            self.assertEqual(code, 0, report["findings"])
            self.assertNotIn("resolved_default_route_outside", codes(report["findings"]))
            self.assertNotIn("nm_dns_not_exclusive", codes(report["findings"]))
            # Its compiled-in fallback server in use, and a resolv.conf that bypasses it.
            state.update(current_dns={"ifindex": 0, "address": "10.77.30.53"}, resolv_conf_mode="foreign")
            with open(state_file, "w") as f:
                json.dump(state, f)
            self.lab.write_resolv_conf([VPN_DNS4])
            code, report = inspect()
            self.assertIn("resolved_fallback_in_use", codes(report["findings"], "leak"))
            self.assertIn("resolv_conf_bypasses_resolved", codes(report["findings"]))
            # A property of a type no resolved sends: said, not a crash.
            state["wrong_types"] = True
            with open(state_file, "w") as f:
                json.dump(state, f)
            code, report = inspect()
            self.assertIn("is not of type a(iiay)", report["resolved"]["error"])
            self.assertIn("unreadable", codes(report["findings"]))
        finally:
            self.lab.stop("fake-resolved")
            self.lab.stop("dbus-daemon")
        # Not running at all: nothing said about it, nothing broken.
        report = json.loads(self.dnsleak("inspect", "--json").stdout)
        self.assertIsNone(report["resolved"])

    def test_policy_rules_are_listed_as_wg_quick_leaves_them(self):
        self.lab.ip("client", "rule", "add", "not", "fwmark", "51820", "table", "51820", "priority", "100")
        try:
            rules = json.loads(self.dnsleak("inspect", "--json").stdout)["rules"]
            wg = [r for r in rules if r["table"] == 51820]
            self.assertEqual([(r["family"], r["priority"], r["not"], r["fwmark"]) for r in wg], [("ipv4", 100, True, 51820)])
        finally:
            self.lab.ip("client", "rule", "del", "priority", "100")

    def test_a_recording_replays_to_the_same_report(self):
        scenarios.by_key("full-leak").apply(self.lab)
        with tempfile.TemporaryDirectory() as recording:
            live = self.dnsleak("inspect", "--json", "--record", recording)
            self.lab.reset_client()  # the machine changes; the recording does not
            replayed = self.dnsleak("inspect", "--json", "--replay", recording)
            self.assertEqual(json.loads(live.stdout), json.loads(replayed.stdout))
            self.assertEqual(replayed.returncode, 1)
        result = self.dnsleak("inspect", "--replay", "/nonexistent/recording")
        self.assertEqual(result.returncode, 3)
        self.assertIn("no recording", result.stderr)


if __name__ == "__main__":
    unittest.main()
