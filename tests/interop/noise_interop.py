#!/usr/bin/python3
"""Live Noise IK interop between transports/noise.c and Debian's dissononce.

Runs tests/interop/noise_peer (the C side, over stdin/stdout with u16
big-endian length frames) against dissononce with fresh random keys, both
ways round: Python initiator with C responder, C initiator with Python
responder.  Checks the handshake hash, that each side learns the other's
static key, records of random sizes both ways, a Rekey() in the middle, and
that a wrong responder key makes the C responder refuse message 1.

dissononce 0.34.3's CipherState.rekey() is patched to the spec exactly as in
scripts/gen-noise-vectors (docs/noise.md).  Exit 0, 1, 77 (skip: no
dissononce) or 99 (harness error), as automake expects.

    top_builddir=BUILD tests/interop/noise_interop.py
"""

import os
import random
import struct
import subprocess
import sys

try:
    from dissononce.cipher.chachapoly import ChaChaPolyCipher
    from dissononce.dh.x25519.x25519 import X25519DH
    from dissononce.hash.sha256 import SHA256Hash
    from dissononce.processing.handshakepatterns.interactive.IK import \
        IKHandshakePattern
    from dissononce.processing.impl.cipherstate import CipherState
    from dissononce.processing.impl.handshakestate import HandshakeState
    from dissononce.processing.impl.symmetricstate import SymmetricState
except ImportError:
    print("noise_interop: python3-dissononce missing: skipped")
    sys.exit(77)


def _spec_rekey(self):
    """Noise rev 34, 4.2 and 5.1: k = REKEY(k)[:32], n unchanged."""
    self._key = self._cipher.rekey(self._key)[:32]


CipherState.rekey = _spec_rekey

PROLOGUE = b"ferry-tcp-v1 interop"
ROUNDS = 12
REKEY_AT = 5


class Peer:
    def __init__(self, args):
        builddir = os.environ.get("top_builddir", ".")
        exe = os.path.join(builddir, "tests", "interop", "noise_peer")
        self.p = subprocess.Popen([exe] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)

    def send(self, data):
        self.p.stdin.write(struct.pack(">H", len(data)) + data)
        self.p.stdin.flush()

    def recv(self):
        hdr = self.p.stdout.read(2)
        if len(hdr) != 2:
            raise EOFError("C peer closed")
        n = struct.unpack(">H", hdr)[0]
        data = self.p.stdout.read(n)
        if len(data) != n:
            raise EOFError("C peer closed mid-frame")
        return data

    def finish(self):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        return self.p.wait(timeout=10)


def hs_state():
    return HandshakeState(
        SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()),
        X25519DH())


def session(peer, send, recv):
    rng = random.Random(os.urandom(8))
    for k in range(ROUNDS):
        if k == REKEY_AT:
            pt = b"rekey"
        else:
            pt = os.urandom(rng.choice([0, 1, 15, 16, 17, 300, 65519]))
        peer.send(send.encrypt_with_ad(b"", pt))
        got = recv.decrypt_with_ad(b"", peer.recv())
        assert got == pt[::-1], "echo %d differs" % k
        if pt == b"rekey":
            send.rekey()
            recv.rekey()
    peer.send(b"")
    assert peer.finish() == 0, "C peer failed"


def python_initiator(dh, c_static):
    me = dh.generate_keypair()
    hs = hs_state()
    hs.initialize(IKHandshakePattern(), True, PROLOGUE, s=me,
                  rs=c_static.public)
    peer = Peer(["responder", c_static.private.data.hex(),
                 c_static.public.data.hex(), PROLOGUE.hex()])
    buf = bytearray()
    hs.write_message(b"", buf)
    assert len(buf) == 96
    peer.send(bytes(buf))
    msg2 = peer.recv()
    assert len(msg2) == 48
    c1, c2 = hs.read_message(msg2, bytearray())
    assert peer.recv() == hs.symmetricstate.get_handshake_hash(), "h"
    assert peer.recv() == me.public.data, "C responder learnt a wrong key"
    session(peer, c1, c2)


def c_initiator(dh, c_static):
    me = dh.generate_keypair()
    hs = hs_state()
    hs.initialize(IKHandshakePattern(), False, PROLOGUE, s=me)
    peer = Peer(["initiator", c_static.private.data.hex(),
                 c_static.public.data.hex(), me.public.data.hex(),
                 PROLOGUE.hex()])
    msg1 = peer.recv()
    assert len(msg1) == 96
    hs.read_message(msg1, bytearray())
    assert hs.rs.data == c_static.public.data, "Python learnt a wrong key"
    buf = bytearray()
    c1, c2 = hs.write_message(b"", buf)
    peer.send(bytes(buf))
    assert peer.recv() == hs.symmetricstate.get_handshake_hash(), "h"
    assert peer.recv() == me.public.data
    session(peer, c2, c1)


def wrong_key_refused(dh, c_static):
    me, other = dh.generate_keypair(), dh.generate_keypair()
    hs = hs_state()
    hs.initialize(IKHandshakePattern(), True, PROLOGUE, s=me,
                  rs=other.public)
    peer = Peer(["responder", c_static.private.data.hex(),
                 c_static.public.data.hex(), PROLOGUE.hex()])
    buf = bytearray()
    hs.write_message(b"", buf)
    peer.send(bytes(buf))
    assert peer.p.stdout.read() == b"", "C answered a wrong-key message 1"
    assert peer.finish() == 1, "C responder did not refuse"


def main():
    dh = X25519DH()
    for run in range(3):
        python_initiator(dh, dh.generate_keypair())
        c_initiator(dh, dh.generate_keypair())
    wrong_key_refused(dh, dh.generate_keypair())
    print("noise_interop: 6 handshakes with dissononce both ways, "
          "%d records each, rekey at %d; wrong key refused" %
          (ROUNDS, REKEY_AT))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (AssertionError, EOFError) as e:
        print("noise_interop: FAIL: %s" % e)
        sys.exit(1)
    except OSError as e:
        print("noise_interop: harness error: %s" % e)
        sys.exit(99)
