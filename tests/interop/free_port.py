#!/usr/bin/env python3
"""free_port.py - a loopback TCP port that was free a moment ago, for an
agent to listen on in a test: it_free_port (tests/integration/lib.sh) runs
this file, ferryagent.py imports it.

Picked at random below the kernel's ephemeral range (ip_local_port_range,
32768-60999 by default): a port that binding port 0 gives is as soon some
other test's outgoing connection's, and the agent then cannot listen on
it ("Address already in use": link_hs_flood in CI, under make -j2).
Run with a file's path, it never gives a port the file lists, and adds
the one it gives: one test's ports stay distinct (six for a NATS
cluster: one drawn twice made a server's client port another's route
port)."""

import random
import socket
import sys


def free_port(taken=()):
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo_eph = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        lo_eph = 32768
    hi = max(11000, lo_eph) - 1
    for _ in range(200):
        p = random.randint(10000, hi)
        if p in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        return p
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def main():
    if len(sys.argv) < 2:
        print(free_port())
        return
    try:
        with open(sys.argv[1]) as f:
            taken = {int(x) for x in f.read().split()}
    except OSError:
        taken = set()
    p = free_port(taken)
    try:
        with open(sys.argv[1], "a") as f:
            f.write("%d\n" % p)
    except OSError:
        pass  # distinct then only by chance, as without the file
    print(p)


if __name__ == "__main__":
    main()
