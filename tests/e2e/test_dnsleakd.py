"""End-to-end tests: the real dnsleakd on loopback, queried with kdig, dig and raw sockets."""
import os
import random
import socket
import string
import struct
import subprocess
import time
import unittest

from dnsleakd_process import (DNSLEAKD, ZONE, Dnsleakd, header_flags, make_query, rcode, run_tool,
                              tcp_connect, tcp_read_message, udp_exchange)


def test_id_of(name):
    """The test id (hex) inside a test name, decoded from its base32 token."""
    token = name.split(".")[0].split("-")[0].lower()
    bits = "".join(format("abcdefghijklmnopqrstuvwxyz234567".index(c), "05b") for c in token)
    return "".join("%02x" % int(bits[i:i + 8], 2) for i in range(0, 96, 8))


class DnsleakdEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Dnsleakd(["--tcp-idle-timeout-ms", "800", "--tcp-max-connections", "16"])

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def dig(self, *args):
        out = run_tool(["dig", "@127.0.0.1", "-p", str(self.server.port4), "+time=2", "+tries=1", *args])
        return out.stdout

    def kdig(self, *args, server="127.0.0.1", port=None):
        port = port or self.server.port4
        out = run_tool(["kdig", "@" + server, "-p", str(port), "+time=2", "+retry=0", *args])
        return out.stdout

    def observations_of(self, name, wait_for=1):
        """The logged observations of the test in `name`, waiting briefly for them to arrive."""
        wanted = test_id_of(name)
        deadline = time.monotonic() + 3
        while True:
            found = [o for o in self.server.observations() if o["test_id"] == wanted]
            if len(found) >= wait_for or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    # --- answers ---------------------------------------------------------------------------------

    def test_test_name_answers_web_address_and_is_recorded_exactly_once(self):
        name = self.server.token_name("a1")
        self.assertEqual(self.kdig(name, "A", "+short").split(), ["192.0.2.80"])
        self.assertEqual(self.kdig(name, "AAAA", "+short").split(), ["2001:db8::80"])
        obs = self.observations_of(name, wait_for=2)
        self.assertEqual(len(obs), 2, obs)
        self.assertEqual(sorted(o["qtype"] for o in obs), ["A", "AAAA"])
        for o in obs:
            self.assertEqual(o["resolver"], "127.0.0.1")
            self.assertEqual(o["family"], "ipv4")
            self.assertEqual(o["transport"], "udp")
            self.assertEqual(o["probe"], "a1")
            self.assertEqual(o["qname"], name)
            self.assertEqual(o["node"], "e2e")
            self.assertEqual(o["answer"], "answer")
            self.assertIsNone(o["sub_zone"])
            self.assertTrue(0 < o["port"] < 65536)

    def test_forged_token_is_nxdomain_counted_and_not_recorded(self):
        name = self.server.token_name("f")
        token = name.split("-")[0]
        forged = ("b" if token[5] != "b" else "c").join([token[:5], token[6:]]) + name[len(token):]
        before = self.server.counters()["nxdomain_bad_token"]
        out = self.kdig(forged, "A")
        self.assertIn("NXDOMAIN", out)
        self.assertIn("SOA", out)
        self.assertEqual(self.server.counters()["nxdomain_bad_token"], before + 1)
        self.assertEqual(self.observations_of(forged, wait_for=0), [])

    def test_out_of_zone_is_refused(self):
        self.assertIn("status: REFUSED", self.dig("www.example.com", "A"))

    def test_apex_soa_and_ns(self):
        self.assertIn("ns1.leak.test.", self.kdig(ZONE, "NS", "+short"))
        soa = self.kdig(ZONE, "SOA", "+short")
        self.assertTrue(soa.startswith("ns1.leak.test. hostmaster.leak.test."), soa)

    def test_whoami_reflects_the_querier(self):
        self.assertEqual(self.kdig("whoami." + ZONE, "A", "+short").split(), ["127.0.0.1"])
        self.assertEqual(self.kdig("whoami." + ZONE, "AAAA", "+short", server="::1", port=self.server.port6).split(),
                         ["::1"])
        txt = self.kdig("whoami." + ZONE, "TXT", "+short", "+subnet=203.0.113.0/24")
        self.assertIn("resolver=127.0.0.1", txt)
        self.assertIn("transport=udp", txt)
        self.assertIn("ecs=203.0.113.0/24", txt)
        txt_tcp = self.kdig("whoami." + ZONE, "TXT", "+short", "+tcp")
        self.assertIn("transport=tcp", txt_tcp)

    def test_ecs_is_recorded_and_reflected(self):
        name = self.server.token_name("ecs")
        out = self.dig(name, "A", "+subnet=198.51.100.0/24")
        self.assertIn("CLIENT-SUBNET: 198.51.100.0/24/0", out)  # scope 0: the answer is the same for all
        obs = self.observations_of(name)
        self.assertEqual([o["ecs"] for o in obs], ["198.51.100.0/24"])

    def test_tcp_subzone_truncates_udp_and_answers_tcp(self):
        name = self.server.token_name("t", "tcp." + ZONE)
        out = self.dig(name, "A", "+ignore")  # +ignore: show the UDP answer, do not retry
        self.assertRegex(out, r"flags: qr aa tc")
        self.assertIn("ANSWER: 0", out)
        self.assertEqual(self.dig(name, "A", "+tcp", "+short").split(), ["192.0.2.80"])
        # A resolver-like client: UDP first, then TCP after TC.
        self.assertEqual(self.kdig(name, "A", "+short").split(), ["192.0.2.80"])
        obs = self.observations_of(name, wait_for=4)
        self.assertEqual([(o["transport"], o["answer"]) for o in obs],
                         [("udp", "truncated"), ("tcp", "answer"), ("udp", "truncated"), ("tcp", "answer")])
        self.assertTrue(all(o["sub_zone"] == "tcp" for o in obs))

    def test_v6_subzone_refers_over_ipv4_and_answers_over_ipv6(self):
        name = self.server.token_name("v6", "v6." + ZONE)
        out = self.dig(name, "A", "+norecurse")
        self.assertIn("status: NOERROR", out)
        self.assertNotRegex(out, r"flags: qr aa")
        self.assertRegex(out, r"v6\.leak\.test\.\s+\d+\s+IN\s+NS\s+ns\.v6\.leak\.test\.")
        self.assertRegex(out, r"ns\.v6\.leak\.test\.\s+\d+\s+IN\s+AAAA\s+::1")
        self.assertNotRegex(out, r"ns\.v6\.leak\.test\.\s+\d+\s+IN\s+A\s")
        self.assertEqual(self.kdig(name, "A", "+short", server="::1", port=self.server.port6).split(), ["192.0.2.80"])
        obs = self.observations_of(name, wait_for=2)
        self.assertEqual([(o["family"], o["answer"]) for o in obs], [("ipv4", "referral"), ("ipv6", "answer")])
        self.assertEqual(obs[1]["resolver"], "::1")

    def test_v4_subzone_is_the_mirror(self):
        name = self.server.token_name("v4", "v4." + ZONE)
        out = self.kdig(name, "A", server="::1", port=self.server.port6)
        self.assertRegex(out, r"ns\.v4\.leak\.test\.\s+\d+\s+IN\s+A\s+127\.0\.0\.1")
        self.assertEqual(self.kdig(name, "A", "+short").split(), ["192.0.2.80"])

    def test_0x20_case_is_echoed_exactly(self):
        name = self.server.token_name("mix")
        mixed = "".join(c.upper() if c.isalpha() and random.random() < 0.5 else c for c in name)
        query = make_query(mixed, qid=4242)
        answer = udp_exchange(self.server.port4, query)
        self.assertIsNotNone(answer)
        question = query[12:]
        self.assertEqual(answer[12:12 + len(question)], question)  # byte for byte, case included
        self.assertEqual(self.observations_of(name)[0]["qname"], mixed)

    def test_edns_is_answered_and_recorded(self):
        name = self.server.token_name("edns")
        out = self.dig(name, "A", "+bufsize=4096", "+dnssec")
        self.assertIn("udp: 1232", out)
        obs = self.observations_of(name)
        self.assertEqual(obs[0]["edns"]["payload"], 4096)
        self.assertTrue(obs[0]["edns"]["do"])
        self.assertTrue(obs[0]["edns"]["cookie"])  # dig sends a client cookie
        out = self.dig(name, "A", "+edns=1", "+noednsnegotiation")
        self.assertIn("BADVERS", out)

    # --- malformed input ---------------------------------------------------------------------------

    def test_malformed_packets_get_the_right_rcode_or_are_dropped_and_counted(self):
        port = self.server.port4
        before = self.server.counters()
        self.assertIsNone(udp_exchange(port, b"\x12\x34\x01", timeout=0.5))  # truncated header
        self.assertIsNone(udp_exchange(port, make_query(ZONE, flags=0x8000), timeout=0.5))  # a response
        loop = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
        self.assertEqual(rcode(udp_exchange(port, loop)), 1)
        long_name = ".".join(["a" * 63] * 5)  # 320 octets
        wire = struct.pack("!HHHHHH", 8, 0, 1, 0, 0, 0)
        for label in long_name.split("."):
            wire += bytes([63]) + label.encode()
        wire += b"\x00" + struct.pack("!HH", 1, 1)
        self.assertEqual(rcode(udp_exchange(port, wire)), 1)
        bogus_counts = bytearray(make_query(ZONE))
        bogus_counts[6:12] = b"\xff\xff\xff\xff\xff\xff"
        self.assertEqual(rcode(udp_exchange(port, bytes(bogus_counts))), 1)
        garbage_edns = make_query(ZONE, edns=(1232, b"\x00\x08\x00\x30\x01"))
        self.assertEqual(rcode(udp_exchange(port, garbage_edns)), 1)
        notify = make_query(ZONE, flags=4 << 11)
        self.assertEqual(rcode(udp_exchange(port, notify)), 4)
        after = self.server.counters()
        self.assertEqual(after["drop_too_short"], before["drop_too_short"] + 1)
        self.assertEqual(after["drop_is_response"], before["drop_is_response"] + 1)
        self.assertEqual(after["formerr"], before["formerr"] + 4)
        self.assertEqual(after["notimp"], before["notimp"] + 1)
        self.assertIn("192.0.2.80", self.kdig(ZONE, "A", "+short"))  # still serving

    def test_tcp_lying_length_and_slow_client_do_not_stall_others(self):
        port = self.server.port4
        before = self.server.counters()
        liar = tcp_connect(port)
        liar.sendall(struct.pack("!H", 500) + make_query(ZONE)[:20])  # promises 500, sends 20
        slow = tcp_connect(port)
        query = make_query(ZONE, qtype=6)
        framed = struct.pack("!H", len(query)) + query
        slow.sendall(framed[:3])  # then nothing for a while
        # Others are served meanwhile, over UDP and TCP, without waiting.
        started = time.monotonic()
        self.assertIn("192.0.2.80", self.kdig(ZONE, "A", "+short"))
        self.assertIn("192.0.2.80", self.kdig(ZONE, "A", "+short", "+tcp"))
        self.assertLess(time.monotonic() - started, 1.5)
        # Both stalled connections are closed by the idle timeout (0.8 s) without an answer.
        self.assertIsNone(tcp_read_message(liar, timeout=4))
        self.assertIsNone(tcp_read_message(slow, timeout=4))
        liar.close()
        slow.close()
        after = self.server.counters()
        self.assertGreaterEqual(after["tcp_closed_idle"], before["tcp_closed_idle"] + 2)

    def test_tcp_several_queries_on_one_connection(self):
        conn = tcp_connect(self.server.port4)
        names = [self.server.token_name("p%d" % i) for i in range(3)]
        conn.sendall(b"".join(struct.pack("!H", len(q)) + q for q in (make_query(n, qid=i) for i, n in enumerate(names))))
        ids = []
        for _ in names:
            answer = tcp_read_message(conn)
            self.assertIsNotNone(answer)
            ids.append(struct.unpack("!H", answer[:2])[0])
        conn.close()
        self.assertEqual(ids, [0, 1, 2])

    def test_random_subdomain_burst_is_refused_cheaply_and_memory_stays_bounded(self):
        before = self.server.counters()
        rss_before = self.server.rss_kib()
        alphabet = string.ascii_lowercase + "234567"
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            for i in range(20000):
                label = "".join(random.choice(alphabet) for _ in range(32)) + "-x"
                s.sendto(make_query(label + "." + ZONE, qid=i & 0xFFFF), ("127.0.0.1", self.server.port4))
                sent += 1
                if i % 256 == 255:  # drain answers so our own socket buffer never fills
                    time.sleep(0.002)
                    try:
                        while s.recv(4096):
                            pass
                    except BlockingIOError:
                        pass
        time.sleep(0.5)
        after = self.server.counters()
        refused = after["nxdomain_bad_token"] - before["nxdomain_bad_token"]
        # The kernel may drop some of a burst; every query that arrived was refused and counted.
        self.assertGreater(refused, sent * 0.9)
        self.assertEqual(after["observations"], before["observations"])
        self.assertLess(self.server.rss_kib() - rss_before, 8 * 1024)
        self.assertIn("192.0.2.80", self.kdig(ZONE, "A", "+short"))


class DnsleakdCommandLine(unittest.TestCase):
    def test_bad_flags_and_settings_are_named(self):
        out = run_tool([DNSLEAKD, "--zone", "leak.test", "--web-address", "192.0.2.1", "--dns-listen", "nonsense",
                        "--secret-file", "/nonexistent"])
        self.assertEqual(out.returncode, 2)
        self.assertIn("dns_listen: 'nonsense'", out.stderr)
        out = run_tool([DNSLEAKD, "--zone", "leak.test", "--web-address", "192.0.2.1", "--dns-listen", "127.0.0.1:0"])
        self.assertEqual(out.returncode, 2)
        self.assertIn("secret_file", out.stderr)
        out = run_tool([DNSLEAKD, "--no-such-flag"])
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--no-such-flag", out.stderr)

    def test_help_lists_every_flag(self):
        out = run_tool([DNSLEAKD, "--help"])
        self.assertEqual(out.returncode, 0)
        for flag in ["--config", "--zone", "--dns-listen", "--web-address", "--nameserver", "--secret-file",
                     "--observations-log", "--node-id", "--udp-workers", "--store-max-observations",
                     "--store-max-age", "--tcp-max-connections", "--tcp-idle-timeout-ms", "--token-max-age", "--answer-ttl",
                     "--negative-ttl", "--contact", "token"]:
            self.assertIn(flag, out.stdout)

    def test_config_file_and_clean_shutdown(self):
        server = Dnsleakd()
        try:
            config = os.path.join(server.dir.name, "dnsleakd.toml")
            with open(config, "w") as f:
                f.write('zone = "leak.test"\nweb_address = ["192.0.2.99"]\ndns_listen = ["127.0.0.1:0"]\n'
                        'secret_file = "%s"\n' % server.secret_file)
            proc = subprocess.Popen([DNSLEAKD, "--config", config], stderr=subprocess.PIPE, text=True)
            line = proc.stderr.readline()
            while line and "serving" not in line:  # as root, the warning about staying root comes first
                line = proc.stderr.readline()
            port = int(line.rsplit("127.0.0.1:", 1)[1].split()[0])
            out = run_tool(["kdig", "@127.0.0.1", "-p", str(port), "leak.test", "A", "+short"])
            self.assertEqual(out.stdout.split(), ["192.0.2.99"])
            name = run_tool([DNSLEAKD, "token", "--config", config, "--probe", "z"]).stdout.strip()
            self.assertTrue(name.endswith("-z.leak.test"), name)
            self.assertEqual(run_tool(["kdig", "@127.0.0.1", "-p", str(port), name, "A", "+short"]).stdout.split(),
                             ["192.0.2.99"])
            proc.terminate()
            self.assertEqual(proc.wait(timeout=10), 0)
            self.assertIn("dnsleakd: stopped", proc.stderr.read())
            proc.stderr.close()
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
