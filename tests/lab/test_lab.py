"""Lab tests: every leak scenario played for real through glibc's resolver, Unbound and dnsleakd,
with dnsleakd's observations checked against the scenario's ground truth. Needs root."""
import json
import os
import unittest

import scenarios
from leaklab import CLIENT4, DNSLEAK, ISP_DNS6, ROOT, TUNNEL_PORT, VPN_DNS4, Lab, LabError, remove_stale_labs, run
from scenarios import SCENARIOS, VPN, resolvers_seen


def lab_namespaces(prefix):
    return [n for n in run("ip", "netns", "list").stdout.split() if n.startswith(prefix + "-")]


def root_links():
    return sorted(line.split(":")[1].strip() for line in run("ip", "-o", "link", "show").stdout.splitlines())


def process_running(pid):
    """Alive and not a zombie (this sandbox's init reaps orphans only every ~2 s)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def check_api_verdicts(test, lab):
    """Every scenario through the API; returns the results per scenario."""
    all_results = {}
    for s in SCENARIOS:
        with test.subTest(scenario=s.key):
            lab.reset_client()
            s.apply(lab)
            results = lab.run_client()
            all_results[s.key] = results
            if s.server_can_tell:
                test.assertEqual(results["verdict"]["outcome"], "leak" if s.leak else "no_leak", results["verdict"])
            else:
                # The server cannot know: it says what it sees, never as proven, and points to
                # `dnsleak test`.
                test.assertEqual(results["verdict"]["outcome"], s.server_says, results["verdict"])
                test.assertNotEqual(results["verdict"]["certainty"], "proven")
                test.assertTrue(any("dnsleak test" in f.get("fix", "") + f["reason"]
                                    for f in results["verdict"]["findings"]), results["verdict"])
            seen = {r["address"] for r in results["resolvers"] if r["family"] == "ipv4"}
            test.assertEqual(seen, {address for address, _, _ in s.expected})
            for r in results["resolvers"]:
                test.assertIn(r["network"]["asn"], (64500, 64501, 64502, 64504), r)
            exits = {e["address"]: e["network"]["asn"] for e in results["egress"]}
            test.assertEqual(exits, {"10.77.0.3": 64501, "fd77::2": 64500})  # IPv4 tunnelled, IPv6 not
            test.assertEqual(results["probes"], {"ipv4": "204", "ipv6": "204"})
            lab.reset_client()
    return all_results


class LeakScenarios(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.links_before = root_links()
        cls.lab = Lab()
        cls.lab.up()

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def setUp(self):
        self.lab.reset_client()

    def play(self, scenario):
        scenario.apply(self.lab)
        name = self.lab.test_name("s")
        rc, out = self.lab.lookup(name)
        self.assertEqual(rc, 0, "%s: getent failed: %s" % (scenario.key, out))
        self.assertIn("10.77.0.80", out)
        observations = self.lab.settle(name, expect_at_least=2 * len(scenario.expected))
        self.assertEqual(resolvers_seen(observations), scenario.expected,
                         "%s: dnsleakd saw %s" % (scenario.key, observations))
        # glibc asks A and AAAA; each resolver passes both on.
        for resolver in scenario.expected:
            qtypes = sorted(o["qtype"] for o in observations if (o["resolver"], o["family"], o["transport"]) == resolver)
            self.assertEqual(qtypes, ["A", "AAAA"], resolver)
        return observations

    def test_no_leak(self):
        self.play(scenarios.by_key("no-leak"))

    def test_full_leak(self):
        capture = self.lab.capture_start("client", "eth0", "port 53")
        self.play(scenarios.by_key("full-leak"))
        self.assertGreater(len(self.lab.capture_stop(capture)), 0, "the leak must be visible on eth0")

    def test_ipv6_leak(self):
        capture = self.lab.capture_start("client", "eth0", "ip6 and port 53")
        self.play(scenarios.by_key("ipv6-leak"))
        packets = self.lab.capture_stop(capture)
        self.assertTrue(any(ISP_DNS6 + ".53" in p for p in packets), packets)

    def test_fallback_leak(self):
        self.play(scenarios.by_key("fallback-leak"))

    def test_parallel_queries(self):
        self.play(scenarios.by_key("parallel"))

    def test_split_tunnel(self):
        self.play(scenarios.by_key("split-tunnel"))

    def test_public_resolver_via_tunnel(self):
        self.play(scenarios.by_key("public-via-tunnel"))

    def test_isp_resolver_via_tunnel_is_invisible_on_eth0(self):
        capture = self.lab.capture_start("client", "eth0", "port 53 or udp port %d" % TUNNEL_PORT)
        self.play(scenarios.by_key("isp-via-tunnel"))
        packets = self.lab.capture_stop(capture)
        dns = [p for p in packets if ".53:" in p or ".53 >" in p]
        carrier = [p for p in packets if "%s.%d >" % (CLIENT4, TUNNEL_PORT) in p]
        self.assertEqual(dns, [], "no DNS may cross eth0 in the clear")
        self.assertGreater(len(carrier), 0, "the query rides the tunnel carrier")

    def test_api_verdict_matches_the_ground_truth_in_every_scenario(self):
        # The leak test as a service, end to end: the API creates a test, the client resolves its
        # names through glibc and probes over IPv4 and IPv6, the results carry the enriched
        # resolvers and exits and a verdict that must be each scenario's truth.
        check_api_verdicts(self, self.lab)

    def test_api_names_resolvers_by_their_ptr(self):
        results = self.lab.run_client("--wait-reverse")
        self.assertEqual([(r["address"], r["reverse_name"]) for r in results["resolvers"]],
                         [(VPN_DNS4, "resolver.vpn.example")])

    def test_api_expectations_override_the_heuristics(self):
        scenarios.by_key("public-via-tunnel").apply(self.lab)
        self.assertEqual(self.lab.run_client("--expect-asn", "64501")["verdict"]["outcome"], "leak")
        self.lab.reset_client()
        self.assertEqual(self.lab.run_client("--expect-asn", "64501")["verdict"]["outcome"], "no_leak")

    def test_every_scenario_has_its_ground_truth(self):
        self.assertEqual(len(SCENARIOS), 11)
        for s in SCENARIOS:
            self.assertTrue(s.expected and s.title and s.explanation, s.key)

    # --- the sub-zones through real Unbound (QNAME minimisation on, Unbound's default) -----------

    def test_v6_subzone_reveals_the_resolvers_ipv6_address(self):
        scenarios.by_key("full-leak").apply(self.lab)
        name = self.lab.test_name("six", "v6.leak.test")
        rc, _ = self.lab.lookup(name)
        self.assertEqual(rc, 0)
        observations = self.lab.settle(name, expect_at_least=2)
        # QNAME minimisation meets the referral at v6.leak.test itself (not a test name), so the
        # test name only ever arrives over IPv6, from the ISP resolver's IPv6 address.
        self.assertEqual(resolvers_seen(observations), {(ISP_DNS6, "ipv6", "udp")})
        self.assertTrue(all(o["sub_zone"] == "v6" for o in observations))

    def test_v6_subzone_through_an_ipv4_only_resolver_fails_and_records_nothing(self):
        name = self.lab.test_name("six", "v6.leak.test")
        rc, _ = self.lab.lookup(name)
        self.assertNotEqual(rc, 0)  # the VPN resolver has no IPv6: SERVFAIL
        self.assertEqual(self.lab.settle(name, expect_at_least=0, quiet=1.0), [])

    def test_v4_subzone(self):
        name = self.lab.test_name("four", "v4.leak.test")
        self.assertEqual(self.lab.lookup(name)[0], 0)
        self.assertEqual(resolvers_seen(self.lab.settle(name, expect_at_least=2)), {VPN})

    def test_tcp_subzone_forces_the_resolver_onto_tcp(self):
        name = self.lab.test_name("t", "tcp.leak.test")
        self.assertEqual(self.lab.lookup(name)[0], 0)
        observations = self.lab.settle(name, expect_at_least=4)
        self.assertEqual(resolvers_seen(observations), {VPN, (VPN_DNS4, "ipv4", "tcp")})
        self.assertEqual({o["answer"] for o in observations if o["transport"] == "udp"}, {"truncated"})

    def test_0x20_case_randomisation_is_recorded_as_received(self):
        name = self.lab.test_name("caps")
        self.assertEqual(self.lab.lookup(name)[0], 0)
        observations = self.lab.settle(name, expect_at_least=2)
        # The VPN resolver runs with use-caps-for-id: the names arrive in mixed case.
        self.assertTrue(all(o["qname"].lower() == name for o in observations))
        self.assertTrue(any(o["qname"] != name for o in observations), observations)


class LeakScenariosOnASharedStore(unittest.TestCase):
    """The same scenarios with the authority split over three nodes sharing one Redis: DNS over
    IPv4 on one node, over IPv6 on another, the API and the page on a third that answers no DNS."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(store="redis")
        cls.lab.up()

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()

    def test_api_verdict_matches_the_ground_truth_in_every_scenario(self):
        results = check_api_verdicts(self, self.lab)
        # A resolver with IPv6 (the ISP's) brings the v6. name to the IPv6 node and the rest to the
        # IPv4 node: one test, two nodes, one result on the third.
        nodes = set()
        for r in results["full-leak"]["resolvers"]:
            nodes.update(r["nodes"])
        self.assertEqual(nodes, {"lab-dns-4", "lab-dns-6"}, results["full-leak"]["resolvers"])
        self.assertEqual({n for r in results["no-leak"]["resolvers"] for n in r["nodes"]}, {"lab-dns-4"})

    def test_dnsleak_test_follows_the_api_node_live(self):
        # `dnsleak test` waits on the event stream, which the API node feeds from Redis.
        for key in ("no-leak", "full-leak"):
            with self.subTest(scenario=key):
                self.lab.reset_client()
                scenarios.by_key(key).apply(self.lab)
                r = self.lab.sh("client", "env", "NO_COLOR=1", DNSLEAK, "test", "--server", "http://leak.test",
                                "--json", "--no-baseline", check=False, timeout=60)
                report = json.loads(r.stdout)
                want = "leak" if key == "full-leak" else "no_leak"
                self.assertEqual(report["verdict"]["outcome"], want, report)
                self.assertEqual(r.returncode, 1 if want == "leak" else 0)
        self.lab.reset_client()


class LabLifecycle(unittest.TestCase):
    def test_teardown_leaves_nothing_behind(self):
        links = root_links()
        lab = Lab()
        lab.up()
        self.assertEqual(len(lab_namespaces(lab.prefix)), 6)
        self.assertTrue(os.path.exists(lab.etc_netns + "/resolv.conf"))
        pids = [p.pid for p in lab.processes.values()]
        lab.down()
        self.assertEqual(lab_namespaces(lab.prefix), [])
        self.assertEqual(root_links(), links)
        self.assertFalse(os.path.exists(lab.etc_netns))
        self.assertFalse(os.path.exists(lab.etc_netns_auth))
        for pid in pids:
            self.assertFalse(process_running(pid), pid)
        lab.down()  # twice is harmless

    def test_a_failed_build_is_torn_down(self):
        lab = Lab()

        def broken(*args, **kwargs):
            raise LabError("simulated failure")
        lab.start_unbound = broken
        with self.assertRaises(LabError):
            lab.up()
        self.assertEqual(lab_namespaces(lab.prefix), [])
        self.assertEqual(lab.processes, {})

    def test_refuses_a_prefix_in_use(self):
        lab = Lab()
        run("ip", "netns", "add", lab.ns["client"])
        try:
            with self.assertRaises(LabError) as caught:
                lab.up()
            self.assertIn("exists already", str(caught.exception))
            self.assertEqual(lab_namespaces(lab.prefix), [lab.ns["client"]])  # not ours: left alone
        finally:
            run("ip", "netns", "del", lab.ns["client"])

    def test_stale_labs_of_dead_processes_are_removed(self):
        dead = Lab(prefix="dl999999n0")  # no such pid: as if its test run had been killed
        run("ip", "netns", "add", dead.ns["auth"])
        self.assertEqual(remove_stale_labs(), [dead.ns["auth"]])
        self.assertEqual(lab_namespaces(dead.prefix), [])

    def test_two_labs_side_by_side(self):
        with Lab() as first, Lab() as second:
            self.assertNotEqual(first.prefix, second.prefix)
            for lab in (first, second):
                lab.reset_client()
                name = lab.test_name("two")
                self.assertEqual(lab.lookup(name)[0], 0)
                self.assertEqual(resolvers_seen(lab.settle(name, expect_at_least=2)), {VPN})
        self.assertEqual(lab_namespaces(first.prefix) + lab_namespaces(second.prefix), [])


if __name__ == "__main__":
    unittest.main()
