"""The leak scenarios of the lab, each with its ground truth written down next to it.

A scenario sets up the client namespace (routes, resolv.conf, a local forwarder) from the lab's
baseline (VPN up, default route through tun0, IPv6 only through the ISP). Its ground truth is the
set of resolvers dnsleakd must see for a lookup through glibc: (address, family, transport) as they
reach the authority, and whether the client's lookup succeeds.
"""
from leaklab import ISP_DNS4, ISP_DNS6, ISP_LAN4, PUB_DNS4, VPN_DNS4, VPN_FARM4, WEB4

ISP = (ISP_DNS4, "ipv4", "udp")
VPN = (VPN_DNS4, "ipv4", "udp")
PUB = (PUB_DNS4, "ipv4", "udp")
FARM = (VPN_FARM4, "ipv4", "udp")


class Scenario:
    def __init__(self, key, title, leak, expected, explanation, apply, server_can_tell=True, leaves_on_eth0=None,
                 server_says=None):
        self.key = key
        # False where the authority alone cannot know the truth (a public resolver looks the same
        # reached through the tunnel or outside it): only the client machine's evidence can.
        self.server_can_tell = server_can_tell
        # What the server's verdict is where it cannot tell (the API's outcome, not the truth).
        self.server_says = server_says if server_says is not None else ("leak" if leak else "no_leak")
        self.title = title
        self.leak = leak  # the truth a verdict must reach: does DNS leave outside the tunnel?
        self.expected = set(expected)
        self.explanation = explanation
        self.apply = apply
        # The client's own query for a test name leaves on eth0 (a capture there sees it): every leak
        # but the ISP's resolver reached through the tunnel.
        self.leaves_on_eth0 = leak if leaves_on_eth0 is None else leaves_on_eth0


def no_leak(lab):
    lab.write_resolv_conf([VPN_DNS4])


def full_leak(lab):
    lab.ip("client", "route", "add", ISP_DNS4 + "/32", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
    lab.write_resolv_conf([ISP_DNS4])


def ipv6_leak(lab):
    # IPv4 goes into the tunnel, IPv6 does not: the ISP's IPv6 resolver (from router
    # advertisements, say) is reached over eth0.
    lab.write_resolv_conf([ISP_DNS6])


def fallback_leak(lab):
    # The VPN resolver first, the ISP's second; the VPN resolver cannot be reached (its route is
    # gone, as when the tunnel flaps), so glibc moves on to the next server at once.
    lab.ip("client", "route", "add", "unreachable", VPN_DNS4 + "/32", "proto", "static")
    lab.write_resolv_conf([VPN_DNS4, ISP_DNS6])


def parallel_queries(lab):
    # Like Windows' Smart Multi-Homed Name Resolution: a local forwarder asks every resolver of
    # every interface at once (dnsmasq --all-servers), the VPN's and the ISP's.
    lab.ip("client", "route", "add", ISP_DNS4 + "/32", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
    lab.start("dnsmasq", "client", "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
              "--listen-address=127.0.0.1", "--bind-interfaces", "--all-servers", "--cache-size=0",
              "--user=root", "--pid-file=", "--log-facility=-", "--server=" + VPN_DNS4, "--server=" + ISP_DNS4)
    lab.wait_for("dnsmasq", lambda: "started" in lab.log_tail("dnsmasq", 20))
    lab.write_resolv_conf(["127.0.0.1"])


def local_forwarder_leak(lab):
    # A local forwarder (dnsmasq, as many VPN clients and routers run one) whose only upstream is
    # the ISP's resolver, routed over eth0: resolv.conf says 127.0.0.1 and tells nothing.
    lab.ip("client", "route", "add", ISP_DNS4 + "/32", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
    lab.start("dnsmasq", "client", "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
              "--listen-address=127.0.0.1", "--bind-interfaces", "--cache-size=0", "--user=root", "--pid-file=",
              "--log-facility=-", "--server=" + ISP_DNS4)
    lab.wait_for("dnsmasq", lambda: "started" in lab.log_tail("dnsmasq", 20))
    lab.write_resolv_conf(["127.0.0.1"])


def split_tunnel(lab):
    # Only the company's web service goes through the tunnel; everything else, DNS included,
    # takes the ISP's uplink.
    lab.ip("client", "route", "del", "default", "dev", "tun0")
    lab.ip("client", "route", "add", "default", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
    lab.ip("client", "route", "add", WEB4 + "/32", "dev", "tun0", "proto", "static")
    lab.write_resolv_conf([ISP_DNS4])


def public_resolver_via_tunnel(lab):
    # A public resolver (a big operator's, in the field) reached through the tunnel. Its network
    # is not the VPN's, but nothing leaves outside the tunnel: not a leak, and a verdict must not
    # cry wolf.
    lab.write_resolv_conf([PUB_DNS4])


def public_resolver_over_eth0(lab):
    # A public resolver set by hand (or a split tunnel's), reached over the physical uplink: the
    # ISP sees every name. dnsleakd sees the same public resolver as in public-via-tunnel.
    lab.ip("client", "route", "add", PUB_DNS4 + "/32", "via", ISP_LAN4, "dev", "eth0", "proto", "static")
    lab.write_resolv_conf([PUB_DNS4])


def vpn_resolver_farm(lab):
    # The VPN provider's resolver in a hosting network of its own, not its exit's, through the
    # tunnel: the false alarm users complain about most. Only the client can clear it: the route
    # goes into tun0, nothing leaves on eth0, and the ISP's network (seen from eth0) is not it.
    lab.write_resolv_conf([VPN_FARM4])


def isp_resolver_via_tunnel(lab):
    # The ISP's resolver, but reached through the tunnel (no host route to it on eth0): a capture
    # on eth0 sees nothing, yet the ISP still sees every name. Only the resolver's network tells.
    lab.write_resolv_conf([ISP_DNS4])


SCENARIOS = [
    Scenario("no-leak", "No leak: the VPN's resolver, through the tunnel", False, [VPN],
             "resolv.conf names the VPN resolver; the default route is tun0.", no_leak),
    Scenario("full-leak", "Full leak: the ISP's resolver over eth0", True, [ISP],
             "resolv.conf names the ISP resolver, routed over the physical uplink.", full_leak),
    Scenario("ipv6-leak", "IPv6 leak: IPv4 tunnelled, the resolver reached over IPv6 on eth0", True, [ISP],
             "resolv.conf names the ISP's IPv6 resolver; the VPN carries IPv4 only.", ipv6_leak),
    Scenario("fallback-leak", "Fallback leak: VPN resolver unreachable, the ISP's answers", True, [ISP],
             "resolv.conf: VPN resolver, then the ISP's (IPv6); the first is unreachable.", fallback_leak),
    Scenario("parallel", "Parallel queries to every resolver (Smart Multi-Homed Name Resolution)", True,
             [VPN, ISP], "dnsmasq --all-servers asks the VPN and the ISP resolvers at once.", parallel_queries),
    Scenario("local-forwarder", "A local forwarder whose upstream leaves on eth0", True, [ISP],
             "resolv.conf names 127.0.0.1, a dnsmasq forwarding to the ISP's resolver over the uplink.",
             local_forwarder_leak),
    Scenario("split-tunnel", "Split tunnel: only some destinations tunnelled, DNS left out", True, [ISP],
             "Only the web service is routed into tun0; DNS goes to the ISP over eth0.", split_tunnel),
    Scenario("public-via-tunnel", "A public resolver reached through the tunnel: not a leak", False, [PUB],
             "resolv.conf names a public resolver; the query travels inside the tunnel.", public_resolver_via_tunnel),
    Scenario("isp-via-tunnel", "The ISP's resolver reached through the tunnel: still the ISP's network", True,
             [ISP], "resolv.conf names the ISP resolver without a host route: the query rides the tunnel, "
             "so a capture on eth0 misses it.", isp_resolver_via_tunnel, leaves_on_eth0=False),
    Scenario("public-over-eth0", "A public resolver reached over eth0: a leak only the client can see", True,
             [PUB], "resolv.conf names a public resolver with a host route over the uplink; dnsleakd sees the "
             "same resolver as through the tunnel.", public_resolver_over_eth0, server_can_tell=False,
             server_says="no_leak"),
    Scenario("vpn-resolver-farm", "The VPN provider's resolver in another hosting network: not a leak", False,
             [FARM], "resolv.conf names the provider's second resolver (AS64504), reached through the tunnel; "
             "its network is neither the exit's nor the ISP's.", vpn_resolver_farm, server_can_tell=False,
             server_says="leak"),
]


def by_key(key):
    for s in SCENARIOS:
        if s.key == key:
            return s
    raise KeyError(key)


def resolvers_seen(observations):
    """The (address, family, transport) of every observation, as a set."""
    return {(o["resolver"], o["family"], o["transport"]) for o in observations}
