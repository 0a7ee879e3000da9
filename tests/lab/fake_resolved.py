"""A stand-in for systemd-resolved on a private D-Bus bus, for the lab: it owns
org.freedesktop.resolve1 and answers the Manager's and the links' properties with the types
systemd 252 gives them, from a JSON state file (re-read on every call, so a test can change it).
With "wrong_types" in the state it answers DNS as a string, as no resolved does. With
"network_manager" in the state it also owns org.freedesktop.NetworkManager and answers its
DnsManager's Mode, RcManager and Configuration (aa{sv}) as NetworkManager 1.42 does.

    /usr/bin/python3 fake_resolved.py BUS_ADDRESS STATE_FILE
"""
import json
import os
import socket
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

PROPERTIES = "org.freedesktop.DBus.Properties"
MANAGER = "org.freedesktop.resolve1.Manager"
LINK = "org.freedesktop.resolve1.Link"
PATH = "/org/freedesktop/resolve1"


def octets(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return family, dbus.Array(bytearray(socket.inet_pton(family, address)), signature="y")


def server_list(entries, with_link):
    out = []
    for e in entries:
        family, data = octets(e["address"])
        fields = ([dbus.Int32(e["ifindex"])] if with_link else []) + [dbus.Int32(family), data]
        out.append(dbus.Struct(fields))
    return dbus.Array(out, signature="(iiay)" if with_link else "(iay)")


class State:
    def __init__(self, path):
        self.path = path

    def read(self):
        with open(self.path) as f:
            return json.load(f)

    def write(self, state):
        with open(self.path + ".new", "w") as f:
            json.dump(state, f)
        os.replace(self.path + ".new", self.path)


class Link(dbus.service.Object):
    def __init__(self, bus, path, state, ifindex):
        super().__init__(bus, path)
        self.state, self.ifindex = state, ifindex

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        link = next(l for l in self.state.read()["links"] if l["ifindex"] == self.ifindex)
        if name == "DNS":
            return server_list([{"address": a} for a in link.get("dns", [])], with_link=False)
        if name == "Domains":
            return dbus.Array([dbus.Struct([dbus.String(d["domain"]), dbus.Boolean(d.get("routing_only", False))])
                               for d in link.get("domains", [])], signature="(sb)")
        if name == "DefaultRoute":
            return dbus.Boolean(link.get("default_route", True))
        if name in ("LLMNR", "MulticastDNS", "DNSOverTLS"):
            return dbus.String(link.get({"LLMNR": "llmnr", "MulticastDNS": "mdns", "DNSOverTLS": "dns_over_tls"}[name], "no"))
        raise dbus.exceptions.DBusException("org.freedesktop.DBus.Error.UnknownProperty", name)


class Manager(dbus.service.Object):
    def __init__(self, bus, state):
        super().__init__(bus, PATH)
        self.bus, self.state, self.links = bus, state, {}

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        s = self.state.read()
        if name == "DNS":
            if s.get("wrong_types"):
                return dbus.String("1.1.1.1")
            return server_list(s.get("dns", []), with_link=True)
        if name == "FallbackDNS":
            return server_list(s.get("fallback_dns", []), with_link=True)
        if name == "CurrentDNSServer":
            current = s.get("current_dns")
            if current is None:
                return dbus.Struct([dbus.Int32(0), dbus.Int32(0), dbus.Array([], signature="y")])
            family, data = octets(current["address"])
            return dbus.Struct([dbus.Int32(current["ifindex"]), dbus.Int32(family), data])
        if name in ("ResolvConfMode", "DNSOverTLS", "LLMNR", "MulticastDNS"):
            key = {"ResolvConfMode": "resolv_conf_mode", "DNSOverTLS": "dns_over_tls", "LLMNR": "llmnr",
                   "MulticastDNS": "mdns"}[name]
            return dbus.String(s.get(key, "no"))
        raise dbus.exceptions.DBusException("org.freedesktop.DBus.Error.UnknownProperty", name)

    @dbus.service.method(MANAGER, in_signature="i", out_signature="o")
    def GetLink(self, ifindex):
        if not any(l["ifindex"] == ifindex for l in self.state.read()["links"]):
            raise dbus.exceptions.DBusException("org.freedesktop.resolve1.NoSuchLink", "Link %d not known" % ifindex)
        path = "%s/link/_3%d" % (PATH, ifindex)
        if ifindex not in self.links:
            self.links[ifindex] = Link(self.bus, path, self.state, ifindex)
        return dbus.ObjectPath(path)


    # The setters dnsleak guard uses: the change is written back to the state file (and listed under
    # "calls"), as resolved would apply it to the link. With "hang_once" in the state the first
    # SetLinkDomains is never answered: a guard killed in the middle of `on`.
    @dbus.service.method(MANAGER, in_signature="ia(sb)", out_signature="", async_callbacks=("reply", "error"))
    def SetLinkDomains(self, ifindex, domains, reply, error):
        s = self.state.read()
        if s.get("hang_once") and not getattr(self, "hung", False):
            self.hung = True
            return
        link = next(l for l in s["links"] if l["ifindex"] == ifindex)
        link["domains"] = [{"domain": str(d), "routing_only": bool(r)} for d, r in domains]
        s.setdefault("calls", []).append(["SetLinkDomains", int(ifindex), link["domains"]])
        self.state.write(s)
        reply()

    @dbus.service.method(MANAGER, in_signature="ib", out_signature="")
    def SetLinkDefaultRoute(self, ifindex, enable):
        s = self.state.read()
        link = next(l for l in s["links"] if l["ifindex"] == ifindex)
        link["default_route"] = bool(enable)
        s.setdefault("calls", []).append(["SetLinkDefaultRoute", int(ifindex), bool(enable)])
        self.state.write(s)


class DnsManager(dbus.service.Object):
    def __init__(self, bus, state):
        super().__init__(bus, "/org/freedesktop/NetworkManager/DnsManager")
        self.state = state

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        nm = self.state.read()["network_manager"]
        if name == "Mode":
            return dbus.String(nm["mode"])
        if name == "RcManager":
            return dbus.String(nm["rc_manager"])
        if name == "Configuration":
            entries = []
            for e in nm["configuration"]:
                entries.append(dbus.Dictionary({
                    "nameservers": dbus.Array(e["nameservers"], signature="s", variant_level=1),
                    "domains": dbus.Array(e.get("domains", []), signature="s", variant_level=1),
                    "interface": dbus.String(e["interface"], variant_level=1),
                    "priority": dbus.Int32(e["priority"], variant_level=1),
                    "vpn": dbus.Boolean(e["vpn"], variant_level=1),
                    "future-key": dbus.UInt64(7, variant_level=1),  # skipped by readers that do not know it
                }, signature="sv"))
            return dbus.Array(entries, signature="a{sv}")
        raise dbus.exceptions.DBusException("org.freedesktop.DBus.Error.UnknownProperty", name)


def main(address, state_file):
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    name = dbus.service.BusName("org.freedesktop.resolve1", bus)
    manager = Manager(bus, State(state_file))
    if "network_manager" in State(state_file).read():
        nm_name = dbus.service.BusName("org.freedesktop.NetworkManager", bus)
        nm = DnsManager(bus, State(state_file))
    print("fake resolved ready", flush=True)
    GLib.MainLoop().run()
    del name, manager  # held until the loop ends: the bus names go with them


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
