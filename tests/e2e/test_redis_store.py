"""Several dnsleakd nodes sharing one real redis-server on loopback.

Two DNS-only nodes and one API-only node: a test whose names are answered by both DNS nodes shows
every observation through the API node, after the fact and live; Redis killed mid-test and
started again: DNS never stops answering, what could not be written waits (or is dropped and
counted), results come back. Each Redis is started by the test on its own port and directory and
stopped by its PID.
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from dnsleakd_process import DNSLEAKD, ZONE, DaemonProcess, make_query, rcode, udp_exchange

REDIS_SERVER = shutil.which("redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, directory, password=None):
        self.dir = directory
        self.port = free_port()
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(100):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def url(self):
        return "redis://127.0.0.1:%d" % self.port


class Node(DaemonProcess):
    """One dnsleakd; DNS-only, API-only or both, on loopback."""

    def __init__(self, workdir, secret_file, store, node_id, dns=True, http=False, extra=()):
        args = [DNSLEAKD, "--zone", ZONE, "--web-address", "192.0.2.80", "--secret-file", secret_file,
                "--store", store, "--node-id", node_id, *extra]
        if dns:
            args += ["--dns-listen", "127.0.0.1:0"]
        if http:
            args += ["--http-listen", "127.0.0.1:0", "--no-reverse-dns"]
        self.start(args, os.path.join(workdir, "node-%s.stderr" % node_id), self._ports)

    def _ports(self, text):
        if "serving" not in text:
            return False
        m = re.search(r"on udp\+tcp 127\.0\.0\.1:(\d+)", text)
        h = re.search(r"http 127\.0\.0\.1:(\d+)", text)
        self.dns_port = int(m.group(1)) if m else None
        self.http_port = int(h.group(1)) if h else None
        return True

    def store_line(self, until=None, timeout=5):
        """Asks for the counters (SIGUSR1); returns the newest store line as a dict.

        A DNS answer goes out before its thread hands the batch of observations to the store, so
        a count asked for right after the last answer can be one batch short: with `until`, asks
        again (bounded by `timeout`) until the line satisfies it, and returns the last line."""
        deadline = time.monotonic() + timeout
        while True:
            line = dict(re.findall(r"(\w+)=(\w+)", self.signalled_line("store held=")))
            if until is None or until(line) or time.monotonic() > deadline:
                return line
            time.sleep(0.05)

    def request(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data


def start_fails(args, timeout=10):
    return subprocess.run([DNSLEAKD, *args], capture_output=True, text=True, timeout=timeout)


class RedisStore(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dnsleakd-redis-")
        self.secret = os.path.join(self.dir, "secret")
        with open(self.secret, "w") as f:
            f.write("redis e2e secret %032x\n" % random.getrandbits(128))
        self.password = "pw-%016x" % random.getrandbits(64)
        self.password_file = os.path.join(self.dir, "redis-password")
        with open(self.password_file, "w") as f:
            f.write(self.password + "\n")
        self.redis = Redis(self.dir, self.password)
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        self.redis.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, node_id, **kw):
        n = Node(self.dir, self.secret, self.redis.url(), node_id,
                 extra=["--store-password-file", self.password_file, *kw.pop("extra", ())], **kw)
        self.nodes.append(n)
        return n

    def create_test(self, api):
        status, body = api.request("POST", "/api/v1/tests")
        self.assertEqual(status, 201, body)
        return json.loads(body)

    def ask(self, node, name):
        reply = udp_exchange(node.dns_port, make_query(name))
        self.assertIsNotNone(reply, "no answer from node for " + name)
        self.assertEqual(rcode(reply), 0)
        return reply

    def results(self, api, test_id, want_count, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            status, body = api.request("GET", "/api/v1/tests/" + test_id)
            if status == 503 and time.monotonic() < deadline:  # Redis on its way back
                time.sleep(0.05)
                continue
            self.assertEqual(status, 200, body)
            doc = json.loads(body)
            count = sum(r["count"] for r in doc["resolvers"])
            if count >= want_count or time.monotonic() > deadline:
                return doc
            time.sleep(0.05)

    def test_names_split_across_dns_nodes_show_whole_on_the_api_node(self):
        a, b = self.node("dns-a"), self.node("dns-b")
        api = self.node("api-1", dns=False, http=True)
        self.assertIsNone(api.dns_port)
        self.assertIn("no DNS (API only)", api.read_stderr())
        test = self.create_test(api)
        plain = [n["name"] for n in test["names"] if n["kind"] == "plain"]
        # The live stream through the API node, opened before any query.
        events = []
        stream_open = threading.Event()

        def follow():
            conn = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=10)
            conn.request("GET", "/api/v1/tests/%s/events" % test["id"])
            r = conn.getresponse()
            stream_open.set()
            buf = b""
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and len(events) < len(plain):
                chunk = r.fp.readline()
                if not chunk:
                    break
                buf += chunk
                if chunk == b"\n":
                    for line in buf.decode().splitlines():
                        if line.startswith("data: ") and "resolver" in line:
                            events.append(json.loads(line[6:]))
                    buf = b""
            conn.close()

        t = threading.Thread(target=follow)
        t.start()
        self.assertTrue(stream_open.wait(5))
        time.sleep(0.2)
        started = time.monotonic()
        for i, name in enumerate(plain):
            self.ask(a if i % 2 == 0 else b, name)
        t.join(10)
        live_ms = (time.monotonic() - started) * 1000
        self.assertEqual(len(events), len(plain), "live events through the API node")
        self.assertEqual({e["node"] for e in events}, {"dns-a", "dns-b"})
        self.assertEqual(sorted(e["qname"] for e in events), sorted(plain))
        print("live: %d observations from 2 DNS nodes on the API node's stream within %.0f ms" %
              (len(events), live_ms), file=sys.stderr)
        doc = self.results(api, test["id"], len(plain))
        self.assertEqual(len(doc["resolvers"]), 1)
        r = doc["resolvers"][0]
        self.assertEqual(r["count"], len(plain))
        self.assertEqual(r["nodes"], ["dns-a", "dns-b"])
        # An HTTP probe through the API node is the test's egress on every API node.
        api2 = self.node("api-2", dns=False, http=True)
        conn = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=5)
        conn.request("GET", "/", headers={"Host": test["probe_hosts"]["ipv4"]})
        self.assertEqual(conn.getresponse().status, 204)
        conn.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            egress = json.loads(api2.request("GET", "/api/v1/tests/" + test["id"])[1])["egress"]
            if egress:
                break
            time.sleep(0.05)
        self.assertEqual([e["address"] for e in egress], ["127.0.0.1"])
        # A reconnecting stream resumes after the last event it got: nothing again, nothing missed.
        conn = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=5)
        conn.request("GET", "/api/v1/tests/%s/events" % test["id"], headers={"Last-Event-ID": "0-0"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        conn.close()

    def test_nsid_names_the_node_that_answered(self):
        a, b = self.node("dns-a"), self.node("dns-b")
        for node, node_id in ((a, "dns-a"), (b, "dns-b")):
            out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(node.dns_port), ZONE, "SOA", "+nsid"],
                                 capture_output=True, text=True, timeout=10).stdout
            self.assertIn('"%s"' % node_id, out)

    def test_redis_killed_and_restarted_dns_keeps_answering_results_resume(self):
        a = self.node("dns-a")
        api = self.node("api-1", dns=False, http=True)
        test = self.create_test(api)
        plain = [n["name"] for n in test["names"] if n["kind"] == "plain"]
        self.ask(a, plain[0])
        self.results(api, test["id"], 1)

        self.redis.kill()
        started = time.monotonic()
        for name in plain[1:]:
            self.ask(a, name)  # answered at full speed whatever Redis does
        dns_ms = (time.monotonic() - started) * 1000
        t0 = time.monotonic()
        status, body = api.request("GET", "/api/v1/tests/" + test["id"])
        api_ms = (time.monotonic() - t0) * 1000
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["error"]["code"], "store_unavailable")
        self.assertLess(api_ms, 1000, "the API must answer within a second while Redis is down")
        line = a.store_line(until=lambda l: int(l["queued"]) >= len(plain) - 1)
        self.assertEqual(line["backend"], "down")
        self.assertEqual(int(line["queued"]), len(plain) - 1)
        print("redis down: %d queries answered in %.0f ms, API 503 in %.0f ms, %s queued" %
              (len(plain) - 1, dns_ms, api_ms, line["queued"]), file=sys.stderr)

        self.redis.start()  # an empty Redis on the same port: the queued observations go in again
        doc = self.results(api, test["id"], len(plain) - 1, timeout=15)
        self.assertEqual(sum(r["count"] for r in doc["resolvers"]), len(plain) - 1)
        # The writer frees its queue once EXEC's reply is in, a moment after readers see the data.
        line = a.store_line(until=lambda l: l["queued"] == "0")
        self.assertEqual(line["backend"], "up")
        self.assertEqual(int(line["queued"]), 0)
        self.assertEqual(int(line["lost"]), 0)

    def test_a_stalled_redis_costs_the_api_under_a_second_and_dns_nothing(self):
        a = self.node("dns-a")
        api = self.node("api-1", dns=False, http=True)
        test = self.create_test(api)
        plain = [n["name"] for n in test["names"] if n["kind"] == "plain"]
        os.kill(self.redis.proc.pid, signal.SIGSTOP)  # up but answering nothing: a slow Redis
        try:
            started = time.monotonic()
            for name in plain:
                self.ask(a, name)
            dns_ms = (time.monotonic() - started) * 1000
            t0 = time.monotonic()
            status, body = api.request("GET", "/api/v1/tests/" + test["id"])
            api_ms = (time.monotonic() - t0) * 1000
            self.assertEqual(status, 503, body)
            self.assertLess(api_ms, 1000)
            # Results readers fill every thread that reads the store; the rest of the API must not
            # wait behind them: the health check, a new test, an HTTP probe.
            readers = [threading.Thread(target=api.request, args=("GET", "/api/v1/tests/" + test["id"]))
                       for _ in range(12)]
            for t in readers:
                t.start()
            time.sleep(0.1)
            t0 = time.monotonic()
            self.assertEqual(api.request("GET", "/healthz")[0], 200)
            self.assertEqual(api.request("POST", "/api/v1/tests")[0], 201)
            conn = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=5)
            conn.request("GET", "/", headers={"Host": test["probe_hosts"]["ipv4"]})
            self.assertEqual(conn.getresponse().status, 204)
            conn.close()
            others_ms = (time.monotonic() - t0) * 1000
            self.assertLess(others_ms, 300, "health, create and probe waited behind the stalled store")
            for t in readers:
                t.join(10)
            print("redis stalled: %d queries answered in %.0f ms, API 503 in %.0f ms, health+create+probe"
                  " beside 12 stalled readers in %.0f ms" % (len(plain), dns_ms, api_ms, others_ms), file=sys.stderr)
        finally:
            os.kill(self.redis.proc.pid, signal.SIGCONT)
        doc = self.results(api, test["id"], len(plain), timeout=15)
        self.assertEqual(sum(r["count"] for r in doc["resolvers"]), len(plain))

    def test_a_full_queue_drops_and_counts_but_dns_answers(self):
        # 1500 names of one test from one address are a flood to the rate limiter: off here.
        a = self.node("dns-a", extra=["--store-queue", "1024", "--rate-limit", "off"])
        self.redis.kill()
        token = subprocess.run([DNSLEAKD, "token", "--secret-file", self.secret], capture_output=True, text=True,
                               check=True).stdout.strip()
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            for i in range(1500):
                s.sendto(make_query("%s-q%d.%s" % (token, i, ZONE)), ("127.0.0.1", a.dns_port))
                if rcode(s.recv(65535)) == 0:
                    answered += 1
        self.assertEqual(answered, 1500)
        line = a.store_line(until=lambda l: int(l["queued"]) + int(l["lost"]) >= 1500)
        self.assertEqual(int(line["queued"]), 1024)
        self.assertEqual(int(line["lost"]), 1500 - 1024)

    def test_an_acl_user_with_only_the_readmes_permissions_does_everything(self):
        # The ACL line the README gives operators: if dnsleakd needs a command it does not list,
        # this fails.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
            readme = f.read()
        acl = re.search(r"`ACL SETUSER dnsleak on >PASSWORD ([^`]*)`", readme).group(1).split()
        out = subprocess.run(["redis-cli", "-p", str(self.redis.port), "--no-auth-warning", "-a", self.password,
                              "ACL", "SETUSER", "dnsleak", "on", ">acl-secret", *acl],
                             capture_output=True, text=True, timeout=10).stdout
        self.assertIn("OK", out)
        url = "redis://dnsleak@127.0.0.1:%d" % self.redis.port  # as the README: the password in a file
        acl_password = os.path.join(self.dir, "acl-password")
        with open(acl_password, "w") as f:
            f.write("acl-secret\n")
        a = Node(self.dir, self.secret, url, "acl-dns", extra=["--store-password-file", acl_password])
        api = Node(self.dir, self.secret, url, "acl-api", dns=False, http=True,
                   extra=["--store-password-file", acl_password])
        self.nodes += [a, api]
        test = self.create_test(api)
        plain = [n["name"] for n in test["names"] if n["kind"] == "plain"]
        conn = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=10)
        conn.request("GET", "/api/v1/tests/%s/events" % test["id"])
        stream = conn.getresponse()
        for name in plain:
            self.ask(a, name)
        seen = 0
        while seen < len(plain):
            line = stream.fp.readline()
            self.assertTrue(line, "the stream ended early")
            seen += line.startswith(b"event: observation")
        conn.close()
        probe = http.client.HTTPConnection("127.0.0.1", api.http_port, timeout=5)
        probe.request("GET", "/", headers={"Host": test["probe_hosts"]["ipv4"]})
        self.assertEqual(probe.getresponse().status, 204)
        probe.close()
        deadline = time.monotonic() + 5
        while True:
            doc = self.results(api, test["id"], len(plain))
            if doc["egress"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(sum(r["count"] for r in doc["resolvers"]), len(plain))
        self.assertEqual([e["address"] for e in doc["egress"]], ["127.0.0.1"])
        for node in (a, api):
            line = node.store_line()
            self.assertEqual(line["lost"], "0", line)
        metrics = api.request("GET", "/metrics")[1].decode()
        self.assertIn("dnsleak_store_backend_errors_total 0", metrics)
        self.assertIn("dnsleak_store_read_errors_total 0", metrics)
        self.assertIn("dnsleak_store_egress_lost_total 0", metrics)

    def test_bad_urls_refused_auth_and_unreachable_redis_stop_the_start(self):
        base = ["--zone", ZONE, "--web-address", "192.0.2.80", "--secret-file", self.secret,
                "--dns-listen", "127.0.0.1:0"]
        for url, why in (("redis://", "no host"), ("redis://127.0.0.1:0", "port"), ("rediss://127.0.0.1:1", "TLS"),
                         ("redis://127.0.0.1:1/x", "database"), ("mysql://x", "neither memory")):
            r = start_fails(base + ["--store", url])
            self.assertEqual(r.returncode, 2, (url, r.stderr))
            self.assertIn(why, r.stderr)
        r = start_fails(base + ["--store", self.redis.url()])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("NOAUTH", r.stderr)
        r = start_fails(base + ["--store", "redis://:wrong@127.0.0.1:%d" % self.redis.port])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("AUTH refused", r.stderr)
        self.assertNotIn("wrong", r.stderr.replace("WRONGPASS", ""), "the password must not be printed")
        r = start_fails(base + ["--store", "redis://127.0.0.1:%d" % free_port()])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot connect", r.stderr)
        r = start_fails(["--zone", ZONE, "--web-address", "192.0.2.80", "--secret-file", self.secret,
                         "--http-listen", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("API-only node", r.stderr)


if __name__ == "__main__":
    if REDIS_SERVER is None:
        print("skipped: redis-server is not installed (scripts/setup installs it)", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
