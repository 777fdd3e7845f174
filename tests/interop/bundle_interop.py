#!/usr/bin/python3
"""Sealed bundles opened both ways between transports/bundle.c and Python.

tests/interop/bundle_peer (the C side) and bundlewire.py (docs/formats.md
rebuilt in Python on Debian's python3-dissononce and python3-nacl) each
seal streams of hop frames of several sizes -- empty, a few bytes, frames
crossing chunk boundaries, exact multiples of the chunk size, one byte
either side of them, with the default chunk size and the smallest one --
and the other opens them and must find the same frames.  Then:

- a byte flipped anywhere in a C-written bundle (every header field, the
  key wrap, the stream header, a chunk, the trailer), a truncated file or
  one with a byte appended: both sides refuse it;
- Python seals a bundle whose key wrap comes from another X25519 key, or
  whose trailer is signed by the recipient or a third node, and the header
  still names the sender: the C side refuses it;
- a bundle for another node is refused by both.

Exit 0, 1, 77 (skip: no dissononce or PyNaCl) or 99 (harness error), as
automake expects.

    top_builddir=BUILD tests/interop/bundle_interop.py
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import bundlewire as bw
except ImportError as e:
    print("bundle_interop: %s: skipped" % e)
    sys.exit(77)


class Harness(Exception):
    pass


CHUNK, END, MSG, CUSTODY = 4, 5, 2, 6
FRAME_BODY_MAX = 65515


def frame(ftype, body):
    return bytes([ftype]) + len(body).to_bytes(3, "big") + body


def chunk_frame(msg_id, offset, data):
    return frame(CHUNK, msg_id + offset.to_bytes(8, "big") + data)


def chunks_to(total, rng, max_data=FRAME_BODY_MAX - 24):
    """CHUNK frames of random sizes adding up to exactly total bytes."""
    out, off, msg_id = [], 0, os.urandom(16)
    left = total
    while left > 0:
        if left <= 4 + 24 + max_data:
            n = left - 28
            if n < 1:  # too little left for a frame: shorten the last one
                raise Harness("cannot fill %d bytes" % total)
        else:
            n = rng.randint(1, max_data)
            if left - (28 + n) < 29:
                n = left - 28 - 29
        out.append(chunk_frame(msg_id, off, rng.randbytes(n)))
        off += n
        left -= 28 + n
    stream = b"".join(out)
    assert len(stream) == total
    return stream


def streams(rng):
    """(name, chunk size, frame bytes) to carry."""
    msg_id = os.urandom(16)
    payload = rng.randbytes(200000)
    msg_frames = [frame(MSG, b"\x01\x00\x10" + msg_id)]
    for off in range(0, len(payload), FRAME_BODY_MAX - 24):
        msg_frames.append(chunk_frame(msg_id, off,
                                      payload[off:off + FRAME_BODY_MAX - 24]))
    msg_frames.append(frame(END, msg_id + len(payload).to_bytes(8, "big") +
                            bw.hashlib.blake2b(payload,
                                               digest_size=32).digest()))
    c = bw.CHUNK_DEFAULT
    out = [
        ("empty", c, b""),
        ("one custody frame", c, frame(CUSTODY, b"\x00\x01" + msg_id)),
        ("one CHUNK of 1 byte", c, frame(CHUNK, bytes(25))),
        ("MSG, CHUNKs of 65,491 bytes, END", c, b"".join(msg_frames)),
        ("MSG..END in 4,096-byte chunks", 4096, b"".join(msg_frames)),
        ("random frames", c,
         b"".join(chunk_frame(msg_id, 0, rng.randbytes(rng.randint(1, 70000)
                                                       % 65491 + 1))
                  for _ in range(9))),
    ]
    for total in (c - 1, c, c + 1, 2 * c, 3 * c, 2 * c + 1):
        out.append(("%d bytes" % total, c, chunks_to(total, rng)))
    out.append(("2 MiB + 5 bytes in 1 MiB chunks", bw.CHUNK_MAX,
                chunks_to(2 * bw.CHUNK_MAX + 5, rng)))
    for total in (4096, 8192, 4097, 40960):
        out.append(("%d bytes in 4,096-byte chunks" % total, 4096,
                    chunks_to(total, rng)))
    return out


class Peer:
    def __init__(self, tmp):
        builddir = os.environ.get("top_builddir", ".")
        self.exe = os.path.join(builddir, "tests", "interop", "bundle_peer")
        if not os.access(self.exe, os.X_OK):
            raise Harness("%s is not built (make check, or set top_builddir)"
                          % self.exe)
        self.tmp = tmp
        self.n = 0

    def path(self):
        self.n += 1
        return os.path.join(self.tmp, "b%d.bundle" % self.n)

    def write(self, sender, rcpt, seq, frames, chunk=None):
        """The bytes of a bundle sealed by the C code."""
        path = self.path()
        args = [self.exe, "write", sender.hex(), rcpt.hex(), str(seq), path]
        if chunk is not None:
            args.append(str(chunk))
        p = subprocess.run(args, input=frames, capture_output=True,
                           timeout=60)
        if p.returncode != 0:
            raise Harness("bundle_peer write failed: %s"
                          % p.stderr.decode(errors="replace").strip())
        with open(path, "rb") as f:
            return f.read()

    def read(self, rcpt, sender, data):
        """(exit code, frames, stderr) of the C code reading data."""
        path = self.path()
        with open(path, "wb") as f:
            f.write(data)
        p = subprocess.run([self.exe, "read", rcpt.hex(), sender.hex(), path],
                           capture_output=True, timeout=60)
        if p.returncode not in (0, 1):
            raise Harness("bundle_peer read: exit %d: %s"
                          % (p.returncode, p.stderr.decode(errors="replace")))
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")


    def verdicts(self, rcpt, sender, datas):
        """The C code's verdict on each of datas, read in one process."""
        paths = []
        for data in datas:
            paths.append(self.path())
            with open(paths[-1], "wb") as f:
                f.write(data)
        p = subprocess.run([self.exe, "verdicts", rcpt.hex(), sender.hex()]
                           + paths, capture_output=True, timeout=120)
        lines = p.stdout.decode(errors="replace").splitlines()
        if p.returncode != 0 or len(lines) != len(datas):
            raise Harness("bundle_peer verdicts: exit %d, %d lines for %d "
                          "files: %s" % (p.returncode, len(lines), len(datas),
                                         p.stderr.decode(errors="replace")))
        return lines


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def c_refuses(peer, rcpt, sender, data, what):
    rc, out, err = peer.read(rcpt, sender, data)
    check(rc == 1, "C accepted %s" % what)
    check("refused" in err, "C refused %s without a reason: %r" % (what, err))
    return err.strip()


def py_refuses(rcpt, sender, data, what):
    try:
        bw.read_bundle(rcpt, sender, data)
    except bw.BundleError as e:
        return e
    raise AssertionError("Python accepted %s" % what)


def main():
    rng = random.Random(os.urandom(8))
    s_seed, r_seed, o_seed = os.urandom(32), os.urandom(32), os.urandom(32)
    sender, rcpt = bw.Identity(s_seed), bw.Identity(r_seed)
    tmp = tempfile.mkdtemp(prefix="bundle_interop.")
    try:
        peer = Peer(tmp)
        cases = streams(rng)
        seq = 0
        sample = None
        for name, chunk, frames in cases:
            seq += 1
            # (a) C seals, Python opens.
            data = peer.write(s_seed, r_seed, seq, frames,
                              None if chunk == bw.CHUNK_DEFAULT else chunk)
            check(len(data) == bw.size_for(len(frames), chunk),
                  "%s: C bundle of %d bytes, formats.md says %d"
                  % (name, len(data), bw.size_for(len(frames), chunk)))
            h = bw.decode_header(data[:bw.HDR_LEN])
            check(h["seq"] == seq and h["chunk"] == chunk and
                  h["sender"] == sender.node_id and
                  h["recipient"] == rcpt.node_id and
                  h["size"] == len(data),
                  "%s: C header fields %r" % (name, h))
            got = bw.read_bundle(r_seed, s_seed, data)
            check(got == frames, "%s: Python read other frames from C"
                  % name)
            bw.split_frames(got)
            # (b) Python seals, C opens.
            pdata = bw.write_bundle(s_seed, r_seed, seq, frames, chunk)
            rc, out, err = peer.read(r_seed, s_seed, pdata)
            check(rc == 0, "%s: C refused Python's bundle: %s" % (name, err))
            check(out == frames, "%s: C read other frames from Python"
                  % name)
            # Python reads its own too (the writer and reader agree).
            check(bw.read_bundle(r_seed, s_seed, pdata) == frames,
                  "%s: Python round trip" % name)
            if name == "MSG..END in 4,096-byte chunks":
                sample = data
        print("bundle_interop: %d streams sealed by C opened by Python and "
              "the reverse" % len(cases))

        # (c) damage to a C-written bundle: both refuse it.
        data = sample
        spots = {
            "magic": 0, "version": 8, "kind": 9, "flags": 11, "chunk": 14,
            "sender": 20, "recipient": 60, "bundle id": 85, "seq": 103,
            "created": 110, "size": 119, "reserved": 125,
            "wrap e": 128 + 3, "wrap ciphertext": 128 + 40,
            "wrap tag": 128 + 79, "stream header": 208 + 5,
            "first chunk": 232 + 100, "a middle chunk tag":
            232 + 3 * (4096 + 17) - 1, "last chunk": len(data) - 64 - 3,
            "trailer": len(data) - 10,
        }
        for where, off in sorted(spots.items(), key=lambda kv: kv[1]):
            bad = bytearray(data)
            bad[off] ^= 1 << rng.randrange(8)
            bad = bytes(bad)
            why = c_refuses(peer, r_seed, s_seed, bad, "a flip in the " + where)
            e = py_refuses(r_seed, s_seed, bad, "a flip in the " + where)
            print("  flip in %-18s C: %s | Python: %s" % (where, why, e))
        for what, bad in (("truncated by 1", data[:-1]),
                          ("truncated to a header", data[:128]),
                          ("cut after the chunks", data[:-64]),
                          ("a byte appended", data + b"\0")):
            why = c_refuses(peer, r_seed, s_seed, bad, what)
            e = py_refuses(r_seed, s_seed, bad, what)
            print("  %-27s C: %s | Python: %s" % (what, why, e))
        # Every byte of a small C bundle, one flip each, C refuses all.
        small = peer.write(s_seed, r_seed, 99, frame(CUSTODY, bytes(18)))
        flips = []
        for off in range(len(small)):
            bad = bytearray(small)
            bad[off] ^= 0x80
            flips.append(bytes(bad))
            py_refuses(r_seed, s_seed, bytes(bad), "a flip at %d" % off)
        for off, v in enumerate(peer.verdicts(r_seed, s_seed, flips)):
            check(v.startswith("refused"), "C accepted a flip at %d" % off)
        print("bundle_interop: %d single-bit flips of a %d-byte C bundle "
              "refused by both" % (len(small), len(small)))

        # (d) Python forgeries the header does not own up to.
        frames = cases[3][2]
        other = bw.Identity(o_seed)
        forged = {
            "wrap from another X25519 key":
                bw.write_bundle(s_seed, r_seed, 7, frames, wrap_from=other),
            "wrap from the recipient's X25519 key":
                bw.write_bundle(s_seed, r_seed, 7, frames, wrap_from=rcpt),
            "trailer signed by the recipient":
                bw.write_bundle(s_seed, r_seed, 7, frames, signer=rcpt),
            "trailer signed by a third node":
                bw.write_bundle(s_seed, r_seed, 7, frames, signer=other),
        }
        for what, bad in forged.items():
            why = c_refuses(peer, r_seed, s_seed, bad, what)
            e = py_refuses(r_seed, s_seed, bad, what)
            print("  %-37s C: %s | Python: %s" % (what, why, e))
        # Sealed for the sender by the other node: not for the recipient.
        for what, bad in (
                ("a C bundle for another node",
                 peer.write(s_seed, o_seed, 8, frames)),
                ("a Python bundle for another node",
                 bw.write_bundle(s_seed, o_seed, 8, frames))):
            why = c_refuses(peer, r_seed, s_seed, bad, what)
            e = py_refuses(r_seed, s_seed, bad, what)
            check(e.step == 2, "Python: %s refused at step %d" % (what, e.step))
            print("  %-37s C: %s | Python: %s" % (what, why, e))
        # Frame streams the C reader must refuse (docs/formats.md 1.3), and
        # the largest frame it must take.
        big = frame(CHUNK, bytes(FRAME_BODY_MAX))
        rc, out, err = peer.read(r_seed, s_seed, bw.write_bundle(
            s_seed, r_seed, 9, big + big, 4096))
        check(rc == 0 and out == big + big,
              "C refused frames of 65,515 bytes: %s" % err)
        for what, bad in (
                ("a frame body of 65,516 bytes",
                 bw.write_bundle(s_seed, r_seed, 9,
                                 frame(CHUNK, bytes(FRAME_BODY_MAX + 1)))),
                ("a frame cut by the end of the stream",
                 bw.write_bundle(s_seed, r_seed, 9,
                                 frame(CHUNK, bytes(5000))[:4500], 4096)),
                ("a frame header cut by the end",
                 bw.write_bundle(s_seed, r_seed, 9,
                                 frame(CUSTODY, bytes(2)) + b"\x06\x00")),
                ("a frame of type 0",
                 bw.write_bundle(s_seed, r_seed, 9, frame(0, bytes(3)))),
                ("a frame of type 12",
                 bw.write_bundle(s_seed, r_seed, 9, frame(12, b""))),
                ("chunk size 4,095 in the header",
                 bw.write_bundle(s_seed, r_seed, 9, b"", 4095)),
                ("chunk size 1 MiB + 1 in the header",
                 bw.write_bundle(s_seed, r_seed, 9, b"", bw.CHUNK_MAX + 1))):
            why = c_refuses(peer, r_seed, s_seed, bad, what)
            print("  %-37s C: %s" % (what, why))
        # Opened with the right recipient but claimed by another sender.
        why = c_refuses(peer, r_seed, o_seed, sample, "a wrong sender's card")
        print("  %-37s C: %s" % ("the wrong sender's keys", why))
        print("bundle_interop: damaged and forged bundles refused by C and "
              "Python")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("bundle_interop: FAIL: %s" % e)
        sys.exit(1)
    except bw.BundleError as e:
        print("bundle_interop: FAIL: Python refused a good bundle: %s" % e)
        sys.exit(1)
    except (Harness, OSError, subprocess.SubprocessError) as e:
        print("bundle_interop: harness error: %s" % e)
        sys.exit(99)
