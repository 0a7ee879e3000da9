"""End-to-end tests of dnsleakd's HTTP API on loopback: create a test, resolve its names, probe,
read results and live events; bad input gets clear 4xx JSON errors and bounded resources."""
import http.client
import json
import socket
import time
import unittest

from dnsleakd_process import Dnsleakd, run_tool


class HttpApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Dnsleakd(http=True)
        cls.port = cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response, data

    def json_request(self, method, path, body=None):
        response, data = self.request(method, path, body)
        self.assertEqual(response.getheader("Content-Type"), "application/json")
        return response.status, json.loads(data)

    def create(self, kind="standard"):
        status, test = self.json_request("POST", "/api/v1/tests", json.dumps({"type": kind}))
        self.assertEqual(status, 201)
        return test

    def resolve(self, name, qtype="A"):
        return run_tool(["kdig", "@127.0.0.1", "-p", str(self.server.port4), name, qtype, "+short"]).stdout.split()

    def test_create_resolve_probe_and_read_results(self):
        test = self.create()
        self.assertEqual(len(test["id"]), 56)
        kinds = [n["kind"] for n in test["names"]]
        self.assertEqual(kinds.count("plain"), 6)
        self.assertEqual(sorted(k for k in kinds if k != "plain"), ["tcp", "v4", "v6"])
        for n in test["names"][:3]:
            self.assertEqual(self.resolve(n["name"]), ["192.0.2.80"])
        # The family-only probe names: -4 has no AAAA, -6 no A.
        self.assertEqual(self.resolve(test["probe_hosts"]["ipv4"], "AAAA"), [])
        self.assertEqual(self.resolve(test["probe_hosts"]["ipv6"], "A"), [])
        self.assertEqual(self.resolve(test["probe_hosts"]["ipv6"], "AAAA"), ["2001:db8::80"])
        response, body = self.request("GET", "/probe", headers={"Host": "%s:%d" % (test["probe_hosts"]["ipv4"], self.port)})
        self.assertEqual(response.status, 204)
        self.assertEqual(response.getheader("Access-Control-Allow-Origin"), "*")
        status, results = self.json_request("GET", "/api/v1/tests/" + test["id"])
        self.assertEqual(status, 200)
        self.assertEqual([r["address"] for r in results["resolvers"]], ["127.0.0.1"])
        resolver = results["resolvers"][0]
        self.assertEqual(resolver["count"], 6)  # 3 names + the 3 family checks
        self.assertEqual(resolver["transports"], ["udp"])
        self.assertIsNone(resolver["reverse_name"])  # --no-reverse-dns
        self.assertEqual([e["address"] for e in results["egress"]], ["127.0.0.1"])
        self.assertIn(results["verdict"]["outcome"], ("leak", "no_leak", "inconclusive"))
        codes = [f["code"] for f in results["verdict"]["findings"]]
        self.assertIn("resolver_network_unknown", codes)  # loopback is in no data set

    def test_results_are_only_for_the_test_and_its_key(self):
        first, second = self.create(), self.create()
        self.resolve(first["names"][0]["name"])
        status, results = self.json_request("GET", "/api/v1/tests/" + second["id"])
        self.assertEqual(results["resolvers"], [])
        # The token alone (as seen in DNS names) does not open the results.
        forged = first["id"][:40] + "0" * 16
        status, error = self.json_request("GET", "/api/v1/tests/" + forged)
        self.assertEqual(status, 404)
        self.assertEqual(error["error"]["code"], "unknown_test")
        status, error = self.json_request("GET", "/api/v1/tests/nonsense")
        self.assertEqual(status, 404)

    def test_expectations_decide_the_verdict(self):
        test = self.create()
        self.resolve(test["names"][0]["name"])
        status, results = self.json_request("GET", "/api/v1/tests/%s?expect_resolver=127.0.0.1" % test["id"])
        self.assertEqual(results["verdict"]["outcome"], "no_leak")
        status, results = self.json_request("GET", "/api/v1/tests/%s?expect_asn=64501" % test["id"])
        self.assertEqual(results["verdict"]["outcome"], "leak")
        status, error = self.json_request("GET", "/api/v1/tests/%s?expect_asn=x" % test["id"])
        self.assertEqual(status, 400)

    def test_events_stream_delivers_observations_as_they_arrive(self):
        test = self.create()
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.sendall(("GET /api/v1/tests/%s/events HTTP/1.1\r\nHost: x\r\n\r\n" % test["id"]).encode())
        head = conn.recv(4096).decode()
        self.assertIn("200 OK", head)
        self.assertIn("text/event-stream", head)
        started = time.monotonic()
        self.resolve(test["names"][1]["name"])
        data = b""
        while b"event: observation" not in data and time.monotonic() - started < 5:
            data += conn.recv(4096)
        conn.close()
        self.assertIn(b"event: observation", data)
        self.assertLess(time.monotonic() - started, 2.0)
        event = json.loads(data.split(b"data: ", 1)[1].split(b"\n", 1)[0])
        self.assertEqual(event["resolver"], "127.0.0.1")
        self.assertEqual(event["probe"], "p1")

    def test_whoami_health_metrics_and_page(self):
        status, me = self.json_request("GET", "/api/v1/whoami")
        self.assertEqual(me["address"], "127.0.0.1")
        status, health = self.json_request("GET", "/healthz")
        self.assertEqual(health, {"status": "ok"})
        response, body = self.request("GET", "/metrics")
        text = body.decode()
        self.assertIn('dnsleak_dns_packets_total{outcome="answer"}', text)
        self.assertIn('dnsleak_http_responses_total{class="2xx"}', text)
        self.assertIn("dnsleak_store_observations", text)
        response, body = self.request("GET", "/")
        self.assertEqual(response.status, 200)
        self.assertIn(b"DNS leak test", body)
        self.assertIn("default-src 'self'", response.getheader("Content-Security-Policy"))
        response, body = self.request("GET", "/app.js")
        self.assertEqual(response.status, 200)

    def test_bad_input_gets_clear_json_errors(self):
        status, error = self.json_request("POST", "/api/v1/tests", "{not json")
        self.assertEqual((status, error["error"]["code"]), (400, "bad_json"))
        status, error = self.json_request("POST", "/api/v1/tests", json.dumps({"type": "huge"}))
        self.assertEqual((status, error["error"]["code"]), (400, "bad_type"))
        status, error = self.json_request("POST", "/api/v1/tests", json.dumps({"count": 0}))
        self.assertEqual((status, error["error"]["code"]), (400, "bad_count"))
        status, error = self.json_request("POST", "/api/v1/tests", json.dumps({"count": "many"}))
        self.assertEqual((status, error["error"]["code"]), (400, "bad_count"))
        status, test = self.json_request("POST", "/api/v1/tests", json.dumps({"count": 12}))
        self.assertEqual([n["kind"] for n in test["names"]].count("plain"), 12)
        status, error = self.json_request("POST", "/api/v1/tests", json.dumps({"typo": 1}))
        self.assertEqual((status, error["error"]["code"]), (400, "unknown_field"))
        status, error = self.json_request("DELETE", "/api/v1/tests")
        self.assertEqual(status, 405)
        status, error = self.json_request("GET", "/../../etc/passwd")
        self.assertEqual(status, 404)
        status, error = self.json_request("GET", "/x" * 3000)
        self.assertEqual((status, error["error"]["code"]), (414, "uri_too_long"))
        status, error = self.json_request("POST", "/api/v1/tests", "x" * 20000)
        self.assertEqual((status, error["error"]["code"]), (413, "body_too_large"))
        status, error = self.json_request("GET", "/healthz", )
        self.assertEqual(status, 200)

    def test_pipelined_requests_are_all_answered(self):
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 200") < 2 and time.monotonic() < deadline:
            data += conn.recv(4096)
        conn.close()
        self.assertEqual(data.count(b"HTTP/1.1 200"), 2, data)

    def test_head_on_a_probe_host_is_a_bare_204(self):
        test = self.create()
        response, body = self.request("HEAD", "/probe", headers={"Host": test["probe_hosts"]["ipv4"]})
        self.assertEqual(response.status, 204)
        self.assertIsNone(response.getheader("Content-Length"))

    def test_garbage_and_slow_clients_do_not_hurt_others(self):
        garbage = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        garbage.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        self.assertIn(b"400", garbage.recv(4096))
        garbage.close()
        slow = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never finishes the header
        started = time.monotonic()
        status, health = self.json_request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 1.0)
        slow.close()

    def test_too_many_event_streams_are_refused(self):
        test = self.create()
        streams = []
        try:
            for i in range(64):
                # From four addresses: one client alone may not hold more than 32 connections.
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                             source_address=("127.0.%d.1" % (20 + i // 16), 0))
                s.sendall(("GET /api/v1/tests/%s/events HTTP/1.1\r\nHost: x\r\n\r\n" % test["id"]).encode())
                self.assertIn(b"200 OK", s.recv(4096))
                streams.append(s)
            response, body = self.request("GET", "/api/v1/tests/%s/events" % test["id"])
            self.assertEqual(response.status, 503)
            self.assertEqual(json.loads(body)["error"]["code"], "too_many_streams")
        finally:
            for s in streams:
                s.close()
        # Closed streams free their places.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            conn.sendall(("GET /api/v1/tests/%s/events HTTP/1.1\r\nHost: x\r\n\r\n" % test["id"]).encode())
            ok = b"200 OK" in conn.recv(4096)
            conn.close()
            if ok:
                break
            time.sleep(0.3)
        self.assertTrue(ok)


if __name__ == "__main__":
    unittest.main()
