#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_responder: one file per interesting query shape.

Test names carry tokens made with the fuzz target's secret (tokens never expire in the fuzz
fixture), so the corpus reaches the observation path. Run: make_corpus.py BUILD_DIR/dnsleakd
"""
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from dnsleakd_process import make_query  # noqa: E402

SECRET = "fuzzing secret, not for production"


def token_name(dnsleakd, probe, zone):
    with tempfile.NamedTemporaryFile("w") as f:
        f.write(SECRET)
        f.flush()
        return subprocess.run([dnsleakd, "token", "--secret-file", f.name, "--zone", zone, "--probe", probe],
                              check=True, capture_output=True, text=True).stdout.strip()


def main():
    dnsleakd = sys.argv[1]
    out = os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    name = token_name(dnsleakd, "a", "leak.test")
    ecs = b"\x00\x08\x00\x07\x00\x01\x18\x00\xcb\x00\x71"
    cookie = b"\x00\x0a\x00\x08" + bytes(range(8))
    seeds = {
        "test_a": make_query(name, 1, qid=1),
        "test_aaaa_edns": make_query(name, 28, qid=2, edns=(4096, cookie)),
        "test_mixed_case": make_query(name.upper()[:20] + name[20:], 1, qid=3),
        "test_any": make_query(name, 255, qid=4),
        "test_v6": make_query(token_name(dnsleakd, "b", "v6.leak.test"), 1, qid=5),
        "test_v4": make_query(token_name(dnsleakd, "c", "v4.leak.test"), 28, qid=6),
        "test_tcp": make_query(token_name(dnsleakd, "d", "tcp.leak.test"), 1, qid=7, edns=(1232, b"")),
        "whoami_txt_ecs": make_query("whoami.leak.test", 16, qid=8, edns=(1232, ecs)),
        "apex_ns": make_query("leak.test", 2, qid=9),
        "apex_soa": make_query("leak.test", 6, qid=10),
        "v6_apex_ns": make_query("v6.leak.test", 2, qid=11),
        "ns_host": make_query("ns.v6.leak.test", 28, qid=12),
        "out_of_zone": make_query("www.example.com", 1, qid=13),
        "nxdomain": make_query("nothing.leak.test", 1, qid=14),
        "notify": make_query("leak.test", 6, qid=15, flags=4 << 11),
        "badvers": make_query("leak.test", 1, qid=16, edns=(1232, b"")).replace(b"\x00\x29\x04\xd0\x00\x00", b"\x00\x29\x04\xd0\x00\x01"),
        "pointer_loop": struct.pack("!HHHHHH", 17, 0, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
        "apex_a": make_query("leak.test", 1, qid=18),
        "truncated_header": b"\x00\x13\x01\x00\x00",
        "bogus_counts": make_query("leak.test", 1, qid=20)[:6] + b"\xff\xff\xff\xff\xff\xff" + make_query("leak.test", 1)[12:],
        "garbage_edns": make_query("leak.test", 1, qid=21, edns=(512, b"\x00\x08\x00\x30\x01")),
        "axfr": make_query("leak.test", 252, qid=22),
        "whoami_refused_ecs": make_query("whoami.example.org", 16, qid=23, edns=(1232, ecs)),
        "whoami_nxdomain_ecs": make_query("whoami.nothing.leak.test", 16, qid=24, edns=(1232, ecs)),
        "whoami_v6_ecs": make_query("whoami.v6.leak.test", 16, qid=25, edns=(1232, ecs)),
    }
    for key, wire in seeds.items():
        with open(os.path.join(out, key), "wb") as f:
            f.write(wire)
    print("wrote %d seeds to %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
