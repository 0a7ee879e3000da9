"""The leak lab: network namespaces on one host where every DNS leak scenario is played for real.

Topology (addresses exist only inside the lab's own namespaces; nothing touches the root
namespace, there is no link to it and no route out):

  [client]  eth0 10.77.1.2, fd77:0:0:1::2 ── veth ── [isp] lan0 10.77.1.1, fd77:0:0:1::1
            tun0 10.77.2.2 ═══ UDP tunnel over eth0 ═══ [vpn] tun0 10.77.2.1
  [isp]     resolver (Unbound) on lo 10.77.10.53 and fd77:0:0:10::53; masquerades the client
  [vpn]     resolver (Unbound, 0x20 on) on lo 10.77.20.53, IPv4 only; masquerades tunnel traffic;
            a second resolver of the provider's on 10.77.40.53, in a hosting network (AS64504)
  [pub]     a public-style resolver (Unbound) on lo 10.77.30.53 and fd77:0:0:30::53
  [auth]    dnsleakd, authoritative for leak.test, on 10.77.0.53 and fd77::53
  [wan]     a bridge standing in for the internet: isp .2, vpn .3, pub .30, auth .53 (10.77.0.0/24,
            fd77::/64)

The resolvers query dnsleakd from their service addresses, so dnsleakd's observation log names
them. Lab.up() builds it all or nothing: on any failure what was built is torn down and LabError
says why. Lab.down() stops every process the lab started (by PID) and deletes every namespace it
created, and the file it put under /etc/netns; it is safe to call twice. Two labs with different
prefixes run side by side (namespaces isolate their identical addresses).
"""
import atexit
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DNSLEAKD = os.environ.get("DNSLEAKD", os.path.join(ROOT, "build", "dnsleakd"))
DNSLEAK = os.environ.get("DNSLEAK", os.path.join(ROOT, "build", "dnsleak"))
ZONE = "leak.test"

ISP_DNS4, ISP_DNS6 = "10.77.10.53", "fd77:0:0:10::53"
VPN_DNS4 = "10.77.20.53"
# The VPN provider's second resolver, in a hosting network (AS64504) that is not its exit's: asked
# through the tunnel, it is no leak, though its network differs from the exit's.
VPN_FARM4 = "10.77.40.53"
PUB_DNS4, PUB_DNS6 = "10.77.30.53", "fd77:0:0:30::53"
AUTH4, AUTH6 = "10.77.0.53", "fd77::53"
WEB4, WEB6 = "10.77.0.80", "fd77::80"
LAB_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CLIENT4, CLIENT6 = "10.77.1.2", "fd77:0:0:1::2"
ISP_LAN4, ISP_LAN6 = "10.77.1.1", "fd77:0:0:1::1"
VPN_ENDPOINT, TUNNEL_PORT = "10.77.0.3", 51820

REQUIRED_TOOLS = ["ip", "nft", "unbound", "dnsmasq", "getent", "tcpdump", "redis-server"]


# Runs a command as `nobody`, with no capability left to inherit.
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def public_dnsleak(prefix):
    """A new world-readable directory holding a copy of dnsleak that `nobody` can run: the build
    tree may sit under a home only root can enter (/root/project on a fresh machine). Returns the
    directory (the caller removes it) and the copy's path."""
    directory = tempfile.mkdtemp(prefix=prefix)
    os.chmod(directory, 0o755)
    copy = os.path.join(directory, "dnsleak")
    shutil.copy2(DNSLEAK, copy)
    os.chmod(copy, 0o755)
    return directory, copy


class LabError(Exception):
    """The lab cannot be built here, or a step of building it failed."""


def run(*args, check=True, timeout=20, input_text=None):
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input_text)
    if check and result.returncode != 0:
        raise LabError("'%s' failed (%d): %s" % (" ".join(args), result.returncode,
                                                 (result.stderr or result.stdout).strip()))
    return result


def read_text(path):
    with open(path) as f:
        return f.read()


def preflight():
    """Refuses, with the reason, where the lab cannot run."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, TUN devices, nftables)")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t)]
    if missing:
        raise LabError("missing tools: %s (scripts/setup installs them)" % " ".join(missing))
    if not os.path.exists("/dev/net/tun"):
        raise LabError("no /dev/net/tun: this kernel offers no TUN devices")
    if not os.path.exists(DNSLEAKD):
        raise LabError("no dnsleakd at %s (run scripts/setup)" % DNSLEAKD)
    if not os.path.exists("/etc/resolv.conf"):
        raise LabError("/etc/resolv.conf must exist: ip netns exec bind-mounts the lab's over it")
    probe = "dlprobe%d" % os.getpid()
    result = run("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        raise LabError("cannot create a network namespace: " + result.stderr.strip())
    run("ip", "netns", "del", probe, check=False)


_labs_made = itertools.count()
_live_labs = []


def _down_live_labs():
    for lab in list(_live_labs):
        lab.down()


atexit.register(_down_live_labs)


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def remove_stale_labs():
    """Removes what labs of processes that died without tearing down left behind (a test run
    killed by a timeout): namespaces named dl<pid>n<k>-<role> whose pid is gone."""
    removed = []
    for name in run("ip", "netns", "list", check=False).stdout.split():
        m = re.fullmatch(r"dl(\d+)n\d+-(client|isp|vpn|pub|auth|wan)", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", name, check=False)
        shutil.rmtree("/etc/netns/" + name, ignore_errors=True)
        removed.append(name)
    return removed


class Lab:
    def __init__(self, prefix=None, keep_logs=False, store="memory"):
        # store="redis": the authority is three dnsleakd nodes sharing a Redis in the auth namespace,
        # as a deployment with several nodes runs it: one DNS-only node per address family (so the
        # v4 and v6 halves of one test land on different nodes) and one API-only node.
        if store not in ("memory", "redis"):
            raise LabError("store must be memory or redis, not %r" % store)
        self.store = store
        # The prefix names the owning process, so a lab left behind by a killed run is recognisable.
        self.prefix = prefix or "dl%dn%d" % (os.getpid(), next(_labs_made))
        self.ns = {role: "%s-%s" % (self.prefix, role) for role in ("client", "isp", "vpn", "pub", "auth", "wan")}
        self.created = []  # namespaces this lab made, in order
        self.processes = {}  # name -> Popen
        self.dir = tempfile.mkdtemp(prefix="leaklab-%s-" % self.prefix)
        self.keep_logs = keep_logs
        self.etc_netns = "/etc/netns/" + self.ns["client"]
        self.etc_netns_auth = "/etc/netns/" + self.ns["auth"]
        self.created_etc_netns = False
        self.observation_log = os.path.join(self.dir, "observations.jsonl")
        self.secret_file = os.path.join(self.dir, "secret")
        self.is_up = False
        self.captures = 0

    # --- plumbing ---------------------------------------------------------------------------------

    def sh(self, role, *args, check=True, timeout=20):
        return run("ip", "netns", "exec", self.ns[role], *args, check=check, timeout=timeout)

    def ip(self, role, *args, check=True):
        return run("ip", "-n", self.ns[role], *args, check=check)

    def start(self, name, role, *args):
        """Starts a daemon inside a namespace; output goes to DIR/NAME.log."""
        log = open(os.path.join(self.dir, name + ".log"), "w")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[role], *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.processes[name] = proc
        return proc

    def stop(self, name):
        """Stops a daemon started with start()."""
        proc = self.processes.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)

    def start_fake_resolved(self, state, under):
        """A private bus in a new directory under `under` and a stand-in for systemd-resolved on
        it (fake_resolved.py) in the client namespace; returns the state file (rewrite it to change
        what resolved says; the stand-in writes its links' changes back) and the bus address."""
        bus_dir = tempfile.mkdtemp(prefix="dnsleak-bus-", dir=under)
        address = "unix:path=" + os.path.join(bus_dir, "bus")
        state_file = os.path.join(bus_dir, "state.json")
        with open(state_file, "w") as f:
            json.dump(state, f)
        self.start("dbus-daemon", "client", "dbus-daemon", "--session", "--nofork", "--address=" + address)
        self.wait_for("the private bus", lambda: os.path.exists(os.path.join(bus_dir, "bus")))
        self.start("fake-resolved", "client", "/usr/bin/python3", os.path.join(HERE, "fake_resolved.py"), address,
                   state_file)
        self.wait_for("the fake resolved", lambda: "ready" in self.log_tail("fake-resolved"))
        return state_file, address

    def wait_for(self, what, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise LabError("%s exited while waiting for %s: %s" % (name, what, self.log_tail(name)))
            time.sleep(0.05)
        raise LabError("timed out waiting for " + what)

    def log_tail(self, name, lines=5):
        try:
            return " | ".join(read_text(os.path.join(self.dir, name + ".log")).strip().splitlines()[-lines:])
        except OSError:
            return ""

    # --- up and down ------------------------------------------------------------------------------

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        preflight()
        remove_stale_labs()
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            # A polite kill (a test runner's timeout) still tears down, through atexit.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        for name in self.ns.values():
            if os.path.exists("/run/netns/" + name):
                raise LabError("namespace %s exists already; another lab uses prefix %s" % (name, self.prefix))
        _live_labs.append(self)
        try:
            self._build()
            self.is_up = True
        except BaseException:
            self.down()
            raise

    def _build(self):
        for role, name in self.ns.items():
            run("ip", "netns", "add", name)
            self.created.append(name)
            self.ip(role, "link", "set", "lo", "up")  # lo is down in a new namespace
            # IPv4 settings are copied from the root namespace, IPv6 ones are kernel defaults: set
            # both explicitly, before any interface exists (default.* applies to new ones only).
            self.sh(role, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                    "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.default.accept_ra=0")
        for role in ("isp", "vpn"):
            self.sh(role, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")

        # The internet: a bridge with one port per host.
        self.ip("wan", "link", "add", "br0", "type", "bridge")
        self.ip("wan", "link", "set", "br0", "up")
        wan_addresses = {"isp": ("10.77.0.2", "fd77::2"), "vpn": ("10.77.0.3", "fd77::3"),
                         "pub": ("10.77.0.30", "fd77::30"), "auth": (AUTH4, AUTH6)}
        for role, (v4, v6) in wan_addresses.items():
            port = "p-" + role
            self.ip(role, "link", "add", "wan0", "type", "veth", "peer", "name", port, "netns", self.ns["wan"])
            self.ip("wan", "link", "set", port, "master", "br0", "up")
            self.ip(role, "addr", "add", v4 + "/24", "dev", "wan0")
            self.ip(role, "addr", "add", v6 + "/64", "dev", "wan0", "nodad")
            self.ip(role, "link", "set", "wan0", "up")
        self.ip("auth", "addr", "add", WEB4 + "/24", "dev", "wan0")
        self.ip("auth", "addr", "add", WEB6 + "/64", "dev", "wan0", "nodad")

        # The client's physical uplink to the ISP.
        self.ip("client", "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", self.ns["isp"])
        self.ip("client", "addr", "add", CLIENT4 + "/24", "dev", "eth0")
        self.ip("client", "addr", "add", CLIENT6 + "/64", "dev", "eth0", "nodad")
        self.ip("isp", "addr", "add", ISP_LAN4 + "/24", "dev", "lan0")
        self.ip("isp", "addr", "add", ISP_LAN6 + "/64", "dev", "lan0", "nodad")
        self.ip("client", "link", "set", "eth0", "up")
        self.ip("isp", "link", "set", "lan0", "up")

        # Resolver service addresses on lo: no DAD, independent of link state.
        self.ip("isp", "addr", "add", ISP_DNS4 + "/32", "dev", "lo")
        self.ip("isp", "addr", "add", ISP_DNS6 + "/128", "dev", "lo")
        self.ip("vpn", "addr", "add", VPN_DNS4 + "/32", "dev", "lo")
        self.ip("vpn", "addr", "add", VPN_FARM4 + "/32", "dev", "lo")
        self.ip("pub", "addr", "add", PUB_DNS4 + "/32", "dev", "lo")
        self.ip("pub", "addr", "add", PUB_DNS6 + "/128", "dev", "lo")

        # Routes of the internet to the resolvers' service addresses.
        for role in ("auth", "pub", "vpn"):
            self.ip(role, "route", "add", "10.77.10.0/24", "via", "10.77.0.2")
            self.ip(role, "-6", "route", "add", "fd77:0:0:10::/64", "via", "fd77::2")
        for role in ("auth", "pub", "isp"):
            self.ip(role, "route", "add", "10.77.20.0/24", "via", "10.77.0.3")
            self.ip(role, "route", "add", "10.77.40.0/24", "via", "10.77.0.3")
        for role in ("auth", "isp", "vpn"):
            self.ip(role, "route", "add", "10.77.30.0/24", "via", "10.77.0.30")
            self.ip(role, "-6", "route", "add", "fd77:0:0:30::/64", "via", "fd77::30")

        # The ISP and the VPN hide their customers behind their own public address, as on the
        # internet: the far end sees the ISP's or the tunnel's exit, never the client's inner one.
        self.nft("isp", """table inet leaklab_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr 10.77.1.0/24 masquerade
    oifname "wan0" ip6 saddr fd77:0:0:1::/64 masquerade
  }
}""")
        self.nft("vpn", """table inet leaklab_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr 10.77.2.0/24 masquerade
  }
}""")

        # The tunnel: real TUN devices, packets carried in UDP over eth0 -> isp -> wan -> vpn.
        for role, local, peer in (("client", "10.77.2.2", "10.77.2.1"), ("vpn", "10.77.2.1", "10.77.2.2")):
            self.ip(role, "tuntap", "add", "dev", "tun0", "mode", "tun")
            self.ip(role, "addr", "add", local, "peer", peer, "dev", "tun0")
            self.ip(role, "link", "set", "tun0", "mtu", "1400", "up")
        shuttle = os.path.join(HERE, "tunshuttle.py")
        self.start("vpn-server", "vpn", "python3", shuttle, "--dev", "tun0", "--listen", "%s:%d" % (VPN_ENDPOINT, TUNNEL_PORT))
        self.start("vpn-client", "client", "python3", shuttle, "--dev", "tun0", "--listen", "%s:%d" % (CLIENT4, TUNNEL_PORT),
                   "--peer", "%s:%d" % (VPN_ENDPOINT, TUNNEL_PORT))
        self.wait_for("the tunnel's carrier", lambda: all(
            "LOWER_UP" in self.ip(role, "link", "show", "tun0").stdout for role in ("client", "vpn")))

        # Resolver configuration per namespace, seen only by processes started with ip netns exec.
        if not os.path.isdir("/etc/netns"):
            os.mkdir("/etc/netns")
            self.created_etc_netns = True
        os.makedirs(self.etc_netns, exist_ok=True)
        # dnsleakd looks up resolvers' PTR names through the ISP resolver, which holds the lab's.
        os.makedirs(self.etc_netns_auth, exist_ok=True)
        with open(self.etc_netns_auth + "/resolv.conf", "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:1\n" % ISP_DNS4)
        # glibc must do DNS itself: nss-resolve or nscd would take the lookup over a unix socket to
        # a daemon in the root namespace, out of the lab.
        with open(self.etc_netns + "/nsswitch.conf", "w") as f:
            f.write("hosts: files dns\n")
        self.write_resolv_conf([VPN_DNS4])

        # dnsleakd, the authority for the test zone.
        with open(self.secret_file, "w") as f:
            f.write("lab secret %032x\n" % random.getrandbits(128))
        common = ["--zone", ZONE, "--web-address", WEB4, "--web-address", WEB6,
                  "--nameserver", "ns1.%s=%s,%s" % (ZONE, AUTH4, AUTH6), "--secret-file", self.secret_file,
                  "--answer-ttl", "1", "--negative-ttl", "1"]
        http = ["--http-listen", WEB4 + ":80", "--http-listen", "[%s]:80" % WEB6,
                "--asn-db", os.path.join(LAB_DATA, "asn.csv"), "--country-db", os.path.join(LAB_DATA, "country.csv"),
                "--resolver-operators", os.path.join(LAB_DATA, "resolver-operators.csv"),
                # The lab plays scenario after scenario from one client address within seconds, far
                # more tests than one user creates: test creation is not the limit under test here.
                "--http-tests-burst", "1000", "--http-tests-per-second", "100"]
        if self.store == "memory":
            self.start("dnsleakd", "auth", DNSLEAKD, *common, "--dns-listen", AUTH4 + ":53",
                       "--dns-listen", "[%s]:53" % AUTH6, *http, "--observations-log", self.observation_log,
                       "--node-id", "lab-auth")
            self.wait_for("dnsleakd", lambda: "serving" in self.log_tail("dnsleakd"))
        else:
            self.start("redis", "auth", "redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", self.dir, "--daemonize", "no")
            self.wait_for("redis", lambda: "Ready to accept connections" in self.log_tail("redis", 20))
            store = ["--store", "redis://127.0.0.1:6379"]
            # Both DNS nodes append to the one observation log (O_APPEND: whole lines).
            self.start("dnsleakd-4", "auth", DNSLEAKD, *common, *store, "--dns-listen", AUTH4 + ":53",
                       "--observations-log", self.observation_log, "--node-id", "lab-dns-4")
            self.start("dnsleakd-6", "auth", DNSLEAKD, *common, *store, "--dns-listen", "[%s]:53" % AUTH6,
                       "--observations-log", self.observation_log, "--node-id", "lab-dns-6")
            self.start("dnsleakd-api", "auth", DNSLEAKD, *common, *store, *http, "--node-id", "lab-api")
            for name in ("dnsleakd-4", "dnsleakd-6", "dnsleakd-api"):
                self.wait_for(name, lambda n=name: "serving" in self.log_tail(n))

        # The resolvers.
        self.start_unbound("isp", [ISP_DNS4, ISP_DNS6], [ISP_DNS4, ISP_DNS6], caps_for_id=False,
                           local_data=[(ISP_DNS4, "resolver.isp.example"), (VPN_DNS4, "resolver.vpn.example"),
                                       (PUB_DNS4, "resolver.public.example")])
        self.start_unbound("vpn", [VPN_DNS4], [VPN_DNS4], caps_for_id=True)
        self.start_unbound("vpn", [VPN_FARM4], [VPN_FARM4], caps_for_id=False, name="vpn-farm")
        self.start_unbound("pub", [PUB_DNS4, PUB_DNS6], [PUB_DNS4, PUB_DNS6], caps_for_id=False)

        for role, address in (("isp", ISP_DNS4), ("vpn", VPN_DNS4), ("vpn", VPN_FARM4), ("pub", PUB_DNS4)):
            self.wait_for("the %s resolver" % role, lambda r=role, a=address: "hostmaster" in self.sh(
                r, "dig", "+time=1", "+tries=1", "+short", "@" + a, ZONE, "SOA", check=False).stdout)

    def start_unbound(self, role, interfaces, outgoing, caps_for_id, local_data=(), name=None):
        name = name or role
        conf = os.path.join(self.dir, "unbound-%s.conf" % name)
        lines = [
            "server:",
            "  verbosity: 1",
            "  num-threads: 1",
            "  so-reuseport: no",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % self.dir,
            '  pidfile: ""',
            "  use-syslog: no",
            '  logfile: ""',
            "  log-queries: yes",
            "  port: 53",
            "  do-ip6: yes",
            "  do-tcp: yes",
            "  access-control: 10.77.0.0/16 allow",
            "  access-control: fd77::/16 allow",
            '  module-config: "iterator"',
            "  use-caps-for-id: %s" % ("yes" if caps_for_id else "no"),
            # QNAME minimisation stays at Unbound's default (on).
            '  local-zone: "." refuse',
            '  local-zone: "test." nodefault',
            '  local-zone: "%s." transparent' % ZONE,
            '  domain-insecure: "%s."' % ZONE,
            "  cache-max-ttl: 1",
            "  cache-max-negative-ttl: 1",
        ]
        lines += ["  interface: " + a for a in interfaces]
        lines += ['  local-data-ptr: "%s %s"' % pair for pair in local_data]
        lines += ["  outgoing-interface: " + a for a in outgoing]
        # The stub names dnsleakd's IPv4 address only, so the family a resolver uses for the main
        # zone is fixed; the v6./v4. sub-zones are reached through dnsleakd's own referrals.
        lines += ["stub-zone:", '  name: "%s."' % ZONE, "  stub-addr: " + AUTH4, "remote-control:", "  control-enable: no"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.start("unbound-" + name, role, "unbound", "-d", "-c", conf)

    def nft(self, role, ruleset):
        run("ip", "netns", "exec", self.ns[role], "nft", "-f", "-", input_text=ruleset)

    def write_resolv_conf(self, nameservers):
        # Written in place (same inode): ip netns exec bind-mounts this file, and a rename would
        # leave running processes on the old one.
        with open(self.etc_netns + "/resolv.conf", "w") as f:
            f.write("# leak lab\n")
            for n in nameservers:
                f.write("nameserver %s\n" % n)
            f.write("options timeout:2 attempts:1\n")

    def down(self):
        for name, proc in list(self.processes.items()):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # the daemon leads its own session
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for name, proc in list(self.processes.items()):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()
        for name in reversed(self.created):
            if os.path.exists("/run/netns/" + name):
                # Anything else still running in our namespace was started by us (getent, dig).
                pids = run("ip", "netns", "pids", name, check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                run("ip", "netns", "del", name, check=False)
        self.created.clear()
        for directory in (self.etc_netns, self.etc_netns_auth):
            for f in ("resolv.conf", "nsswitch.conf"):
                try:
                    os.remove(os.path.join(directory, f))
                except FileNotFoundError:
                    pass
            if os.path.isdir(directory):
                os.rmdir(directory)
        if self.created_etc_netns:
            try:
                os.rmdir("/etc/netns")
            except OSError:
                pass  # another lab still has its directory there
            self.created_etc_netns = False
        if not self.keep_logs and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.is_up = False
        if self in _live_labs:
            _live_labs.remove(self)

    # --- using the lab ----------------------------------------------------------------------------

    def run_client(self, *args, timeout=60):
        """The lab's HTTP leak-test client (lab_client.py) in the client namespace: JSON out."""
        result = self.sh("client", sys.executable, os.path.join(HERE, "lab_client.py"), *args, check=False,
                         timeout=timeout)
        if result.returncode != 0:
            raise LabError("lab_client failed: " + (result.stderr or result.stdout).strip())
        return json.loads(result.stdout)

    def test_name(self, probe="a", under=ZONE):
        out = run(DNSLEAKD, "token", "--secret-file", self.secret_file, "--zone", under, "--probe", probe)
        return out.stdout.strip()

    def lookup(self, name, timeout=15):
        """getent ahosts from the client: glibc's resolver, exactly what applications use."""
        result = self.sh("client", "getent", "ahosts", name, check=False, timeout=timeout)
        return result.returncode, result.stdout

    def observations(self, name):
        wanted = name.split(".")[0].split("-")[0].lower()
        found = []
        try:
            with open(self.observation_log) as f:
                for line in f:
                    record = json.loads(line)
                    if record["qname"].split(".")[0].split("-")[0].lower() == wanted:
                        found.append(record)
        except FileNotFoundError:
            pass
        return found

    def settle(self, name, expect_at_least=1, quiet=0.6, timeout=8.0):
        """Observations of a name once they stop arriving: wait for the first ones, then until none
        came for `quiet` seconds (parallel and retried queries arrive late)."""
        deadline = time.monotonic() + timeout
        seen = self.observations(name)
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.observations(name)
            if len(now) != len(seen):
                seen, last_change = now, time.monotonic()
            elif len(seen) >= expect_at_least and time.monotonic() - last_change >= quiet:
                break
        return seen

    def capture_start(self, role, interface, bpf):
        """tcpdump in a namespace, text lines to a file; returns a handle for capture_stop."""
        self.captures += 1
        path = os.path.join(self.dir, "capture-%s-%s-%d.txt" % (role, interface, self.captures))
        errors = path + ".err"
        out, err = open(path, "w"), open(errors, "w")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[role], "tcpdump", "-i", interface, "-n", "-l",
                                 "-Z", "root", bpf], stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        name = "tcpdump-" + os.path.basename(path)
        self.processes[name] = proc
        self.wait_for("tcpdump on %s/%s" % (role, interface), lambda: "listening on" in read_text(errors))
        return name, path

    def capture_stop(self, handle):
        """Stops a capture and returns the packet lines it saw."""
        name, path = handle
        proc = self.processes.pop(name)
        time.sleep(0.2)  # let packets in flight reach the tap
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
        with open(path) as f:
            return [line for line in f.read().splitlines() if line.strip()]

    def reset_client(self):
        """The baseline: VPN up (default route through tun0, IPv4 only), IPv6 through the ISP,
        the tunnel carrier outside the tunnel, resolv.conf at the VPN resolver, no extra daemons."""
        proc = self.processes.pop("dnsmasq", None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        self.ip("client", "route", "flush", "table", "main", "proto", "static", check=False)
        self.ip("client", "-6", "route", "flush", "table", "main", "proto", "static", check=False)
        self.ip("client", "route", "add", VPN_ENDPOINT + "/32", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
        self.ip("client", "route", "add", "default", "dev", "tun0", "proto", "static")
        # The uplink's own default route stays, at a higher metric, as NetworkManager leaves it with
        # a VPN up: unused while tun0's is there, but a socket bound to eth0 can still go out.
        self.ip("client", "route", "add", "default", "via", ISP_LAN4, "dev", "eth0", "metric", "600", "proto",
                "static")
        self.ip("client", "-6", "route", "add", "default", "via", ISP_LAN6, "dev", "eth0", "proto", "static")
        self.write_resolv_conf([VPN_DNS4])
