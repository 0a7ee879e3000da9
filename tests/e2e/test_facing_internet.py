"""dnsleakd facing the internet: floods it must survive, rate limits, cookies, privileges.

Everything stays on loopback: the floods come from 127.X.Y.1 sources (each its own /24, as spoofed
sources spread over many victims look), are bounded in time (FLOOD_SECONDS, 8 by default) and
stop by themselves. Processes are stopped by their PID.
"""
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import http.client

from dnsleakd_process import DNSLEAKD, ZONE, Dnsleakd, make_query, rcode, header_flags, tcp_connect, tcp_read_message

FLOOD = os.environ.get("DNSLEAK_FLOOD", os.path.join(os.path.dirname(DNSLEAKD), "bench", "dnsleak-flood"))
FLOOD_SECONDS = float(os.environ.get("FLOOD_SECONDS", "8"))
RSS_BOUND_KIB = 256 * 1024  # the store's 100,000 observations, the rate limiter's table, the rest


def cookie_option(client, server=b""):
    value = client + server
    return struct.pack("!HH", 10, len(value)) + value


def server_cookie_of(wire):
    """The COOKIE option's value in a response's OPT (client + server cookie), or None."""
    at = 12
    def skip_name(at):
        while True:
            n = wire[at]
            if n == 0:
                return at + 1
            if n & 0xC0 == 0xC0:
                return at + 2
            at += n + 1
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    for _ in range(qd):
        at = skip_name(at) + 4
    for _ in range(an + ns + ar):
        at = skip_name(at)
        rtype, _, _, rdlength = struct.unpack("!HHIH", wire[at:at + 10])
        at += 10
        if rtype == 41:
            rdata = wire[at:at + rdlength]
            i = 0
            while i + 4 <= len(rdata):
                code, length = struct.unpack("!HH", rdata[i:i + 4])
                if code == 10:
                    return rdata[i + 4:i + 4 + length]
                i += 4 + length
        at += rdlength
    return None


def ask(port, wire, source="127.0.0.1", timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(wire, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def burst(port, wires, source):
    """Sends every query from one socket at once, then collects answers for a moment."""
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for w in wires:
            s.sendto(w, ("127.0.0.1", port))
        s.settimeout(0.3)
        try:
            while True:
                answers.append(s.recv(65535))
        except socket.timeout:
            pass
    return answers


class RateLimitsAndCookies(unittest.TestCase):
    def start(self, *extra):
        server = Dnsleakd(["--rate-limit-nxdomain", "20", "--rate-limit-slip", "2", *extra])
        self.addCleanup(server.cleanup)
        return server

    def test_a_flood_from_one_prefix_is_limited_with_a_slip_of_truncated_answers(self):
        server = self.start()
        wires = [make_query("nothing-%d.%s" % (i, ZONE)) for i in range(400)]
        answers = burst(server.port4, wires, "127.9.9.1")
        truncated = [a for a in answers if header_flags(a) & 0x0200]
        full = [a for a in answers if not header_flags(a) & 0x0200]
        # A burst of 2 s of 20/s, then every second answer slips: about 40 + 180.
        self.assertLessEqual(len(full), 45)
        self.assertGreaterEqual(len(full), 35)
        self.assertGreater(len(truncated), 150)
        for a in truncated:  # a slip carries no records and is no larger than the query
            self.assertEqual(struct.unpack("!HHH", a[6:12]), (0, 0, 0))
        c = server.counters()
        self.assertEqual(c["rrl_limited"], c["rrl_slipped"] + c["rrl_dropped"])
        self.assertEqual(c["rrl_slipped"], len(truncated))
        self.assertIn("rate limit: nxdomain answers to 127.9.9.0/24 are over 20/s", server.read_stderr())
        # Another /24 is not affected.
        self.assertEqual(rcode(ask(server.port4, make_query("other." + ZONE), source="127.9.10.1")), 3)

    def test_many_tests_behind_one_resolver_are_never_limited(self):
        server = self.start("--rate-limit-test", "5")
        names = []
        for t in range(60):
            token = server.token_name("p1").split("-")[0]
            names += ["%s-p%d.%s" % (token, p, ZONE) for p in range(4)]
        answers = burst(server.port4, [make_query(n) for n in names], "127.9.11.1")
        self.assertEqual(len([a for a in answers if rcode(a) == 0 and not header_flags(a) & 0x0200]), len(names))
        self.assertEqual(server.counters()["rrl_limited"], 0)

    def test_a_valid_server_cookie_is_exempt_and_a_replayed_one_is_not(self):
        server = self.start("--rate-limit-answer", "5")
        client = bytes(range(1, 9))
        first = ask(server.port4, make_query("whoami." + ZONE, 16, edns=(1232, cookie_option(client))))
        cookie = server_cookie_of(first)
        self.assertEqual(len(cookie), 24)
        self.assertEqual(cookie[:8], client)
        with_cookie = make_query("whoami." + ZONE, 16, edns=(1232, cookie_option(cookie[:8], cookie[8:])))
        answers = burst(server.port4, [with_cookie] * 200, "127.0.0.1")
        self.assertEqual(len([a for a in answers if not header_flags(a) & 0x0200]), 200)
        c = server.counters()
        self.assertEqual(c["rrl_exempt_cookie"], 200)
        self.assertEqual(c["cookie_valid"], 200)
        # The same cookie from another address (a spoofer who saw it) proves nothing.
        answers = burst(server.port4, [with_cookie] * 100, "127.9.12.1")
        self.assertLess(len([a for a in answers if not header_flags(a) & 0x0200]), 20)
        self.assertEqual(server.counters()["cookie_invalid"], 100)

    def test_kdig_learns_and_returns_the_cookie(self):
        # An independent client: kdig prints the server cookie it got.
        server = self.start()
        out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(server.port4), "+cookie", "whoami." + ZONE, "TXT"],
                             capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"COOKIE: ([0-9a-f]{16}) ?([0-9a-f]{32})", out, re.IGNORECASE)
        self.assertIsNotNone(m, out)
        out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(server.port4), "+cookie=%s%s" % (m.group(1), m.group(2)),
                              "whoami." + ZONE, "TXT"], capture_output=True, text=True, timeout=10).stdout
        self.assertIn("NOERROR", out)
        self.assertEqual(server.counters()["cookie_valid"], 1)

    def test_tcp_and_allow_listed_prefixes_are_never_limited(self):
        server = self.start("--rate-limit-allow", "127.9.13.0/24")
        answers = burst(server.port4, [make_query("x%d.%s" % (i, ZONE)) for i in range(200)], "127.9.13.1")
        self.assertEqual(len([a for a in answers if not header_flags(a) & 0x0200]), 200)
        self.assertEqual(server.counters()["rrl_exempt_allowed"], 200)
        sock = tcp_connect(server.port4)
        for i in range(100):
            q = make_query("t%d.%s" % (i, ZONE))
            sock.sendall(struct.pack("!H", len(q)) + q)
        got = [tcp_read_message(sock) for _ in range(100)]
        sock.close()
        self.assertTrue(all(g is not None and rcode(g) == 3 for g in got))

    def test_log_only_counts_and_logs_but_sends_everything(self):
        server = self.start("--rate-limit", "log-only")
        answers = burst(server.port4, [make_query("y%d.%s" % (i, ZONE)) for i in range(200)], "127.9.14.1")
        self.assertEqual(len([a for a in answers if not header_flags(a) & 0x0200]), 200)
        c = server.counters()
        self.assertGreater(c["rrl_limited"], 100)
        self.assertEqual(c["rrl_slipped"] + c["rrl_dropped"], 0)
        self.assertIn("rate limit (log only, still sent)", server.read_stderr())

    def test_bad_rate_limit_settings_are_refused(self):
        for args, message in ((["--rate-limit", "sometimes"], "is not on, off or log-only"),
                              (["--rate-limit-slip", "11"], "rate_limit.slip"),
                              (["--rate-limit-allow", "10.0.0.1/8"], "rate_limit.allow")):
            out = subprocess.run([DNSLEAKD, "--zone", ZONE, "--web-address", "192.0.2.80", "--dns-listen", "127.0.0.1:0",
                                  "--secret-file", "/dev/null", *args], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(message, out.stderr)


class Floods(unittest.TestCase):
    """Every kind of flood at once, at the flood generator's full speed, for FLOOD_SECONDS."""

    def test_the_server_survives_bounded_and_a_real_test_gets_all_its_results(self):
        if not os.path.exists(FLOOD):
            self.fail("no flood generator at %s (built with the benchmarks)" % FLOOD)
        server = Dnsleakd(["--store-max-observations", "100000", "--store-max-per-test", "2000"], http=True)
        self.addCleanup(server.cleanup)
        flood = subprocess.Popen([FLOOD, "--server", "127.0.0.1:%d" % server.port4, "--secret-file", server.secret_file,
                                  "--kinds", "random,forged,garbage,amplify,token", "--sources", "200",
                                  "--seconds", str(FLOOD_SECONDS)], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(min(2.0, FLOOD_SECONDS / 3))
            # A real test in the middle of it, from a resolver of its own (127.0.0.1), as a
            # resolver would: retry after a timeout, go to TCP on TC.
            conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
            conn.request("POST", "/api/v1/tests", body=json.dumps({"type": "standard"}))
            test = json.loads(conn.getresponse().read())
            conn.close()
            plain = [n["name"] for n in test["names"] if n["kind"] == "plain"]
            t0 = time.monotonic()
            for name in plain:
                for attempt in range(6):
                    answer = ask(server.port4, make_query(name), timeout=0.5)
                    if answer is not None and header_flags(answer) & 0x0200:
                        sock = tcp_connect(server.port4)
                        q = make_query(name)
                        sock.sendall(struct.pack("!H", len(q)) + q)
                        answer = tcp_read_message(sock)
                        sock.close()
                    if answer is not None and rcode(answer) == 0:
                        break
                else:
                    self.fail("%s went unanswered through the flood" % name)
            resolved_ms = (time.monotonic() - t0) * 1000
        finally:
            out, _ = flood.communicate(timeout=FLOOD_SECONDS + 30)
        self.assertEqual(flood.returncode, 0)
        self.assertIsNone(server.proc.poll(), "dnsleakd died under the flood")
        kinds = {k["kind"]: k for k in map(json.loads, out.splitlines())}
        with open("/proc/%d/status" % server.proc.pid) as f:
            hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        c = server.counters()
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
        conn.request("GET", "/api/v1/tests/" + test["id"])
        results = json.loads(conn.getresponse().read())
        conn.close()

        seen = {o["qname"].lower() for o in server.observations() if o["qname"].lower() in plain}
        self.assertEqual(seen, set(plain), "observations of the real test went missing in the flood")
        self.assertGreaterEqual(sum(r["count"] for r in results["resolvers"]), len(plain))
        self.assertLess(hwm, RSS_BOUND_KIB)
        for kind, k in kinds.items():
            # Past the limit a spoofed victim gets less than was sent in its name.
            self.assertLessEqual(k["amplification"], 1.0, kind)
        # The counters explain every answer not sent: each query has its outcome, each limited
        # answer was slipped or dropped, and what the generator got back was sent.
        outcomes = ["drop_too_short", "drop_is_response", "drop_no_room", "answer", "nodata", "referral",
                    "truncated_tcp_only", "truncated_size", "nxdomain", "nxdomain_bad_token", "nxdomain_expired_token",
                    "refused", "formerr", "notimp", "badvers"]
        self.assertEqual(sum(c[o] for o in outcomes), c["udp_queries"] + c["tcp_queries"])
        self.assertEqual(c["rrl_limited"], c["rrl_slipped"] + c["rrl_dropped"])
        self.assertGreater(c["rrl_dropped"], 0)
        self.assertGreater(c["observations_over_cap"], 0)  # the flooded token hit its cap
        received = sum(k["received"] for k in kinds.values())
        sent_by_server = c["udp_queries"] - c["drop_too_short"] - c["drop_is_response"] - c["rrl_dropped"] - \
            c["udp_send_errors"]
        self.assertLessEqual(received, sent_by_server + 50)  # the real test's own answers
        sent = sum(k["sent"] for k in kinds.values())
        print("flood: %d queries in %.1f s (%.0f/s) from 200 /24s; dnsleakd received %d, limited %d (slipped %d,"
              " dropped %d), %d observations over the per-test cap; peak RSS %d MiB; the real test's %d names"
              " resolved in %.0f ms; amplification %s" % (
                  sent, FLOOD_SECONDS, sent / FLOOD_SECONDS, c["udp_queries"], c["rrl_limited"], c["rrl_slipped"],
                  c["rrl_dropped"], c["observations_over_cap"], hwm // 1024, len(plain), resolved_ms,
                  ", ".join("%s %.2f" % (k, v["amplification"]) for k, v in sorted(kinds.items()))), file=sys.stderr)


class HttpAbuse(unittest.TestCase):
    """Slow clients and oversized requests against the HTTP side."""

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        cls.server = Dnsleakd(http=True)
        cls.port = cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def timed_get(self, path="/healthz"):
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status, (time.monotonic() - t0) * 1000

    def raw(self, data, read_timeout=5):
        """Sends `data` whole, in pieces as over a real link, before reading (as a client that does
        not wait for an early answer), and returns the reply; a reset while sending is what
        lingering close prevents."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        try:
            for at in range(0, len(data), 32768):
                s.sendall(data[at:at + 32768])
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError) as e:
            s.close()
            return "sending failed: %s" % e
        reply = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            return "reset after %r" % reply[:40]
        finally:
            s.close()
        return reply.decode(errors="replace")

    def test_a_thousand_slow_connections_hold_only_their_share(self):
        slow = []
        refused = 0
        for i in range(1000):  # 50 from each of 20 addresses
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.70.%d" % (1 + i // 50), 0))
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            slow.append(s)
        try:
            time.sleep(0.5)
            times = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # a byte every 100 ms on each: slowloris
                for s in slow:
                    try:
                        s.send(b"G")
                    except (BlockingIOError, OSError):
                        pass
                status, ms = self.timed_get()
                self.assertEqual(status, 200)
                times.append(ms)
                time.sleep(0.1)
            for s in slow:
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except BlockingIOError:
                    pass
                except OSError:
                    refused += 1
        finally:
            for s in slow:
                s.close()
        m = self.metrics()
        per_client = m['dnsleak_http_refused_total{what="connection_per_client"}']
        # 32 held per address, the other 18 of each refused at once.
        self.assertEqual(per_client, 20 * 18)
        self.assertGreaterEqual(refused, 20 * 18)
        self.assertLess(max(times), 250, "a normal client waited behind the slow ones: %s" % times)
        print("http: 1000 slow connections from 20 addresses: %d refused at once (per-client share 32), a normal"
              " request meanwhile took %.1f ms at most (%.1f median)" % (
                  per_client, max(times), sorted(times)[len(times) // 2]), file=sys.stderr)

    def metrics(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def test_early_errors_arrive_as_statuses_not_resets(self):
        body = b"x" * (512 << 10)
        reply = self.raw(b"POST /api/v1/tests HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assertTrue(reply.startswith("HTTP/1.1 413"), reply[:80])
        reply = self.raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n")
        self.assertTrue(reply.startswith("HTTP/1.1 431"), reply[:80])
        reply = self.raw(b"GET /" + b"z" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(reply.startswith("HTTP/1.1 414"), reply[:80])
        m = self.metrics()
        self.assertGreaterEqual(m["dnsleak_http_lingering_closes_total"], 3)
        # Every cap has its counter, hit or not.
        for name in ("dnsleak_rate_limit_evictions_total", "dnsleak_ptr_lookups_refused_total",
                     'dnsleak_http_refused_total{what="test_creation"}', 'dnsleak_dns_events_total{event="rrl_dropped"}',
                     'dnsleak_dns_events_total{event="observations_over_cap"}'):
            self.assertIn(name, m)
        with open("/proc/%d/status" % self.server.proc.pid) as f:
            hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        self.assertLess(hwm, 128 * 1024)

    def test_test_creation_is_limited_per_client_with_retry_after(self):
        statuses = []
        retry = None
        for _ in range(40):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5, source_address=("127.0.71.1", 0))
            conn.request("POST", "/api/v1/tests", body="{}")
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            if r.status == 429:
                retry = r.getheader("Retry-After")
            conn.close()
        self.assertEqual(statuses[:30], [201] * 30)  # the burst
        self.assertIn(429, statuses[30:])
        self.assertTrue(retry and int(retry) >= 1, retry)
        # Another client is not affected.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5, source_address=("127.0.71.2", 0))
        conn.request("POST", "/api/v1/tests", body="{}")
        self.assertEqual(conn.getresponse().status, 201)
        conn.close()


class Privileges(unittest.TestCase):
    def status(self, pid):
        """Uid and CapEff of every thread of a process."""
        out = []
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                text = f.read()
            out.append((re.search(r"Uid:\s+(\d+)\s+(\d+)\s+(\d+)", text).groups(),
                        re.search(r"CapEff:\s+(\w+)", text).group(1), re.search(r"CapPrm:\s+(\w+)", text).group(1)))
        return out

    def free_privileged_port(self):
        for port in range(600, 1000):
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                    u.bind(("127.0.0.1", port))
                    t.bind(("127.0.0.1", port))
                    return port
            except OSError:
                continue
        self.skipTest("no free port under 1024")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to start as root")
    def test_as_root_with_a_user_it_binds_then_runs_as_that_user_with_no_capabilities(self):
        port = self.free_privileged_port()
        server = Dnsleakd(["--user", "nobody", "--dns-listen", "127.0.0.1:%d" % port], http=True)
        self.addCleanup(server.cleanup)
        self.assertIn("running as nobody", server.read_stderr())
        for uids, cap_eff, cap_prm in self.status(server.proc.pid):
            self.assertTrue(all(u != "0" for u in uids), uids)
            self.assertEqual(int(cap_eff, 16), 0)
            self.assertEqual(int(cap_prm, 16), 0)
        self.assertEqual(rcode(ask(port, make_query(server.token_name("p1")))), 0)
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    @unittest.skipUnless(os.geteuid() == 0, "needs root to hand out CAP_NET_BIND_SERVICE")
    def test_unprivileged_with_cap_net_bind_service_it_binds_then_drops_it(self):
        # As systemd's AmbientCapabilities=CAP_NET_BIND_SERVICE under User=nobody would start it.
        port = self.free_privileged_port()
        import dnsleakd_process
        real = dnsleakd_process.DNSLEAKD
        wrapper = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+net_bind_service",
                   "--ambient-caps=+net_bind_service", real]
        server = Dnsleakd.__new__(Dnsleakd)
        import tempfile, random
        server.dir = tempfile.TemporaryDirectory(prefix="dnsleakd-e2e-")
        os.chmod(server.dir.name, 0o755)
        server.secret_file = os.path.join(server.dir.name, "secret")
        with open(server.secret_file, "w") as f:
            f.write("e2e secret %032x\n" % random.getrandbits(128))
        os.chmod(server.secret_file, 0o644)
        server.log_path = os.path.join(server.dir.name, "none")
        server.start([*wrapper, "--zone", ZONE, "--dns-listen", "127.0.0.1:%d" % port, "--dns-listen", "[::1]:0",
                      "--web-address", "192.0.2.80", "--secret-file", server.secret_file],
                     os.path.join(server.dir.name, "stderr"), server._ports)
        self.addCleanup(server.cleanup)
        self.assertIn("capabilities dropped after binding", server.read_stderr())
        for uids, cap_eff, cap_prm in self.status(server.proc.pid):
            self.assertEqual(uids, ("65534", "65534", "65534"))
            self.assertEqual(int(cap_eff, 16), 0)
            self.assertEqual(int(cap_prm, 16), 0)
        self.assertEqual(rcode(ask(port, make_query("leak.test", 6))), 0)

    def test_without_a_user_root_is_kept_with_a_warning_and_a_bad_user_is_refused(self):
        server = Dnsleakd()
        self.addCleanup(server.cleanup)
        if os.geteuid() == 0:
            self.assertIn("warning: running as root", server.read_stderr())
        else:
            self.assertNotIn("running as root", server.read_stderr())
        out = subprocess.run([DNSLEAKD, "--zone", ZONE, "--web-address", "192.0.2.80", "--dns-listen", "127.0.0.1:0",
                              "--secret-file", server.secret_file, "--user", "no-such-user-here"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn("no such user 'no-such-user-here'", out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
