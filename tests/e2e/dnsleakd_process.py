"""Starts the real dnsleakd on loopback for end-to-end tests and talks to it.

Only loopback addresses are used. Every process started here is stopped by its PID.
"""
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time

DNSLEAKD = os.environ.get("DNSLEAKD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "dnsleakd"))
ZONE = "leak.test"


class DaemonProcess:
    """A dnsleakd process with its stderr in a file. start() waits until ready(stderr text) is true."""

    def start(self, args, stderr_path, ready, timeout=10):
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.read_stderr()
            if ready(text):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("dnsleakd exited: " + text)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsleakd did not start: " + self.read_stderr())

    def read_stderr(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode

    def signalled_line(self, marker):
        """Sends SIGUSR1 and returns the newest whole stderr line with `marker` it printed."""
        before = self.read_stderr().count(marker)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = self.read_stderr()
            lines = [l for l in text[:text.rfind("\n") + 1].splitlines() if marker in l]  # whole lines only
            if len(lines) > before:
                return lines[-1]
            time.sleep(0.02)
        raise RuntimeError("nothing with %r printed" % marker)


class Dnsleakd(DaemonProcess):
    def __init__(self, extra_args=(), http=False):
        self.dir = tempfile.TemporaryDirectory(prefix="dnsleakd-e2e-")
        self.secret_file = os.path.join(self.dir.name, "secret")
        with open(self.secret_file, "w") as f:
            f.write("e2e secret " + "%032x" % random.getrandbits(128) + "\n")
        self.log_path = os.path.join(self.dir.name, "observations.jsonl")
        self.stderr_path = os.path.join(self.dir.name, "stderr")
        args = [DNSLEAKD, "--zone", ZONE, "--dns-listen", "127.0.0.1:0", "--dns-listen", "[::1]:0",
                "--web-address", "192.0.2.80", "--web-address", "2001:db8::80",
                "--nameserver", "ns1.leak.test=127.0.0.1,::1",
                "--secret-file", self.secret_file, "--observations-log", self.log_path, "--node-id", "e2e",
                *extra_args]
        if http:
            lab_data = os.path.join(os.path.dirname(__file__), "..", "lab", "data")
            # --no-reverse-dns: PTR lookups would go to the host's resolver; tests stay on loopback.
            args += ["--http-listen", "127.0.0.1:0", "--no-reverse-dns", "--asn-db", os.path.join(lab_data, "asn.csv"),
                     "--country-db", os.path.join(lab_data, "country.csv"),
                     "--resolver-operators", os.path.join(lab_data, "resolver-operators.csv")]
        self.start(args, self.stderr_path, self._ports)

    def _ports(self, text):
        m = re.search(r"on udp\+tcp 127\.0\.0\.1:(\d+) \[::1\]:(\d+)", text)
        if not m:
            return False
        self.port4, self.port6 = int(m.group(1)), int(m.group(2))
        h = re.search(r"http 127\.0\.0\.1:(\d+)", text)
        self.http_port = int(h.group(1)) if h else None
        return True

    def cleanup(self):
        self.stop()
        self.dir.cleanup()

    def token_name(self, probe="a", under=ZONE):
        out = subprocess.run([DNSLEAKD, "token", "--secret-file", self.secret_file, "--zone", under,
                              "--probe", probe], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def counters(self):
        """Asks for the counters (SIGUSR1) and returns the newest set printed."""
        line = self.signalled_line("counters {")
        return json.loads(line[line.index("{"):])

    def observations(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def run_tool(args, timeout=10):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def make_query(name, qtype=1, qid=None, flags=0x0100, edns=None):
    """A query as bytes. edns: None or (payload, options bytes)."""
    qid = random.getrandbits(16) if qid is None else qid
    arcount = 1 if edns else 0
    wire = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount) + encode_name(name) + struct.pack("!HH", qtype, 1)
    if edns:
        payload, options = edns
        wire += b"\x00" + struct.pack("!HHIH", 41, payload, 0, len(options)) + options
    return wire


def udp_exchange(port, wire, family=socket.AF_INET, timeout=2.0):
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def tcp_connect(port, family=socket.AF_INET):
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((host, port))
    return s


def tcp_read_message(sock, timeout=3.0):
    """One length-prefixed message, or None if the connection closed or nothing came in time."""
    data = b""
    deadline = time.monotonic() + timeout
    need = 2
    while len(data) < need:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        chunk = sock.recv(need - len(data))
        if not chunk:
            return None
        data += chunk
        if len(data) == 2:
            need = 2 + struct.unpack("!H", data)[0]
    return data[2:]


def rcode(wire):
    return wire[3] & 0x0F


def header_flags(wire):
    return struct.unpack("!H", wire[2:4])[0]
