#!/usr/bin/python3
"""relay_forgery.py - what a relay may hand ferryd on another node's behalf.

A real ferryd for node "beta" has one peer, "alpha", played by this
script over a Noise TCP session with an independent implementation of
the wire (hopwire.py on Debian's python3-dissononce, none of ferry's C
code), and two nodes it never meets, "omega" and "zeta", whose
identities the script makes from random seeds and puts in beta's
[directory] (their cards: hopwire.py, checked against `ferry keygen`
for the same seeds).  alpha relays messages from them (path "SRC,alpha",
docs/routing.md) and signs their origins with their keys in Python
(PyNaCl, through bundlewire.py's labelled signatures: Ed25519 over
BLAKE2b-512(u8 len(label) || label || msg), label "ferry-origin-v1",
msg the origin bytes, the layout of transports/hop.c
hop_origin_bytes rebuilt here from its description: id || src || dst ||
queue || reply_to || correlation (each u8 length + bytes) || priority
(u8) || flags (u32be) || created_ms (i64be) || payload_len (u64be) ||
BLAKE2b-256(payload)).

The cases, each on a session of its own (agent/intake.c origin_judge,
store/receipt.c):
1. control: a message of omega's, signed by omega, relayed by alpha:
   custody; `ferry recv in --json` shows origin "verified", via
   "omega,alpha", src omega and the payload;
2. forged payload: omega's signature over a payload alpha then altered
   (same length): custody (so a forger cannot make beta ask again), in
   beta's dead queue with dead_reason "forged origin", the log says
   "origin signature does not verify", nothing in beta/in;
3. forged source: omega's valid signed message with src rewritten to
   "zeta" (also in the directory, another key) and path "zeta,alpha":
   dead, "forged origin";
4. unsigned from afar: src omega, path "omega,alpha", no signature:
   stored in beta/in, origin "unverified"; the same to the queue
   "strict" ([queue strict] require_verified = yes): dead, "unverified
   origin"; and (4c) a signature from "kappa", a node not in the
   directory: stored, "unverified";
5. receipts through a relay: beta sends omega/in --receipt ([route]
   omega = alpha), alpha takes it over the session (CUSTODY); then
   receipts "queued ID omega" from omega through alpha: unsigned, and
   with a bad signature: `ferry status ID` does not show "queued at
   omega" and the log says why; then the same with omega's valid
   signature: "queued at omega".

Every check is reported (ok/not ok) before the verdict.  Exit 0 (pass),
1 (fail), 77 (skip: python3-dissononce, python3-cryptography or PyNaCl
missing), 99 (harness error).

    top_builddir=BUILD tests/interop/relay_forgery.py
"""

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import bundlewire as bw
    import ferryagent as fa
    import hopwire as hw
    from ferryagent import Fail, Harness, now_ms
except ImportError as e:
    print("relay_forgery: %s (python3-dissononce, python3-cryptography or "
          "PyNaCl missing?): skipped" % e)
    sys.exit(77)

NAME = "relay_forgery"
STEP_SECS = 10                # the longest any wait may take
ORIGIN_LABEL = b"ferry-origin-v1"
HOP_LIMIT = 16                # what alpha says is left (docs/routing.md)
FLAG_RECEIPT = 0x2            # bit 1: receipts requested (docs/protocol.md)

RESULTS = []  # (ok, text)


def note(text):
    print("# " + text.replace("\n", "\n# "))


def report(good, text):
    RESULTS.append((good, text))
    print(("ok - " if good else "not ok - ") + text)


# ------------------------------------------------------ signed origins

def lp(text):
    """u8 length + bytes of a string (an empty one: a lone 0)."""
    b = text.encode()
    if len(b) > 255:
        raise ValueError("%r does not fit a u8 length" % text)
    return bytes([len(b)]) + b


class Msg:
    """One message alpha hands beta, with what its origin signs."""

    def __init__(self, src, queue, payload, path=None, dst="beta",
                 flags=0, priority=3, reply_to="", correlation=""):
        self.id = os.urandom(16)
        self.src, self.dst, self.queue = src, dst, queue
        self.payload = payload
        self.path = path
        self.flags, self.priority = flags, priority
        self.reply_to, self.correlation = reply_to, correlation
        self.created_ms = now_ms()
        self.sig = None

    @property
    def hex(self):
        return self.id.hex()

    def origin_bytes(self, payload=None):
        """What the source signs (the brief of hop_origin_bytes): id,
        the five strings with u8 lengths, priority, flags, created_ms,
        payload_len and the payload's BLAKE2b-256.  Not the TTL, not the
        path."""
        p = self.payload if payload is None else payload
        return (self.id + lp(self.src) + lp(self.dst) + lp(self.queue) +
                lp(self.reply_to) + lp(self.correlation) +
                bytes([self.priority]) + struct.pack(">I", self.flags) +
                struct.pack(">q", self.created_ms) +
                struct.pack(">Q", len(p)) + hw.payload_hash(p))

    def sign(self, who, payload=None):
        """who's signature (a bundlewire Identity) over the origin
        bytes, of payload if given (else of the message's own)."""
        signed = self.origin_bytes(payload)
        self.sig = who.sign(ORIGIN_LABEL, signed)
        if not bw.verify(who.sign_pk, ORIGIN_LABEL, signed, self.sig):
            raise Harness("our own origin signature does not verify")
        self.signed = signed
        return self

    def records(self, plain_max):
        return hw.message_records(
            self.id, self.src, self.dst, self.queue, self.payload,
            plain_max, priority=self.priority, flags=self.flags,
            created_ms=self.created_ms, reply_to=self.reply_to,
            correlation=self.correlation, path=self.path,
            hop_limit=HOP_LIMIT if self.path is not None else None,
            origin_sig=self.sig)

    def describe(self):
        """The bytes it carries, for a report."""
        return ("id %s src %s dst %s queue %s path %s priority %d flags %d "
                "created_ms %d payload %d bytes (BLAKE2b-256 %s) sig %s%s" %
                (self.hex, self.src, self.dst, self.queue, self.path,
                 self.priority, self.flags, self.created_ms,
                 len(self.payload), hw.payload_hash(self.payload).hex(),
                 self.sig.hex() if self.sig else "(none)",
                 "; signed bytes %s" % self.signed.hex()
                 if self.sig else ""))


# ------------------------------------------------------------- the agent

class Agent(fa.Agent):
    """ferryd for beta in a private directory, and `ferry` on it."""

    def queues(self):
        qs = json.loads(self.run(["queues", "--json"]))["queues"]
        return {q["queue"]: q["messages"] for q in qs if q["messages"] > 0}

    def recv_json(self, queue):
        """`ferry recv QUEUE --json`: the object, None if empty."""
        p = self.ferry_cmd(["recv", queue, "--json"])
        if p.returncode == 3:
            return None
        if p.returncode != 0:
            raise Fail("ferry recv %s --json: exit %d: %s" % (
                queue, p.returncode, p.stderr.decode(errors="replace")))
        return json.loads(p.stdout.decode().splitlines()[0])

    def purge_all(self):
        for q in self.queues():
            self.ferry_cmd(["queues", "purge", q])


# ------------------------------------------------------------------- TCP

class Conn(fa.Conn):
    """One Noise session with ferryd as alpha.  alpha is a good carrier:
    what beta hands it whole is taken into custody at once (CUSTODY),
    and kept in self.got."""

    def __init__(self, port, alpha, beta_pk):
        super().__init__(port)
        self.frames = []      # every frame ferryd sent
        self.got = {}         # id: (MSG fields, payload) beta handed us
        self.partial = {}     # id: [MSG fields, bytearray]
        self.eof = False
        hs = hw.initiator(alpha.kx, beta_pk)
        m1, _ = hw.write_msg(hs)
        self.send(hw.PREAMBLE + hw.u16(m1))
        deadline = time.monotonic() + STEP_SECS
        if not self.fill(2, deadline):
            raise Fail("no handshake message 2 within %d s" % STEP_SECS)
        n = int.from_bytes(self.take(2), "big")
        if n != hw.MSG2_LEN or not self.fill(n, deadline):
            raise Fail("bad handshake message 2 (%d bytes)" % n)
        self.tx, self.rx = hs.read_message(self.take(n), bytearray())
        self.send_record(hw.hello("alpha", keepalive_ms=6000,
                                  clock_ms=now_ms()))
        rec = self.recv_record(time.monotonic() + STEP_SECS)
        if rec is None:
            raise Fail("no HELLO from ferryd within %d s" % STEP_SECS)
        fr = hw.frames(rec)
        if not fr or fr[0][0] != hw.HELLO:
            raise Fail("ferryd's first record is not a HELLO")
        h = hw.parse_hello(fr[0][1])
        if h["node"] != "beta":
            raise Fail("HELLO from %r" % h["node"])
        self.plain_max = min(h["max_record"], hw.RECORD_MAX) - hw.TAG_LEN
        self.absorb(fr[1:])

    def absorb(self, new):
        """Keep ferryd's frames; a message it hands us whole (MSG,
        CHUNKs, END with the right hash) gets our CUSTODY."""
        self.frames += new
        for t, body in new:
            if t == hw.MSG:
                f = hw.fields(body)
                self.partial[f[1]] = [f, bytearray()]
            elif t == hw.CHUNK and body[:16] in self.partial:
                self.partial[body[:16]][1] += body[24:]
            elif t == hw.END and body[:16] in self.partial:
                mid = body[:16]
                f, data = self.partial.pop(mid)
                if body[24:56] != hw.payload_hash(bytes(data)):
                    raise Fail("message %s from ferryd: END's hash is not "
                               "its payload's" % mid.hex())
                self.got[mid] = (f, bytes(data))
                self.send_record(hw.custody([mid]))

    def until(self, done, secs=STEP_SECS):
        """Read frames (KEEPALIVE when silent for 1 s) until done(frame)
        names one, the session ends (None) or secs pass (False)."""
        for fr in self.frames:
            if done(fr):
                return fr
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                if time.monotonic() - self.last_tx > 1:
                    self.send_record(hw.keepalive())
                rec = self.recv_record(min(deadline,
                                           time.monotonic() + 0.5))
            except (EOFError, ConnectionError, BrokenPipeError):
                self.eof = True
                return None
            if rec is None:
                continue
            new = hw.frames(rec)
            self.absorb(new)
            for fr in new:
                if done(fr):
                    return fr
        return False

    def hand(self, m):
        """Send message m whole; what ferryd answered: 'custody',
        'refuse N', 'ended' (the session ended) or 'nothing'."""
        for rec in m.records(self.plain_max):
            self.send_record(rec)
        fr = self.until(lambda fr: names_id(fr, m.id) is not None)
        return ("ended" if fr is None else "nothing" if fr is False
                else names_id(fr, m.id))

    def finish(self):
        """CLOSE (unless ferryd hung up already), then every frame until
        ferryd hangs up."""
        if self.eof:
            return
        try:
            self.send_record(hw.close(0, "relay test done"))
        except (ConnectionError, BrokenPipeError):
            self.eof = True
            return
        if self.until(lambda fr: False) is False:
            raise Fail("ferryd kept the session open %d s after CLOSE"
                       % STEP_SECS)


def names_id(fr, mid):
    """'custody', 'refuse N' if frame fr answers mid."""
    t, body = fr
    if t == hw.CUSTODY and mid in hw.parse_custody(body):
        return "custody"
    if t == hw.REFUSE and body[:16] == mid:
        return "refuse %d" % body[16]
    return None


class Test:
    pass


def relay(t, m):
    """alpha hands beta message m on a session of its own: ferryd's
    answer (see Conn.hand)."""
    c = Conn(t.agent.port, t.alpha, t.beta_pk)
    try:
        answer = c.hand(m)
        c.finish()
        return answer
    finally:
        c.close()


# ------------------------------------------------------------ the cases

class Case:
    """What one case saw; problems make it fail."""

    def __init__(self, t, label):
        self.t, self.label = t, label
        self.problems = []
        self.said = []
        self.log0 = t.agent.log_size()
        self.queues0 = t.agent.queues()

    def want(self, cond, text):
        if not cond:
            self.problems.append(text)

    def log(self):
        time.sleep(0.05)  # the log line may follow the answer
        return self.t.agent.log_since(self.log0)

    def done(self, msgs=()):
        log = self.log()
        for line in log.splitlines():
            if any(m.hex in line for m in msgs) or "receipt" in line:
                note("log: " + line.split(" ", 1)[-1])
        if self.problems:
            report(False, "%s: %s" % (self.label, "; ".join(self.problems)))
            for m in msgs:
                note("sent: " + m.describe())
            if log.strip():
                note("beta's log meanwhile:\n" + log.strip())
        else:
            report(True, "%s (%s)" % (self.label, ", ".join(self.said)))
        self.t.agent.purge_all()  # nothing decides the next case


def expect_stored(c, m, queue, origin):
    """m is in beta's queue with this origin, via its path, as sent."""
    q = c.t.agent.queues()
    want_q = dict(c.queues0)
    want_q[queue] = want_q.get(queue, 0) + 1
    c.want(q == want_q, "queues %s -> %s, not %s" % (c.queues0, q, want_q))
    r = c.t.agent.recv_json(queue)
    if r is None:
        c.want(False, "ferry recv %s: empty" % queue)
        return
    c.said.append("recv %s: origin %s, via %s" % (queue, r.get("origin"),
                                                    r.get("via")))
    c.want(r.get("id") == m.hex, "ferry recv %s: id %s, not %s" %
           (queue, r.get("id"), m.hex))
    c.want(r.get("src") == m.src, "src %r, not %r" % (r.get("src"), m.src))
    c.want(r.get("origin") == origin, "origin %r, not %r" %
           (r.get("origin"), origin))
    c.want(r.get("via") == m.path, "via %r, not %r" % (r.get("via"),
                                                         m.path))
    data = base64.b64decode(r.get("payload_b64", ""))
    c.want(data == m.payload, "payload of %d bytes, not the %d sent" %
           (len(data), len(m.payload)))


def expect_dead(c, m, reason, log_words):
    """m is in beta's dead queue with reason, nothing elsewhere, and the
    log says log_words about it."""
    q = c.t.agent.queues()
    want_q = dict(c.queues0)
    want_q["dead"] = want_q.get("dead", 0) + 1
    c.want(q == want_q, "queues %s -> %s, not %s (nothing in %s)" %
           (c.queues0, q, want_q, m.queue))
    r = c.t.agent.recv_json("dead")
    if r is None:
        c.want(False, "nothing in beta's dead queue")
    else:
        c.said.append("dead: %s, origin %s" % (r.get("dead_reason"),
                                               r.get("origin")))
        c.want(r.get("id") == m.hex, "dead holds %s, not %s" %
               (r.get("id"), m.hex))
        c.want(r.get("dead_reason") == reason, "dead_reason %r, not %r" %
               (r.get("dead_reason"), reason))
    log = c.log()
    c.want(any(m.hex in line and log_words in line
               for line in log.splitlines()),
           "no log line about %s saying %r" % (m.hex, log_words))


def case_control(t):
    c = Case(t, "1 control: omega's message, signed by omega, relayed by "
             "alpha -> beta/in: verified")
    m = Msg("omega", "in", b"from omega, signed " + os.urandom(64),
            path="omega,alpha").sign(t.omega)
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    expect_stored(c, m, "in", "verified")
    c.done([m])


def case_forged_payload(t):
    c = Case(t, "2 forged: omega's signature over a payload alpha altered "
             "-> dead, forged origin")
    good = b"pay 10 to carol " + os.urandom(48)
    bad = b"pay 99 to mallo " + good[16:]  # the same length
    m = Msg("omega", "in", bad, path="omega,alpha").sign(t.omega,
                                                         payload=good)
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody (a "
           "forger must not make beta ask again)" % answer)
    expect_dead(c, m, "forged origin", "origin signature does not verify")
    c.done([m])


def case_forged_source(t):
    c = Case(t, "3 forged source: omega's signed message with src rewritten "
             "to zeta, path zeta,alpha -> dead, forged origin")
    m = Msg("omega", "in", b"from omega " + os.urandom(32),
            path="omega,alpha").sign(t.omega)
    m.src, m.path = "zeta", "zeta,alpha"  # omega's signature kept
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    expect_dead(c, m, "forged origin", "origin signature does not verify")
    c.done([m])


def case_unsigned(t):
    c = Case(t, "4a unsigned from afar: src omega, path omega,alpha, no "
             "signature -> beta/in, unverified")
    m = Msg("omega", "in", b"unsigned " + os.urandom(32),
            path="omega,alpha")
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    expect_stored(c, m, "in", "unverified")
    c.done([m])

    c = Case(t, "4b unsigned from afar to strict (require_verified = yes) "
             "-> dead, unverified origin")
    m = Msg("omega", "strict", b"unsigned " + os.urandom(32),
            path="omega,alpha")
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    expect_dead(c, m, "unverified origin", "not verified")
    c.done([m])

    c = Case(t, "4c signed by kappa, a node not in beta's directory -> "
             "beta/in, unverified")
    m = Msg("kappa", "in", b"from kappa " + os.urandom(32),
            path="kappa,alpha").sign(t.kappa)
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    expect_stored(c, m, "in", "unverified")
    c.done([m])


def receipt_payload(event, target, node, at_ms=None):
    return ("ferry-receipt/1 %s %s %s %d\n" %
            (event, target, node, now_ms() if at_ms is None else at_ms)
            ).encode()


def status_text(t, hexid):
    return t.agent.run(["status", hexid])


def case_receipt(t):
    c = Case(t, "5 beta's message for omega (--receipt, [route] omega = "
             "alpha) taken by alpha")
    target = t.agent.run(["send", "omega/in", "--receipt"],
                         b"for omega, through alpha").strip()
    conn = Conn(t.agent.port, t.alpha, t.beta_pk)
    try:
        conn.until(lambda fr: bytes.fromhex(target) in conn.got)
        got = conn.got.get(bytes.fromhex(target))
        conn.finish()
    finally:
        conn.close()
    if got is None:
        c.want(False, "beta did not hand alpha its message %s within %d s"
               % (target, STEP_SECS))
        c.done()
        return
    f, data = got
    path = f.get(13, b"").decode(errors="replace")
    c.said.append("MSG src %s dst %s/%s, path %r, hop_limit %s, %s" % (
        f[2].decode(), f[3].decode(), f[4].decode(), path or None,
        f[14][0] if 14 in f else None,
        "origin_sig %d bytes" % len(f[15]) if 15 in f else "no origin_sig"))
    c.want((f[2], f[3], f[4]) == (b"beta", b"omega", b"in"),
           "MSG src/dst %r %r/%r" % (f[2], f[3], f[4]))
    c.want(data == b"for omega, through alpha", "payload %r" % data)
    c.want(struct.unpack(">I", f[8])[0] & FLAG_RECEIPT,
           "the MSG does not ask for receipts")
    if 15 in f:
        # beta signs its own origin: it must verify with its card's key.
        b = Msg("beta", "in", data, dst="omega")
        b.id, b.created_ms = f[1], struct.unpack(">q", f[9])[0]
        b.priority, b.flags = f[7][0], struct.unpack(">I", f[8])[0]
        b.reply_to = f.get(5, b"").decode()
        b.correlation = f.get(6, b"").decode()
        c.want(bw.verify(t.beta_sign_pk, ORIGIN_LABEL, b.origin_bytes(),
                         f[15]),
               "beta's own origin_sig does not verify with its card")
    deadline = time.monotonic() + STEP_SECS
    st = status_text(t, target)
    while "handed to alpha" not in st and time.monotonic() < deadline:
        time.sleep(0.1)
        st = status_text(t, target)
    c.want("handed to alpha" in st, "ferry status %s: %r, not handed to "
           "alpha" % (target, st.strip()))
    c.done()

    for label, sign in (("unsigned", None), ("signed over other bytes",
                                             "bad")):
        c = Case(t, "5 receipt 'queued %s omega' from omega through alpha, "
                 "%s: not counted" % (target[:8], label))
        m = Msg("omega", "ferry.receipts",
                receipt_payload("queued", target, "omega"),
                path="omega,alpha")
        if sign == "bad":
            # omega signed a receipt of another moment; alpha sends this.
            m.sign(t.omega, payload=receipt_payload(
                "queued", target, "omega", now_ms() - 3600000))
        answer = relay(t, m)
        c.said.append("ferryd answered %s" % answer)
        c.want(answer == "custody", "ferryd answered %s, not custody" %
               answer)
        st = status_text(t, target)
        c.want("queued at omega" not in st,
               "ferry status %s shows it: %r" % (target, st.strip()))
        js = json.loads(t.agent.run(["status", target, "--json"]))
        rc = [r for r in js.get("receipts", []) if r["event"] == "queued"]
        c.want(not rc, "ferry status --json: receipts %s" % rc)
        log = c.log()
        words = ("not counted" if sign is None else
                 "origin signature does not verify")
        c.want(any(words in line for line in log.splitlines()),
               "the log does not say %r" % words)
        c.said.append("status: no queued receipt")
        c.done([m])

    c = Case(t, "5 receipt 'queued %s omega' from omega through alpha, "
             "signed by omega: counted" % target[:8])
    m = Msg("omega", "ferry.receipts",
            receipt_payload("queued", target, "omega"),
            path="omega,alpha").sign(t.omega)
    answer = relay(t, m)
    c.said.append("ferryd answered %s" % answer)
    c.want(answer == "custody", "ferryd answered %s, not custody" % answer)
    st = status_text(t, target)
    c.want("queued at omega" in st, "ferry status %s: %r, no 'queued at "
           "omega'" % (target, st.strip()))
    c.want("not counted" not in c.log(), "the log says 'not counted'")
    if "queued at omega" in st:
        c.said.append("status: queued at omega")
    c.done([m])


# ------------------------------------------------------------------ main

def seeded(tmp, agent, name):
    """A bundlewire Identity for name from a random seed, and its card
    (hopwire), which must be what `ferry keygen` prints for that seed."""
    ident = bw.Identity(os.urandom(32))
    card = hw.Identity(ident.seed).card()
    idir = os.path.join(tmp, name, "identity")
    os.makedirs(idir, mode=0o700)
    with open(os.path.join(idir, "secret"), "wb") as f:
        f.write(ident.seed)
    os.chmod(os.path.join(idir, "secret"), 0o600)
    info = json.loads(agent.run(["keygen", "--dir", os.path.dirname(idir),
                                 "--json"]))
    if info["card"] != card:
        raise Harness("%s's card differs between Python and C" % name)
    if hw.parse_card(card)[0] != ident.sign_pk:
        raise Harness("%s's card does not hold its signing key" % name)
    return ident, card


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="ferry-rf.")
    t = Test()
    t.agent = None
    try:
        t.agent = Agent(tmp, cmd_timeout=30)
        alpha, acard = seeded(tmp, t.agent, "alpha")
        t.alpha = hw.Identity(alpha.seed)
        t.omega, ocard = seeded(tmp, t.agent, "omega")
        t.zeta, zcard = seeded(tmp, t.agent, "zeta")
        t.kappa = bw.Identity(os.urandom(32))  # in no directory
        t.agent.init(["[peer alpha]", "key = %s" % acard,
                      "[route]", "omega = alpha",
                      "[directory]", "omega = %s" % ocard,
                      "zeta = %s" % zcard,
                      "[queue strict]", "require_verified = yes"])
        binfo = t.agent.keygen()
        t.beta_sign_pk, t.beta_pk = hw.parse_card(binfo["card"])
        t.agent.start()
        note("ferryd for beta on 127.0.0.1:%d; omega %s, zeta %s in its "
             "[directory]" % (t.agent.port, ocard[:16], zcard[:16]))

        for case in (case_control, case_forged_payload, case_forged_source,
                     case_unsigned, case_receipt):
            try:
                case(t)
            except (Fail, EOFError, ConnectionError, ValueError,
                    KeyError) as e:
                report(False, "%s: %s: %s" % (case.__name__,
                                              type(e).__name__, e))
                t.agent.purge_all()

        rc = t.agent.stop()
        report(rc == 0, "ferryd stopped on SIGTERM (status %s)" % rc)
        bad = [text for good, text in RESULTS if not good]
        note("%d checks, %d failed, %.1f s" % (len(RESULTS), len(bad),
                                               time.monotonic() - t0))
        if bad:
            print("--- last lines of beta's log\n" + t.agent.tail(30))
            print("FAIL: %s: %d of %d checks" % (NAME, len(bad),
                                                 len(RESULTS)))
            return 1
        print("PASS: %s" % NAME)
        return 0
    except (Harness, OSError, subprocess.SubprocessError) as e:
        print("ERROR: %s: harness: %s" % (NAME, e))
        if t.agent is not None:
            print("--- last lines of beta's log\n" + t.agent.tail(25))
        return 99
    finally:
        if t.agent is not None:
            t.agent.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
