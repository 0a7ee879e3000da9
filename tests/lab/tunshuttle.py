#!/usr/bin/env python3
"""The lab's stand-in VPN: carries IP packets between a TUN device and a UDP socket, unencrypted,
like a WireGuard or OpenVPN tunnel would (without the crypto). Lab use only.

  tunshuttle.py --dev tun0 --listen ADDR:PORT [--peer ADDR:PORT]

Without --peer it answers whoever sent the last datagram (the server side).
"""
import argparse
import fcntl
import os
import select
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", required=True)
    parser.add_argument("--listen", required=True, type=address)
    parser.add_argument("--peer", type=address)
    args = parser.parse_args()
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", args.dev.encode(), IFF_TUN | IFF_NO_PI))
    carrier = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    carrier.bind(args.listen)
    peer = args.peer
    print("tunshuttle: %s <-> udp %s:%d" % (args.dev, *args.listen), flush=True)
    while True:
        readable, _, _ = select.select([tun, carrier], [], [])
        if tun in readable:
            packet = os.read(tun, 65535)
            if peer is not None:
                try:
                    carrier.sendto(packet, peer)
                except OSError:
                    pass  # no route yet, or the peer went away: drop, like a real tunnel
        if carrier in readable:
            packet, source = carrier.recvfrom(65535)
            if args.peer is None:
                peer = source
            elif source != args.peer:
                continue
            try:
                os.write(tun, packet)
            except OSError:
                pass


if __name__ == "__main__":
    main()
