#!/usr/bin/python3
"""Live interop between a real ferryd and an independent Python peer.

Starts ferryd for a node "beta" that listens on a free loopback port and
knows one peer, "alpha", by a card this script computed itself from a
random seed (tests/interop/hopwire.py: docs/identity.md in Python; the
card must also be what `ferry keygen` prints for that seed).  Then the
Python side, using Debian's python3-dissononce for Noise and none of
ferry's C code, talks to ferryd over TCP as docs/hop.md and docs/noise.md
describe the wire:

1. message 1 sealed for another node's key: ferryd closes without
   message 2;
2. a caller whose key no [peer] section holds: closed without message 2;
3. the right keys but a HELLO naming another node: closed without a
   HELLO back;
4. the real session: preamble, IK handshake as initiator against beta's
   key from its card, our HELLO (node alpha), ferryd's HELLO (node beta,
   version 1), KEEPALIVEs both ways, a REKEY (the Python side's sending
   cipher rekeys, ferryd's receiving one must follow), then two messages
   for beta/in, each MSG + CHUNK(s) + END with the BLAKE2b-256 of its
   payload: a small one in one record (kept in memory by ferryd) and a
   300 KiB one over five records (streamed to a store writer); ferryd
   must send a CUSTODY frame naming each; then a third, of 2,000 bytes,
   in its MSG alone (tag 19, which ferryd's HELLO must offer: features
   0x2), CUSTODY for it too; then CLOSE, and ferryd hangs up;
5. `ferry recv in` on beta gives the payloads back, byte for byte, with
   alpha as their source;
6. ferryd stops cleanly on SIGTERM.

Exit 0 (pass), 1 (fail), 77 (skip: python3-dissononce missing) or 99
(harness error), as automake expects.

    top_builddir=BUILD tests/interop/link_interop.py
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import ferryagent as fa
    import hopwire as hw
    from ferryagent import Fail, Harness, check, now_ms
except ImportError as e:
    print("link_interop: %s (python3-dissononce missing?): skipped" % e)
    sys.exit(77)

QUEUE = "in"
OUR_KEEPALIVE_MS = 6000  # ferryd then declares us dead after 6 s of silence
STEP_SECS = 10           # the longest any single step may take


def note(text):
    print("# " + text)


def ok(text):
    print("ok - " + text)


# ------------------------------------------------------- one connection

class Conn(fa.Conn):
    """One TCP connection to ferryd, as caller; Noise on the Python side."""

    def wait_eof(self, secs):
        """Read until ferryd hangs up; every byte it sent meanwhile."""
        got, deadline = b"", time.monotonic() + secs
        self.s.settimeout(secs)
        while True:
            check(time.monotonic() < deadline,
                  "ferryd kept the connection open for %d s" % secs)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return got  # a close with unread data may reset
            if not data:
                return got
            got += data

    # --- Noise

    def handshake(self, me, responder_pk):
        """Preamble, message 1 and message 2; the split ciphers."""
        hs = hw.initiator(me, responder_pk)
        m1, _ = hw.write_msg(hs)
        check(len(m1) == hw.MSG1_LEN, "dissononce wrote %d bytes" % len(m1))
        self.send(hw.PREAMBLE + hw.u16(m1))
        deadline = time.monotonic() + STEP_SECS
        if not self.fill(2, deadline):
            raise Fail("no message 2 within %d s" % STEP_SECS)
        n = int.from_bytes(self.take(2), "big")
        check(n == hw.MSG2_LEN, "message 2 is announced as %d bytes, "
              "not %d" % (n, hw.MSG2_LEN))
        check(self.fill(n, deadline), "message 2 cut short")
        c1, c2 = hs.read_message(self.take(n), bytearray())
        self.tx, self.rx = c1, c2  # the initiator sends with c1
        return hs.symmetricstate.get_handshake_hash()

    def frames_until(self, done, what, secs=STEP_SECS):
        """Read records, sending an empty KEEPALIVE whenever we have been
        silent for a second, until done(frames so far) is true; the list
        of (type, body) frames read."""
        got, deadline = [], time.monotonic() + secs
        while not done(got):
            if time.monotonic() - self.last_tx > 1:
                self.send_record(hw.keepalive())
            rec = self.recv_record(min(deadline, time.monotonic() + 0.5))
            if rec is None:
                check(time.monotonic() < deadline,
                      "no %s from ferryd within %d s (got %s)" %
                      (what, secs, names(got)))
                continue
            try:
                got += hw.frames(rec)
            except ValueError as e:
                raise Fail("ferryd sent a malformed record: %s" % e)
        return got


def names(frames):
    return [hw.TYPE_NAMES.get(t, "type %d" % t) for t, _ in frames]


# ------------------------------------------------------------ the cases

def refused_before_msg2(agent, me, responder_pk, what):
    """Message 1 that ferryd must not answer: it closes, sending nothing."""
    c = Conn(agent.port)
    try:
        hs = hw.initiator(me, responder_pk)
        m1, _ = hw.write_msg(hs)
        t0 = time.monotonic()
        c.send(hw.PREAMBLE + hw.u16(m1))
        got = c.wait_eof(STEP_SECS + 5)
        check(got == b"", "%s: ferryd answered %d bytes (%s...)" %
              (what, len(got), got[:8].hex()))
        # The handshake deadline is 10 s: a refusal comes well before.
        secs = time.monotonic() - t0
        check(secs < 5, "%s: closed only after %.1f s" % (what, secs))
    finally:
        c.close()
    ok("%s: closed without message 2" % what)


def refused_hello(agent, alpha, beta_pk):
    """The right keys, but our HELLO names another node."""
    c = Conn(agent.port)
    try:
        c.handshake(alpha.kx, beta_pk)
        c.send_record(hw.hello("gamma", keepalive_ms=OUR_KEEPALIVE_MS,
                               clock_ms=now_ms()))
        got = c.wait_eof(STEP_SECS)
        check(got == b"", "HELLO from \"gamma\" with alpha's key: ferryd "
              "answered %d bytes" % len(got))
    finally:
        c.close()
    ok("HELLO naming gamma with alpha's key: closed without a HELLO back")


def session(agent, alpha, beta_pk, payloads, body_payload):
    """The real session; the ids ferryd took custody of."""
    c = Conn(agent.port)
    try:
        c.handshake(alpha.kx, beta_pk)
        ok("IK handshake with ferryd (dissononce initiator, beta's key "
           "from its card)")

        # The caller speaks first: a record holding our HELLO alone.
        c.send_record(hw.hello("alpha", keepalive_ms=OUR_KEEPALIVE_MS,
                               clock_ms=now_ms()))
        first = c.recv_record(time.monotonic() + STEP_SECS)
        check(first is not None, "no HELLO from ferryd within %d s" %
              STEP_SECS)
        fr = hw.frames(first)
        check(len(fr) >= 1 and fr[0][0] == hw.HELLO,
              "ferryd's first record is %s, not a HELLO" % names(fr))
        h = hw.parse_hello(fr[0][1])
        check(h["version"] == 1, "HELLO version %d" % h["version"])
        check(h["node"] == "beta", "HELLO node %r" % h["node"])
        check(1024 <= h["max_record"], "HELLO max_record %d" %
              h["max_record"])
        check(h["keepalive_ms"] <= 3600000, "HELLO keepalive_ms %d" %
              h["keepalive_ms"])
        check(abs(h["clock_ms"] - now_ms()) < 60000,
              "HELLO clock_ms is %d ms off" % (h["clock_ms"] - now_ms()))
        check(h["features"] & 0x2, "HELLO features %#x: no MSG body (0x2)"
              % h["features"])
        ok("ferryd's HELLO: %s" % h)
        plain_max = min(h["max_record"], hw.RECORD_MAX) - hw.TAG_LEN

        # KEEPALIVE both ways: ours with a clock, then one of ferryd's
        # (with the negotiated 6 s it sends one after 2 s of silence).
        c.send_record(hw.keepalive(now_ms()))
        t0 = time.monotonic()
        got = c.frames_until(lambda f: hw.KEEPALIVE in [t for t, _ in f],
                             "KEEPALIVE")
        ka = [b for t, b in got if t == hw.KEEPALIVE][0]
        check(len(ka) in (0, 8), "KEEPALIVE of %d bytes" % len(ka))
        if len(ka) == 8:
            skew = int.from_bytes(ka, "big", signed=True) - now_ms()
            check(abs(skew) < 60000, "KEEPALIVE clock %d ms off" % skew)
        ok("KEEPALIVE both ways (ferryd's after %.1f s, %d-byte body)" %
           (time.monotonic() - t0, len(ka)))

        # REKEY: the rest of what we send is under the new key.
        c.send_record(hw.rekey())
        c.tx.rekey()

        # The messages; CUSTODY must name each once it is durable.
        ids = []
        for payload in payloads:
            msg_id = os.urandom(16)
            ids.append(msg_id)
            recs = hw.message_records(msg_id, "alpha", "beta", QUEUE,
                                      payload, plain_max,
                                      created_ms=now_ms())
            for rec in recs:
                c.send_record(rec)
            note("sent %d bytes for beta/%s (id %s) in %d record(s)" %
                 (len(payload), QUEUE, msg_id.hex(), len(recs)))

        def custody_ids(frames):
            """Ids in CUSTODY frames; nothing but CUSTODY, KEEPALIVE and
            RESUME may come from a receiver that accepts everything."""
            held = set()
            for t, body in frames:
                check(t in (hw.CUSTODY, hw.KEEPALIVE, hw.RESUME),
                      "ferryd sent %s while receiving" % names([(t, 0)]))
                if t == hw.CUSTODY:
                    held.update(hw.parse_custody(body))
            return held

        # A small one with its payload in the MSG (tag 19), as ferryd's
        # HELLO says it takes: no CHUNK nor END after it.
        msg_id = os.urandom(16)
        ids.append(msg_id)
        c.send_record(hw.msg(msg_id, "alpha", "beta", QUEUE, len(body_payload),
                             created_ms=now_ms(), body=body_payload))
        note("sent %d bytes for beta/%s (id %s) in its MSG" %
             (len(body_payload), QUEUE, msg_id.hex()))

        got = c.frames_until(lambda f: set(ids) <= custody_ids(f),
                             "CUSTODY for every message")
        check(custody_ids(got) == set(ids), "CUSTODY for unknown ids")
        ok("CUSTODY for all three messages (after a REKEY of our sending key)")

        # The last frame: CLOSE; ferryd hangs up.
        c.send_record(hw.close(0, "interop done"))
        c.wait_eof(STEP_SECS)
        ok("CLOSE: ferryd hung up")
        return ids
    finally:
        c.close()


def delivered(agent, ids, payloads):
    """`ferry recv in` on beta gives each payload, from alpha."""
    out = agent.run(["recv", QUEUE, "--count", "0", "--json"])
    got = {}
    for line in out.splitlines():
        m = json.loads(line)
        got[m["id"]] = m
    check(sorted(got) == sorted(i.hex() for i in ids),
          "ferry recv %s gave ids %s" % (QUEUE, sorted(got)))
    for msg_id, payload in zip(ids, payloads):
        m = got[msg_id.hex()]
        check(base64.b64decode(m["payload_b64"]) == payload,
              "the payload of %s differs" % msg_id.hex())
        check(m.get("src") == "alpha", "message %s comes from %r" %
              (msg_id.hex(), m.get("src")))
    ok("ferry recv %s: every payload arrived intact (%s bytes)" %
       (QUEUE, " and ".join(str(len(p)) for p in payloads)))


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-li.")
    agent = None
    try:
        agent = fa.Agent(tmp)
        # alpha: known to beta, its card computed here from a seed ...
        alpha = hw.Identity(os.urandom(32))
        # ... and the same card from ferry's C code for that seed.
        idir = os.path.join(tmp, "alpha", "identity")
        os.makedirs(idir, mode=0o700)
        fd = os.open(os.path.join(idir, "secret"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, alpha.seed)
        os.close(fd)
        out = json.loads(agent.run(["keygen", "--dir",
                                    os.path.join(tmp, "alpha"), "--json"]))
        check(out["card"] == alpha.card(),
              "ferry keygen prints %s for a seed whose card is %s" %
              (out["card"], alpha.card()))
        ok("the card of a random seed: the same in Python and C")

        agent.init(["[peer alpha]", "key = %s" % alpha.card()])
        _, beta_pk = hw.parse_card(agent.keygen()["card"])
        agent.start()
        note("ferryd for beta listens on 127.0.0.1:%d" % agent.port)

        stranger = hw.Identity(os.urandom(32))
        refused_before_msg2(agent, alpha.kx, stranger.kx_pk,
                            "message 1 sealed for another node")
        refused_before_msg2(agent, stranger.kx, beta_pk,
                            "a caller no [peer] section knows")
        refused_hello(agent, alpha, beta_pk)

        payloads = [os.urandom(1000), os.urandom(300 * 1024)]
        body_payload = os.urandom(2000)
        ids = session(agent, alpha, beta_pk, payloads, body_payload)
        delivered(agent, ids, payloads + [body_payload])
        rc = agent.stop()
        check(rc is not None, "ferryd still runs 10 s after SIGTERM")
        check(rc == 0, "ferryd exited with %d after SIGTERM" % rc)
        ok("ferryd stopped on SIGTERM")
        print("link_interop: PASS")
        return 0
    except (Fail, AssertionError, EOFError, ValueError, ConnectionError) as e:
        if isinstance(e, ConnectionError):
            e = "ferryd dropped the connection (%s)" % e
        print("link_interop: FAIL: %s" % e)
        print("--- last lines of beta's log\n" + agent.tail(25))
        return 1
    except (Harness, OSError, subprocess.SubprocessError) as e:
        print("link_interop: harness error: %s" % e)
        if agent is not None:
            print("--- last lines of beta's log\n" + agent.tail(25))
        return 99
    finally:
        if agent is not None:
            agent.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
