#!/usr/bin/env python3
"""Summarises bench/run's JSON lines: medians per server and transport, ratios against the peers
(taken within each round, then their median), and whether each target of the benchmark is met."""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    extra = defaultdict(dict)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if "transport" in r:
                runs[(r["label"], r["transport"])].append(r)
            else:
                for k, v in r.items():
                    if k == "label":
                        continue
                    if k == "peak_rss_kib":  # one per round: the peak of them all
                        v = max(v, extra[r["label"]].get(k, 0))
                    extra[r["label"]][k] = v

    def median(label, transport, key):
        values = [r[key] for r in runs.get((label, transport), [])]
        return statistics.median(values) if values else None

    print("\n| server | transport | qps (median) | p50 µs | p99 µs | p99.9 µs | lost (all runs) | peak RSS MiB | dnsperf UDP qps |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (label, transport) in sorted(runs, key=lambda k: (k[1], k[0])):
        rs = runs[(label, transport)]
        lost = sum(r["lost"] for r in rs)
        rss = extra[label].get("peak_rss_kib")
        dnsperf = extra[label].get("dnsperf_udp_qps") if transport == "udp" else None
        print("| %s | %s | %.0f | %d | %d | %d | %d | %s | %s |" % (
            label, transport, median(label, transport, "qps"), median(label, transport, "p50_us"),
            median(label, transport, "p99_us"), median(label, transport, "p999_us"), lost,
            "%.1f" % (rss / 1024) if rss else "-", "%.0f" % dnsperf if dnsperf else "-"))

    checks = []

    def paired(transport, against, subject="dnsleakd"):
        """`subject`'s qps over the best of `against` within each round, then the median of those."""
        by_round = defaultdict(dict)
        for (label, t), rs in runs.items():
            if t == transport:
                for r in rs:
                    by_round[r.get("round", 0)][label] = r["qps"]
        ratios = []
        for rnd in sorted(by_round):
            others = [by_round[rnd][a] for a in against if by_round[rnd].get(a)]
            if by_round[rnd].get(subject) and others:
                ratios.append(by_round[rnd][subject] / max(others))
        return (statistics.median(ratios), ratios) if ratios else (None, [])

    def shown(ratio, ratios):
        return "%.3fx (rounds: %s)" % (ratio, " ".join("%.2f" % r for r in ratios))

    print()
    ratio, ratios = paired("udp", ("nsd", "knot"))
    if ratio:
        checks.append(("UDP qps vs the faster of NSD and Knot", shown(ratio, ratios), ratio >= 1.15, ">= 1.15x"))
    # Context for the goal above: the echo answers without doing anything, so its own ratio is the
    # most any server could reach against the peers in this run.
    ratio, ratios = paired("udp", ("nsd", "knot"), subject="echo")
    if ratio:
        checks.append(("(context) echo ceiling vs the faster of NSD and Knot", shown(ratio, ratios), None, "-"))
    ratio, ratios = paired("udp", ("echo",))
    if ratio:
        checks.append(("UDP qps vs the bare echo ceiling", shown(ratio, ratios), ratio >= 0.95, ">= 0.95x"))
    # The price of rate limiting: dnsleakd with it on (limits too high to trigger) over itself
    # with it off, in the same round; the same as the ratio of their ratios to the echo ceiling.
    ratio, ratios = paired("udp", ("dnsleakd-norrl",))
    if ratio:
        checks.append(("UDP qps with rate limiting on vs off", shown(ratio, ratios), ratio >= 0.95, ">= 0.95x"))
    ratio, ratios = paired("tcp", ("nsd", "knot"))
    if ratio:
        checks.append(("TCP qps vs the faster of NSD and Knot", shown(ratio, ratios), ratio >= 1.2, ">= 1.2x"))
    lost = sum(r["lost"] for key, rs in runs.items() if key[0] == "dnsleakd" for r in rs)
    checks.append(("dnsleakd lost queries", str(lost), lost == 0, "0"))
    per_obs = extra["dnsleakd"].get("bytes_per_observation")
    if per_obs:
        checks.append(("store memory per observation (RSS growth / observations)", "%.1f B" % per_obs,
                       per_obs <= 80, "<= 80 B"))
    print("| target | measured | goal | met |")
    print("|---|---:|---:|---|")
    for name, value, ok, goal in checks:
        print("| %s | %s | %s | %s |" % (name, value, goal, "-" if ok is None else "yes" if ok else "NO"))


if __name__ == "__main__":
    main(sys.argv[1])
