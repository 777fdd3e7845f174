#!/usr/bin/env python3
# http_hostile.py - hostile HTTP clients for http_hostile.sh (Python 3,
# standard library only).  Every command talks to one ferryd's
# http_listen port on 127.0.0.1.
#
#   proxy LISTEN TARGET RECORD
#       a TCP proxy from 127.0.0.1:LISTEN to TARGET; the first whole PUT
#       request to a ".../v1/out/NAME" route that a client sends through
#       it (request line, headers, Content-Length bytes of body) is copied
#       to RECORD (written to RECORD.tmp, then renamed).  Prints each
#       connection, request line and status line with the time on
#       standard output.  Runs until killed.
#   attack PORT SECS SEED OUT FIELD_SECRET FIELD_CARD FIELD_FPR BASE_FPR
#          REPLAY_FILE
#       throws at PORT, all at once, for about SECS seconds: 500 idle
#       connections held open, slowloris connections (a header byte a
#       second), random bytes, oversized request lines and headers,
#       requests signed with a key that is not FIELD's but claim to be
#       FIELD, and REPLAY_FILE (a recorded PUT) sent again verbatim.
#       Every answer to these unauthenticated requests is appended to OUT
#       (for the test to grep).  Prints "ok - ..." for each check and
#       "FAIL: ..." for each failure; exits 1 if any failed, 99 on a
#       harness error.
#   put PORT SECRET CARD FROM_FPR TO_FPR NAME FILE
#       upload FILE as bundle NAME, signed properly with the node key in
#       SECRET (identity/secret of the node FROM_FPR, whose card is CARD):
#       prints the status line's code and the body.
#   ringwrap PORT SECRET CARD FROM_FPR TO_FPR
#       a GET signed with that key (X), 1100 more dated earlier than X,
#       then X again: the last must be a 401 (see cmd_ringwrap).
#
# The signature is the one transports/http_parse.c makes (docs/http.md):
# Ed25519 (RFC 8032, written out below) over BLAKE2b-512(u8 len(label)
# || label || text), with the sign seed derived from the node's secret as
# libsodium's crypto_kdf_derive_from_key(32, 1, "ferry-id", secret) does.

import base64
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

# ----------------------------------------------------------- Ed25519

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _inv(x):
    return pow(x, _P - 2, _P)


def _recover_x(y, sign):
    x2 = (y * y - 1) * _inv(_D * y * y + 1)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * _inv(5) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f, g * h, f * g, e * h)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _compress(p):
    zi = _inv(p[2])
    x = p[0] * zi % _P
    y = p[1] * zi % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _h(m):
    return int.from_bytes(hashlib.sha512(m).digest(), "little")


class Key:
    """An Ed25519 key from a 32-byte seed."""

    def __init__(self, seed):
        h = hashlib.sha512(seed).digest()
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        self.a = a
        self.prefix = h[32:]
        self.pk = _compress(_mul(a, _G))

    def sign(self, msg):
        r = _h(self.prefix + msg) % _L
        rb = _compress(_mul(r, _G))
        s = (r + _h(rb + self.pk + msg) * self.a) % _L
        return rb + int.to_bytes(s, 32, "little")


def node_key(secret_path):
    """The Ed25519 key of a node, from its identity/secret."""
    with open(secret_path, "rb") as f:
        secret = f.read()
    if len(secret) != 32:
        raise ValueError("%s: not 32 bytes" % secret_path)
    seed = hashlib.blake2b(
        b"",
        digest_size=32,
        key=secret,
        salt=struct.pack("<Q", 1) + bytes(8),
        person=b"ferry-id" + bytes(8),
    ).digest()
    return Key(seed)


def card_sign_pk(card):
    """The Ed25519 public key in a card (docs/identity.md)."""
    b = card.strip().lower()
    if not b.startswith("ferry1"):
        raise ValueError("not a card")
    b = b[6:].upper()
    raw = base64.b32decode(b + "=" * (-len(b) % 8))
    return raw[1:33]


LABEL = b"ferry-http-v1"


def auth(key, method, signed_path, from_fpr, to_fpr, params, t_ms=None):
    """The Authorization value of a request (http_auth_make)."""
    if t_ms is None:
        t_ms = int(time.time() * 1000)
    nonce = os.urandom(16)
    text = "%s\n%s\n%s\n%s\n%d\n%s\noffset=%s\nsize=%s\nwait=%s\nrange=%s\n" % (
        method,
        signed_path,
        from_fpr,
        to_fpr,
        t_ms,
        nonce.hex(),
        params.get("X-Ferry-Offset", ""),
        params.get("X-Ferry-Size", ""),
        params.get("X-Ferry-Wait", ""),
        params.get("Range", ""),
    )
    digest = hashlib.blake2b(
        bytes([len(LABEL)]) + LABEL + text.encode(), digest_size=64
    ).digest()
    sig = key.sign(digest)
    return "Ferry v1 %s %s %d %s %s" % (
        from_fpr,
        to_fpr,
        t_ms,
        nonce.hex(),
        sig.hex(),
    )


# ------------------------------------------------------------ requests


def exchange(port, data, timeout=5.0, shut=True):
    """Send data, read the answer until the server closes or timeout;
    (answer bytes, closed by the server?)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    closed = False
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close while we still send
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
            if not shut and b"\r\n\r\n" in got:
                break
    finally:
        s.close()
    return got, closed


def status_of(answer):
    """The status code of an HTTP answer, or 0."""
    if not answer.startswith(b"HTTP/1."):
        return 0
    try:
        return int(answer[9:12])
    except ValueError:
        return 0


def request(method, path, headers, body=b""):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
        method,
        path,
    )
    for k, v in headers.items():
        h += "%s: %s\r\n" % (k, v)
    if body or method == "PUT":
        h += "Content-Length: %d\r\n" % len(body)
    return h.encode() + b"\r\n" + body


# --------------------------------------------------------------- proxy


def cmd_proxy(listen, target, record):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(64)
    lock = threading.Lock()
    state = {"done": False}

    conns = [0]

    def log(cid, what):
        with lock:
            print("%.3f conn %d %s" % (time.time(), cid, what), flush=True)

    def pump(src, dst, sniff, cid, way):
        buf = b""
        while True:
            try:
                b = src.recv(65536)
            except OSError as e:
                log(cid, "%s: %s" % (way, e))
                b = b""
            if not b:
                log(cid, "%s: end" % way)
                break
            if b[:8].split(b" ")[0] in (b"GET", b"PUT", b"HEAD", b"DELETE",
                                        b"HTTP/1.1"):
                log(cid, "%s: %r" % (way, b.split(b"\r\n")[0][:70]))
            if sniff is not None and not state["done"]:
                buf += b
                buf = sniff(buf)
            try:
                dst.sendall(b)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def sniff(buf):
        # Requests one after the other on a keep-alive connection: drop
        # each whole one; keep the first PUT to v1/out/.
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return buf
            head = buf[: end + 4]
            clen = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    clen = int(line.split(b":", 1)[1])
            if len(buf) < end + 4 + clen:
                return buf
            req = buf[: end + 4 + clen]
            buf = buf[end + 4 + clen :]
            if req.startswith(b"PUT ") and b"/v1/out/" in head.split(b"\r\n")[0]:
                with lock:
                    if not state["done"]:
                        with open(record + ".tmp", "wb") as f:
                            f.write(req)
                        os.rename(record + ".tmp", record)
                        state["done"] = True
                return b""

    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", target))
        except OSError:
            c.close()
            continue
        conns[0] += 1
        log(conns[0], "open")
        threading.Thread(target=pump, args=(c, u, sniff, conns[0], ">"),
                         daemon=True).start()
        threading.Thread(target=pump, args=(u, c, None, conns[0], "<"),
                         daemon=True).start()


# -------------------------------------------------------------- attack


class Report:
    def __init__(self, out):
        self.lock = threading.Lock()
        self.failed = 0
        self.out = open(out, "ab")

    def ok(self, msg):
        with self.lock:
            print("ok - " + msg, flush=True)

    def fail(self, msg):
        with self.lock:
            self.failed += 1
            print("FAIL: " + msg, flush=True)

    def note(self, msg):
        with self.lock:
            print("# " + msg, flush=True)

    def answer(self, what, data):
        with self.lock:
            self.out.write(b"=== " + what.encode() + b"\n" + data + b"\n")
            self.out.flush()


def refused(answer, closed):
    """A 4xx, or a close without any answer."""
    st = status_of(answer)
    return 400 <= st < 500 or (answer == b"" and closed)


def idle_conns(port, n, stop, rep):
    socks = []
    for i in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError as e:
            rep.fail("idle connection %d of %d: %s" % (i + 1, n, e))
            break
    else:
        rep.ok("%d idle connections opened" % n)
    stop.wait()
    # Still open?  (ferryd closes a silent one after 30 s.)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1):
                alive += 1  # it said something: open all the same
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    rep.note("%d of %d idle connections were still open at the end" % (alive, len(socks)))


def slowloris(port, k, stop, rep):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET /ferry/v1/poll HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sent = 0
    closed = False
    line = b"X-Slow-%d: " % k + b"a" * 4096
    while not stop.is_set():
        try:
            s.sendall(line[sent % len(line) : sent % len(line) + 1])
            sent += 1
        except OSError:
            closed = True
            break
        stop.wait(1.0)
    if not closed:
        # End the request: it is unauthenticated, so a 401 (or a 4xx
        # for the header's size) is all it may get.
        try:
            s.sendall(b"\r\n\r\n")
            s.settimeout(5)
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except OSError:
            got = b""
        rep.answer("slowloris %d" % k, got)
        if got and not 400 <= status_of(got) < 500:
            rep.fail("slowloris %d: answered %r" % (k, got[:60]))
            s.close()
            return
    s.close()
    rep.ok("slowloris %d: %d bytes over %d s, then %s" % (
        k, sent, sent, "closed by ferryd" if closed else "refused"))


def random_bytes(port, seed, rep):
    r = random.Random(seed)
    bad = 0
    cases = 60
    for i in range(cases):
        kind = i % 3
        n = r.choice([1, 7, 100, 1000, 20000, 70000])
        junk = r.randbytes(n)
        if kind == 1:  # a request line, then junk in the headers
            junk = b"GET /ferry/v1/poll HTTP/1.1\r\n" + junk + b"\r\n\r\n"
        elif kind == 2:  # headers, then junk where a body might be
            junk = request("PUT", "/ferry/v1/out/hostile-r%d.bundle" % i,
                           {"X-Ferry-Offset": "0", "X-Ferry-Size": str(n)},
                           junk)
        try:
            got, closed = exchange(port, junk, timeout=3)
        except OSError as e:
            rep.fail("random bytes %d: cannot connect: %s" % (i, e))
            return
        rep.answer("random %d" % i, got)
        if not refused(got, closed):
            bad += 1
            rep.fail("random bytes %d (%d bytes, kind %d, then our side "
                     "shut): %s" % (i, n, kind, "answered %r" % got[:60]
                                    if got else "no answer, and still open "
                                    "3 s later"))
    if bad == 0:
        rep.ok("%d connections of random bytes: each refused (4xx) or closed" % cases)


def oversized(port, rep):
    big = "a" * 100000
    cases = [
        ("a 100 KB header line",
         request("GET", "/ferry/v1/poll", {"X-Big": big})),
        ("a 100 KB Authorization",
         request("GET", "/ferry/v1/poll", {"Authorization": "Ferry v1 " + big})),
        ("a 100 KB URL", request("GET", "/ferry/" + big + "/v1/poll", {})),
        ("3000 headers",
         request("GET", "/ferry/v1/poll",
                 {"X-H%d" % i: "v" * 20 for i in range(3000)})),
        ("a 400-byte Authorization",
         request("GET", "/ferry/v1/poll", {"Authorization": "Ferry v1 " + "b" * 391})),
        ("an X-Ferry-Offset of 100 KB",
         request("PUT", "/ferry/v1/out/hostile-o.bundle",
                 {"X-Ferry-Offset": "9" * 100000, "X-Ferry-Size": "1"}, b"x")),
    ]
    for what, data in cases:
        got, closed = exchange(port, data, timeout=3)
        rep.answer(what, got)
        if refused(got, closed):
            rep.ok("%s: %s" % (what, "HTTP %d" % status_of(got) if got else "closed"))
        else:
            rep.fail("%s: answered %r" % (what, got[:80]))


def big_body(port, rep):
    """An unauthenticated PUT that announces 4 GiB: refused at its
    headers, and ferryd stops reading: what it takes afterwards is
    bounded by the sockets' buffers (a few MiB), not by the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(request("PUT", "/ferry/v1/out/hostile-big.bundle",
                      {"X-Ferry-Offset": "0", "X-Ferry-Size": "4294967296"})
              .replace(b"Content-Length: 0", b"Content-Length: 4294967296"))
    chunk = b"\0" * 65536
    sent = 0
    at_answer = -1
    closed = False
    t0 = time.monotonic()
    got = b""
    s.setblocking(False)
    # Push body as fast as ferryd takes it for 4 s (at most 256 MiB).
    while time.monotonic() - t0 < 4 and sent < (256 << 20):
        try:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            got += b
            if at_answer < 0:
                at_answer = sent
        except BlockingIOError:
            pass
        except OSError:
            closed = True
            break
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            closed = True
            break
    s.close()
    rep.answer("4 GiB PUT", got)
    what = "an unauthenticated PUT of 4 GiB"
    # ferryd answers 401 at the headers and stops reading; the kernel
    # then resets the connection under the body still coming, and a reset
    # may discard the 401 before we read it: a close without an answer is
    # the same refusal.
    if not 400 <= status_of(got) < 500 and not (closed and got == b""):
        rep.fail("%s: answered %r after %d bytes" % (what, got[:60], sent))
    elif sent > (32 << 20):
        rep.fail("%s: HTTP %d, but ferryd went on taking the body (%d MiB "
                 "in 4 s)" % (what, status_of(got), sent >> 20))
    else:
        rep.ok("%s: %s; %d KiB of body taken in all, then %s" % (
            what, "HTTP %d" % status_of(got) if got else "reset",
            sent >> 10,
            "closed" if closed else "no more read"))


def forged(port, field_fpr, base_fpr, field_card, rep):
    """Requests that claim to come from field, signed with another key."""
    fake = Key(os.urandom(32))
    if fake.pk == card_sign_pk(field_card):
        rep.fail("harness: the forged key is field's")
        return
    cases = [
        ("PUT", "v1/out/hostile-f.bundle",
         {"X-Ferry-Offset": "0", "X-Ferry-Size": "5"}, b"hello"),
        ("HEAD", "v1/out/hostile-f.bundle", {}, b""),
        ("GET", "v1/poll", {"X-Ferry-Wait": "0"}, b""),
        ("GET", "v1/in/hostile-g.bundle", {}, b""),
        ("DELETE", "v1/in/hostile-g.bundle", {}, b""),
    ]
    bad = 0
    for method, sp, params, body in cases:
        hdrs = dict(params)
        hdrs["Authorization"] = auth(fake, method, sp, field_fpr, base_fpr, params)
        got, _ = exchange(port, request(method, "/ferry/" + sp, hdrs, body))
        rep.answer("forged %s %s" % (method, sp), got)
        if status_of(got) != 401:
            bad += 1
            rep.fail("forged %s %s: answered %r" % (method, sp, got[:60]))
    # Signed with the right form but meant for another node, and an
    # Authorization of a fingerprint nobody has.
    for what, frm, to in (("to another node", field_fpr, "aaaa-bbbb-cccc-dddd"),
                          ("from an unknown key", "aaaa-bbbb-cccc-dddd", base_fpr)):
        hdrs = {"Authorization": auth(fake, "GET", "v1/poll", frm, to, {})}
        got, _ = exchange(port, request("GET", "/ferry/v1/poll", hdrs))
        rep.answer("forged " + what, got)
        if status_of(got) != 401:
            bad += 1
            rep.fail("forged %s: answered %r" % (what, got[:60]))
    if bad == 0:
        rep.ok("%d requests signed with a key that is not field's: each 401"
               % (len(cases) + 2))


def replay(port, path, rep):
    with open(path, "rb") as f:
        req = f.read()
    got, _ = exchange(port, req)
    rep.answer("replayed PUT", got)
    if status_of(got) == 401:
        rep.ok("field's recorded PUT (%d bytes) sent again: 401" % len(req))
    else:
        rep.fail("field's recorded PUT sent again: answered %r" % got[:80])


def cmd_attack(port, secs, seed, out, field_secret, field_card, field_fpr,
               base_fpr, replay_file):
    rep = Report(out)
    # The helper's own signing must agree with ferry's: the key derived
    # from field's secret is the one in field's card.
    if node_key(field_secret).pk != card_sign_pk(field_card):
        print("ERROR: harness: our Ed25519 key derivation is not ferry's")
        sys.exit(99)
    stop = threading.Event()
    ths = [threading.Thread(target=idle_conns, args=(port, 500, stop, rep))]
    ths += [threading.Thread(target=slowloris, args=(port, k, stop, rep))
            for k in range(4)]
    ths += [threading.Thread(target=random_bytes, args=(port, seed, rep)),
            threading.Thread(target=oversized, args=(port, rep)),
            threading.Thread(target=big_body, args=(port, rep)),
            threading.Thread(target=forged,
                             args=(port, field_fpr, base_fpr, field_card, rep)),
            threading.Thread(target=replay, args=(port, replay_file, rep))]
    for t in ths:
        t.start()
    time.sleep(secs)
    stop.set()
    for t in ths:
        t.join(30)
        if t.is_alive():
            rep.fail("an attack thread is still running 30 s after the end")
    sys.exit(1 if rep.failed else 0)


def cmd_put(port, secret, card, from_fpr, to_fpr, name, path):
    key = node_key(secret)
    if key.pk != card_sign_pk(card):
        print("ERROR: harness: our Ed25519 key derivation is not ferry's")
        sys.exit(99)
    with open(path, "rb") as f:
        body = f.read()
    sp = "v1/out/" + name
    params = {"X-Ferry-Offset": "0", "X-Ferry-Size": str(len(body))}
    hdrs = dict(params)
    hdrs["Authorization"] = auth(key, "PUT", sp, from_fpr, to_fpr, params)
    got, _ = exchange(port, request("PUT", "/ferry/" + sp, hdrs, body))
    body_at = got.find(b"\r\n\r\n")
    print(status_of(got), got[body_at + 4 :].decode(errors="replace").strip())


def cmd_ringwrap(port, secret, card, from_fpr, to_fpr):
    """A request X replayed once 1100 newer ones (more than the 1024
    nonces ferryd remembers per peer) have pushed it out of the ring,
    while those still there are dated earlier than X: they may come
    in any order, so the ring's oldest time alone cannot tell X from a
    fresh request.  X must be refused (401), not served again."""
    key = node_key(secret)
    if key.pk != card_sign_pk(card):
        print("ERROR: harness: our Ed25519 key derivation is not ferry's")
        sys.exit(99)
    t0 = int(time.time() * 1000) - 5000
    sp = "v1/in/hostile-ring.bundle"

    def signed(t):
        hdrs = {"Authorization": auth(key, "GET", sp, from_fpr, to_fpr, {}, t)}
        return request("GET", "/ferry/" + sp, hdrs)

    x = signed(t0 + 1000)
    got, _ = exchange(port, x)
    if status_of(got) != 404:
        print("FAIL: request X, signed with the peer's key: %r" % got[:60])
        sys.exit(1)
    codes = {}
    for i in range(1100):
        st = status_of(exchange(port, signed(t0))[0])
        codes[st] = codes.get(st, 0) + 1
    got, _ = exchange(port, x)
    print("# 1100 requests after X: %s" % ", ".join(
        "%d x HTTP %d" % (n, st) for st, n in sorted(codes.items())))
    if status_of(got) != 401:
        print("FAIL: X replayed after 1100 newer requests: %r" % got[:60])
        sys.exit(1)
    print("ok - X replayed after 1100 newer requests, the nonce ring "
          "wrapped: 401")


def main(argv):
    if len(argv) < 2:
        print(__doc__ or "usage: see the head of this file", file=sys.stderr)
        return 99
    cmd, a = argv[1], argv[2:]
    if cmd == "proxy" and len(a) == 3:
        cmd_proxy(int(a[0]), int(a[1]), a[2])
    elif cmd == "attack" and len(a) == 9:
        cmd_attack(int(a[0]), float(a[1]), int(a[2]), *a[3:])
    elif cmd == "put" and len(a) == 7:
        cmd_put(int(a[0]), *a[1:])
    elif cmd == "ringwrap" and len(a) == 5:
        cmd_ringwrap(int(a[0]), *a[1:])
    else:
        print("http_hostile.py: bad arguments", file=sys.stderr)
        return 99
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
