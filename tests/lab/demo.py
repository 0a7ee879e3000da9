#!/usr/bin/env python3
"""The dnsleak demo: brings the leak lab up, plays every leak scenario through the real binaries
and shows what a user would see, then tears the lab down.

Per scenario a small client (tests/lab/lab_client.py, standing in for `dnsleak test` until that
exists) creates a test on dnsleakd's API, resolves its names through glibc, probes over IPv4 and
IPv6, and prints what the API returns: the resolvers with their networks, the exits, the verdict.
Exit status: 0 when every scenario matched its ground truth, 1 otherwise, 2 when the lab cannot run.
"""
import argparse
import json
import sys
import time

import scenarios
from leaklab import DNSLEAK, ISP_DNS4, ISP_DNS6, PUB_DNS4, VPN_DNS4, Lab, LabError

WHO = {ISP_DNS4: "the ISP's resolver", ISP_DNS6: "the ISP's resolver (IPv6)", VPN_DNS4: "the VPN's resolver",
       PUB_DNS4: "a public resolver"}


def describe(observations):
    by_resolver = {}
    for o in observations:
        key = (o["resolver"], o["family"], o["transport"])
        entry = by_resolver.setdefault(key, {"qtypes": set(), "mixed_case": False})
        entry["qtypes"].add(o["qtype"])
        entry["mixed_case"] |= o["qname"] != o["qname"].lower()
    lines = []
    for (address, family, transport), entry in sorted(by_resolver.items()):
        lines.append("    %-18s %-5s %-4s %-26s asked %s%s" % (
            address, family, transport, WHO.get(address, "?"), "+".join(sorted(entry["qtypes"])),
            ", 0x20 case randomisation" if entry["mixed_case"] else ""))
    return lines or ["    (nobody)"]


def demo_guard(lab):
    """The fix in the full-leak scenario: `dnsleak guard on`, the leak gone, `guard off`, back."""
    lab.reset_client()
    scenarios.by_key("full-leak").apply(lab)
    env = ["env", "NO_COLOR=1", "DNSLEAK_STATE_DIR=" + lab.dir]

    def dnsleak(*args):
        return lab.sh("client", *env, DNSLEAK, *args, check=False, timeout=60)

    print("\nThe fix, in the full-leak scenario: dnsleak guard on")
    on = dnsleak("guard", "on")
    print("\n".join("   " + line for line in on.stdout.splitlines()))
    name = lab.test_name()
    started = time.monotonic()
    code, _ = lab.lookup(name)
    seconds = time.monotonic() - started
    seen = lab.settle(name, expect_at_least=0)
    test = json.loads(dnsleak("test", "--server", "http://10.77.0.80", "-4", "--json", "--no-baseline").stdout)
    status = json.loads(dnsleak("guard", "status", "--json").stdout)
    blocked = sum(r["packets"] for r in status["rules"] if r["blocks"])
    print("   a lookup now: %s in %.0f ms; resolvers that asked dnsleakd: %s" % (
        "failed" if code else "answered", seconds * 1000, ", ".join(sorted({o["resolver"] for o in seen})) or "none"))
    print("   dnsleak test (server by address): %s (%s); the guard has blocked %d packets" % (
        test["verdict"]["outcome"], test["verdict"]["certainty"], blocked))
    dnsleak("guard", "off")
    name = lab.test_name()
    lab.lookup(name)
    back = {o["resolver"] for o in lab.settle(name)}
    print("   dnsleak guard off: the scenario is back, %s asks dnsleakd again" % ", ".join(sorted(back)))
    return (code != 0 and seconds < 1 and not seen and test["verdict"]["outcome"] == "no_leak" and blocked > 0
            and ISP_DNS4 in back)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="play only this one (repeatable): " +
                        ", ".join(s.key for s in scenarios.SCENARIOS))
    parser.add_argument("--keep-logs", action="store_true", help="keep the lab's logs and print where")
    parser.add_argument("--store", choices=("memory", "redis"), default="memory",
                        help="redis: three dnsleakd nodes (DNS over IPv4, DNS over IPv6, the API) sharing one Redis")
    args = parser.parse_args()
    chosen = [scenarios.by_key(k) for k in args.scenario] if args.scenario else scenarios.SCENARIOS

    lab = Lab(keep_logs=args.keep_logs, store=args.store)
    started = time.monotonic()
    try:
        lab.up()
    except LabError as e:
        print("demo: the lab cannot run here: %s" % e, file=sys.stderr)
        return 2
    matched = 0
    guard_ok = None
    try:
        print("Leak lab up in %.1f s: client (eth0 + tun0), ISP, VPN and public resolvers (Unbound), "
              "%s\n" % (time.monotonic() - started,
                         "dnsleakd authoritative for leak.test" if args.store == "memory" else
                         "three dnsleakd nodes sharing one Redis (DNS over IPv4, DNS over IPv6, the API)"))
        for number, s in enumerate(chosen, 1):
            lab.reset_client()
            s.apply(lab)
            results = lab.run_client()
            verdict = results["verdict"]["outcome"]
            # `dnsleak test` on the client: the server's evidence and the machine's own (routes, and
            # the test's names captured on eth0).
            local = json.loads(lab.sh("client", "env", "NO_COLOR=1", DNSLEAK, "test", "--server", "http://leak.test",
                                      "--json", "--no-baseline", check=False, timeout=60).stdout)
            truth = "leak" if s.leak else "no_leak"
            ok = local["verdict"]["outcome"] == truth and (verdict == truth or not s.server_can_tell)
            matched += ok
            print("%d. %s" % (number, s.title))
            print("   setup: %s" % s.explanation)
            print("   resolvers that asked dnsleakd:")
            for r in results["resolvers"]:
                n = r["network"]
                print("    %-18s %-4s AS%-6s %-26s %s" % (r["address"], "+".join(r["transports"]), n["asn"],
                                                         n["organisation"] or "?",
                                                         "public resolver: " + n["public_operator"] if n["public_operator"] else ""))
            print("   exits seen by the web server: " + ", ".join(
                "%s (AS%s %s)" % (e["address"], e["network"]["asn"], e["network"]["organisation"]) for e in results["egress"]))
            print("   verdict: %s" % {"leak": "DNS LEAK", "no_leak": "no leak", "inconclusive": "could not tell"}[verdict])
            for f in results["verdict"]["findings"]:
                print("     - [%s] %s" % (f["severity"], f["reason"]))
            if not s.server_can_tell:
                print("   (the server alone cannot tell this case: its verdict is %s, certainty %s)"
                      % (verdict, results["verdict"]["certainty"]))
            lv = local["verdict"]
            print("   dnsleak test on the client: %s (%s); captured on %s: %d test name(s) seen leaving" % (
                {"leak": "DNS LEAK", "no_leak": "no leak", "inconclusive": "could not tell"}[lv["outcome"]],
                lv["certainty"], ", ".join(local["local"]["capture_interfaces"]) or "nothing",
                len(local["local"]["leaks"])))
            for u in local["local"]["underlay"]:
                print("     - outside the tunnel, %s (%s) reaches the internet as %s (AS%s %s)" % (
                    u["interface"], u["family"], u["address"], u["asn"], u["organisation"]))
            for r in local["local"]["resolvers"]:
                print("     - resolver %s: %s%s" % (r["address"], r["path"], " (" + r["interface"] + ")" if r["interface"] else ""))
            print("   ground truth: %s -> %s\n" % ("LEAK" if s.leak else "no leak", "verdict right" if ok else "VERDICT WRONG"))
        if not args.scenario:
            lab.reset_client()
            scenarios.by_key("full-leak").apply(lab)
            name = lab.test_name("v6", "v6.leak.test")
            lab.lookup(name)
            print("Sub-zone v6.leak.test through the ISP's resolver (delegated with IPv6 glue only):")
            print("\n".join(describe(lab.settle(name, expect_at_least=2))))
            lab.reset_client()
            name = lab.test_name("t", "tcp.leak.test")
            lab.lookup(name)
            print("Sub-zone tcp.leak.test through the VPN's resolver (TC over UDP, so it retries over TCP):")
            print("\n".join(describe(lab.settle(name, expect_at_least=4))))
            guard_ok = demo_guard(lab)
        if args.keep_logs:
            print("\nlogs: %s" % lab.dir)
    finally:
        lab.down()
    print("\n%d of %d verdicts matched the ground truth%s; lab torn down." % (
        matched, len(chosen), "" if guard_ok is None else ", and the guard " + ("stopped the leak" if guard_ok else
                                                                                "did NOT stop the leak")))
    return 0 if matched == len(chosen) and guard_ok is not False else 1


if __name__ == "__main__":
    sys.exit(main())
