#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_response: real answers of a dnsleakd on loopback (TXT from
whoami with ECS, a referral with glue, NXDOMAIN with SOA, a truncated answer, A/AAAA/ANY of a test
name, REFUSED), plus a PTR answer with a compressed target, the shape of the client's reads.

Run: DNSLEAKD=build/dnsleakd tests/fuzz/make_response_corpus.py
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from dnsleakd_process import Dnsleakd, make_query, udp_exchange  # noqa: E402


def ptr_answer():
    question = b"\x011\x012\x010\x03192\x07in-addr\x04arpa\x00" + struct.pack("!HH", 12, 1)
    target = b"\x08resolver\x03vpn\x07example\x00"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 3600, len(target)) + target
    return struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0) + question + answer


def main():
    out = os.path.join(os.path.dirname(__file__), "response_corpus")
    os.makedirs(out, exist_ok=True)
    server = Dnsleakd()
    try:
        name = server.token_name("a")
        ecs = b"\x00\x08\x00\x07\x00\x01\x18\x00\xcb\x00\x71"
        queries = {
            "whoami_txt_ecs": make_query("whoami.leak.test", 16, qid=1, edns=(1232, ecs)),
            "test_a": make_query(name, 1, qid=2),
            "test_aaaa_edns": make_query(name, 28, qid=3, edns=(4096, b"")),
            "test_any": make_query(name, 255, qid=4),
            "v6_referral": make_query(server.token_name("b", "v6.leak.test"), 1, qid=5),
            "tcp_truncated": make_query(server.token_name("c", "tcp.leak.test"), 1, qid=6),
            "nxdomain_soa": make_query("nothing.leak.test", 1, qid=7),
            "apex_ns_glue": make_query("leak.test", 2, qid=8),
            "refused": make_query("www.example.com", 1, qid=9),
        }
        for key, wire in queries.items():
            with open(os.path.join(out, key), "wb") as f:
                f.write(udp_exchange(server.port4, wire))
    finally:
        server.stop()
        server.cleanup()
    with open(os.path.join(out, "ptr_compressed"), "wb") as f:
        f.write(ptr_answer())
    print("wrote %d seeds to %s" % (len(queries) + 1, out))


if __name__ == "__main__":
    main()
