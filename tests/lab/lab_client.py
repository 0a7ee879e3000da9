#!/usr/bin/env python3
"""A minimal leak-test client for the lab, run inside the client namespace: creates a test on
dnsleakd's API, resolves every name through glibc (getaddrinfo), makes the HTTP probes over IPv4
and IPv6, and prints the results as JSON. It exercises the API the way `dnsleak test` will.

  lab_client.py [--server http://leak.test] [--expect-asn N]...
"""
import argparse
import concurrent.futures
import json
import socket
import sys
import time
import urllib.parse
import urllib.request


def http(method, url, body=None, timeout=5):
    request = urllib.request.Request(url, method=method, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def resolve(name):
    try:
        return sorted({a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)})
    except socket.gaierror:
        return []


def probe(host, family):
    """GET http://host/probe over one family (the probe host has addresses of that family only)."""
    try:
        address = socket.getaddrinfo(host, 80, family, socket.SOCK_STREAM)[0][4]
        with socket.create_connection(address[:2], timeout=3) as s:
            s.sendall(("GET /probe HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
            return s.recv(64).split(b" ")[1].decode()
    except (OSError, IndexError):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="http://leak.test")
    parser.add_argument("--expect-asn", action="append", default=[])
    parser.add_argument("--wait-reverse", action="store_true",
                        help="read the results again until every resolver has its PTR name (3 s at most)")
    args = parser.parse_args()
    status, body = http("POST", args.server + "/api/v1/tests", json.dumps({"type": "standard"}).encode())
    test = json.loads(body)
    names = [n["name"] for n in test["names"]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        lookups = dict(zip(names, pool.map(resolve, names)))
        probes = {"ipv4": pool.submit(probe, test["probe_hosts"]["ipv4"], socket.AF_INET),
                  "ipv6": pool.submit(probe, test["probe_hosts"]["ipv6"], socket.AF_INET6)}
        probe_status = {k: f.result() for k, f in probes.items()}
    time.sleep(1.0)  # late answers of parallel resolvers
    query = urllib.parse.urlencode([("expect_asn", a) for a in args.expect_asn])
    url = args.server + "/api/v1/tests/" + test["id"] + ("?" + query if query else "")
    results = json.loads(http("GET", url)[1])
    deadline = time.monotonic() + 3
    while args.wait_reverse and time.monotonic() < deadline and any(r["reverse_name"] is None for r in results["resolvers"]):
        time.sleep(0.2)  # PTR names are looked up in the background after the first read
        results = json.loads(http("GET", url)[1])
    results["lookups"] = lookups
    results["probes"] = probe_status
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
